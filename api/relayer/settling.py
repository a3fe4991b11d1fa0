"""Step 2 of the relayer: settle every period that has ended, has postings, and is not settled.

For period P the settlement's input is gathered from what the service itself relayed:

- postings: the DB rows posted for P, per household in version order. They are exactly the
  chain's postings unless someone posted directly; the count is checked against
  `postingHouseholds(P)` and each household's hash chain against `scheduleRecord`. On a
  mismatch (a forced inclusion, direct or through another contract) the postings are read
  back from the chain's SchedulePosted events (`ledger.postings`) and checked the same way;
  if that fails too, the period fails with PostingsMismatchError (named, retried, never
  guessed);
- meters: `metersOf(household)` in order, each with its batch: Posted if one was posted on
  chain (the stored one, else read back from its postMeterBatches calldata), Inline from
  the DB if the meter's chain still lets it in, None if the meter counts for no interval of
  P. A counting meter without usable data makes
  the period wait until its settlement deadline, and from then on measures 0 Wh (None). A
  meter whose DB batch waits for an earlier open period (the contract lets no batch skip
  one) makes P wait, even past its deadline: periods are settled in order, so it is brief.

`api.settlement.settle_period` then gives the hints and the expected outcome; the contract's
events are compared with it after the transaction (a difference is logged, by name).

A period the chain already settled (by anyone, or by this relayer before a kill left the DB
without its outcome) is not settled again: its outcome is rebuilt from the chain, the
PeriodSettled event of the period and the events and gas of that event's transaction
(`settlement_on_chain`), so the DB's bookkeeping always follows the chain.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from sqlalchemy import Engine, Table, select
from web3.types import FilterParams

from api import settlement
from api.meter_batches.service import batches_of, signed_of
from api.relayer.batches import posted_batch
from api.relayer.context import V2Chain
from api.relayer.posting import signed_schedule_of
from api.schedules.models import ScheduleRow, ScheduleStatus
from ledger.community import MeterInfo, Window
from ledger.errors import LedgerError
from ledger.events_v2 import (
    HouseholdSettled,
    MeterBatchAccepted,
    PeriodCleared,
    PeriodSettled,
    decode_receipt_v2,
    only,
)
from ledger.exchange import ExchangeClient, HouseholdPeriod, MeterData, SettlePeriodResult
from ledger.postings import read_postings
from ledger.rules import TimeGrid
from ledger.schedules import Schedule, posting_chain_head, schedule_struct_hash
from metering.period import MeterPeriod

log = logging.getLogger("quartier.relayer")

SCHEDULE: Table = ScheduleRow.__table__  # type: ignore[attr-defined]
_ZERO_HASH = bytes(32)


class RelayerError(LedgerError):
    """Root of the relayer's own refusals to settle a period (each names the facts)."""


class PostingsMismatchError(RelayerError):
    """The posted rows of the DB are not the chain's postings of the period (someone posted
    directly, or the DB lost a posting): the period cannot be settled from the DB."""


class SettlementUnreadableError(RelayerError):
    """The exchange says a period is settled, but its settlement events cannot be read back
    (no PeriodSettled event for it, or a transaction missing its PeriodCleared)."""


class PostedBatchUnknownError(RelayerError):
    """A meter batch was posted on chain that neither the DB holds nor a direct
    postMeterBatches call carries (settlement must re-supply exactly that batch)."""


@dataclass(frozen=True)
class Waiting:
    """The period cannot settle yet: `meter_id` counts for it and has no data before
    `deadline`."""

    period_id: int
    meter_id: str
    deadline: int


@dataclass(frozen=True)
class Settled:
    period_id: int
    #: The settlement's events and gas: of this pass's transaction, or read back from the
    #: chain when the period was settled before (by someone else, or before a kill).
    result: SettlePeriodResult
    matches_engine: bool = True
    #: False when the chain had settled the period already and `result` was read back.
    by_this_pass: bool = True


def _event_topic(chain: V2Chain, name: str) -> HexBytes:
    abi = next(
        item
        for item in chain.exchange.contract.abi
        if item["type"] == "event" and item["name"] == name
    )
    return HexBytes(event_abi_to_log_topic(abi))


def settlement_on_chain(chain: V2Chain, period_id: int) -> SettlePeriodResult:
    """The settlement of a settled period as the chain recorded it: the events of the
    transaction that emitted its PeriodSettled (those of this period only: a contract may
    settle several periods in one transaction) and that transaction's gas."""
    exchange = chain.exchange
    params: FilterParams = {
        "address": exchange.contract.address,
        "fromBlock": chain.deployment.deploy_block,
        "toBlock": "latest",
        "topics": [
            _event_topic(chain, "PeriodSettled"),
            HexBytes(abi_encode(["uint64"], [period_id])),
        ],
    }
    logs = chain.sender.w3.eth.get_logs(params)
    if len(logs) != 1:
        raise SettlementUnreadableError(
            f"period {period_id} is settled but has {len(logs)} PeriodSettled events"
        )
    receipt = chain.sender.w3.eth.get_transaction_receipt(logs[0]["transactionHash"])
    events = decode_receipt_v2(exchange.contract, receipt)
    cleared = [e for e in only(events, PeriodCleared) if e.period_id == period_id]
    settled = [e for e in only(events, PeriodSettled) if e.period_id == period_id]
    if len(cleared) != 1 or len(settled) != 1:
        raise SettlementUnreadableError(
            f"period {period_id}: its settlement transaction has {len(cleared)} PeriodCleared"
            f" and {len(settled)} PeriodSettled events for it"
        )
    return SettlePeriodResult(
        cleared[0],
        tuple(e for e in only(events, HouseholdSettled) if e.period_id == period_id),
        tuple(e for e in only(events, MeterBatchAccepted) if e.period_id == period_id),
        settled[0],
        int(receipt["gasUsed"]),
    )


def _window(window: Window) -> settlement.Window:
    return settlement.Window(window.admitted_at, window.removed_at)


def posted_periods(engine: Engine) -> list[int]:
    """Periods with at least one posted schedule, oldest first."""
    with engine.connect() as connection:
        found = connection.execute(
            select(SCHEDULE.c.period_id)
            .where(SCHEDULE.c.status == ScheduleStatus.POSTED)
            .distinct()
            .order_by(SCHEDULE.c.period_id)
        )
        return [int(period_id) for (period_id,) in found]


def postings_of(engine: Engine, period_id: int) -> dict[str, list[Schedule]]:
    """The posted schedules of a period per household, in version (= posting) order."""
    with engine.connect() as connection:
        found = connection.execute(
            select(SCHEDULE)
            .where(SCHEDULE.c.period_id == period_id, SCHEDULE.c.status == ScheduleStatus.POSTED)
            .order_by(SCHEDULE.c.household, SCHEDULE.c.version)
        ).mappings()
        rows = [ScheduleRow(**item) for item in found]
    postings: dict[str, list[Schedule]] = defaultdict(list)
    for row in rows:
        postings[row.household].append(signed_schedule_of(row).schedule)
    return dict(postings)


def check_postings(chain: V2Chain, period_id: int, postings: dict[str, list[Schedule]]) -> None:
    """The DB's postings are the chain's (count of households, every hash chain)."""
    exchange = chain.exchange
    households = exchange.posting_households(period_id)
    if households != len(postings):
        raise PostingsMismatchError(
            f"period {period_id}: the chain has {households} posting households, the DB"
            f" {len(postings)}"
        )
    for household, schedules in postings.items():
        record = exchange.schedule_record(household, period_id)
        heads = (posting_chain_head(schedules), _short_chain_head(schedules))
        if record.postings != len(schedules) or record.head not in heads:
            raise PostingsMismatchError(
                f"period {period_id}: {household} has {record.postings} postings on chain, the"
                f" DB {len(schedules)} (or another hash chain)"
            )


def _short_chain_head(schedules: list[Schedule]) -> bytes:
    # QuartierExchange since cc069eb keeps 192 bits of each head (ScheduleCodec.chain):
    # head' = high 192 bits of keccak256(abi.encode(head, structHash)), read back as bytes32.
    # Transitional: ledger.schedules.posting_chain_head (and IQuartierExchange's text) still
    # state the 256-bit chain; both are accepted until they follow the contract.
    head = bytes(32)
    for schedule in schedules:
        full = keccak(abi_encode(["bytes32", "bytes32"], [head, schedule_struct_hash(schedule)]))
        head = full[:24] + bytes(8)
    return head


def _counts(grid: TimeGrid, window: Window, period_id: int) -> bool:
    return any(
        window.counts_for(grid.interval_start(k), grid.interval_end(k))
        for k in grid.intervals(period_id)
    )


def _open_between(exchange: ExchangeClient, first: int, period_id: int) -> bool:
    """Whether a period in [first, period_id) has postings and is not settled."""
    return any(
        exchange.posting_households(p) != 0 and not exchange.is_settled(p)
        for p in range(first, period_id)
    )


def _meter_data(
    engine: Engine,
    chain: V2Chain,
    period_id: int,
    meter_id: bytes,
    info: MeterInfo,
    past_deadline: bool,
    deadline: int,
) -> tuple[MeterData, bytes | None] | Waiting:
    """One meter's MeterData and deltas for the engine (None: no data), or Waiting."""
    exchange = chain.exchange
    meter_hex = "0x" + meter_id.hex()
    row = batches_of(engine, [meter_hex], period_id).get(meter_hex)
    posted = exchange.posted_batch_hash(meter_id, period_id)
    if posted != _ZERO_HASH:
        if row is not None and row.batch_hash == "0x" + posted.hex():
            batch: MeterPeriod | None = signed_of(row).period
        else:  # a forced inclusion the service never received
            batch = posted_batch(chain, meter_id, period_id, posted)
        if batch is None:
            raise PostedBatchUnknownError(
                f"period {period_id}: meter {meter_hex} has a posted batch that is neither in"
                " the DB nor readable from a direct postMeterBatches call"
            )
        return MeterData.posted(batch), batch.deltas_bytes
    if not _counts(chain.grid, info.window, period_id):
        return MeterData.none(), None
    if row is not None:
        state = exchange.meter_chain(meter_id)
        start = (row.start_import_wh, row.start_export_wh)
        end = (state.end_import_wh, state.end_export_wh)
        if (
            state.next_period_id == 0
            or (period_id == state.next_period_id and start == end)
            or (period_id > state.next_period_id and start[0] >= end[0] and start[1] >= end[1])
        ):
            first = state.next_period_id or chain.grid.period_at(info.window.admitted_at)
            if _open_between(exchange, first, period_id):
                # The batch enters only once that period settles (IQuartierExchange, meter
                # batches); it is data, so it is never dropped as None: wait, even past
                # the deadline (the open period's own deadline is earlier).
                return Waiting(period_id, meter_hex, deadline)
            signed = signed_of(row)
            return MeterData.inline(signed), signed.period.deltas_bytes
    if not past_deadline:
        return Waiting(period_id, meter_hex, deadline)
    return MeterData.none(), None


def settle_one(engine: Engine, chain: V2Chain, period_id: int, now: int) -> Settled | Waiting:
    """Settle period `period_id` if it can be (see the module docstring)."""
    exchange, community, grid = chain.exchange, chain.community, chain.grid
    if exchange.is_settled(period_id):
        return Settled(period_id, settlement_on_chain(chain, period_id), by_this_pass=False)
    postings = postings_of(engine, period_id)
    try:
        check_postings(chain, period_id, postings)
    except PostingsMismatchError as error:
        # A forced inclusion (a household posting its own schedule): the chain's postings,
        # read back from their events, are the book; they must pass the same check.
        log.warning("relayer: period %d postings rebuilt from the chain: %s", period_id, error)
        try:
            postings = read_postings(exchange, period_id, chain.deployment.deploy_block)
        except LedgerError as unreadable:  # e.g. an event that does not hash to itself
            raise PostingsMismatchError(
                f"{error}; the chain's postings cannot be read back: {unreadable}"
            ) from unreadable
        check_postings(chain, period_id, postings)
    rules = chain.rules(period_id)
    deadline = grid.settlement_deadline(period_id, rules)
    past_deadline = now >= deadline
    households: list[HouseholdPeriod] = []
    inputs: list[settlement.HouseholdInput] = []
    for household in sorted(postings, key=lambda address: int(address, 16)):
        data: list[MeterData] = []
        meters: list[settlement.MeterInput] = []
        for meter_id in community.meters_of(household):
            info = community.meter(meter_id)
            found = _meter_data(engine, chain, period_id, meter_id, info, past_deadline, deadline)
            if isinstance(found, Waiting):
                return found
            data.append(found[0])
            meters.append(settlement.MeterInput(_window(info.window), found[1]))
        schedules = postings[household]
        households.append(HouseholdPeriod(household, tuple(schedules), tuple(data)))
        inputs.append(
            settlement.HouseholdInput(
                household,
                _window(community.membership(household)),
                [settlement.Posting(*s.as_posting()) for s in schedules],
                meters,
            )
        )
    expected = settlement.settle_period(
        settlement.Rules.of(rules), settlement.TimeGrid.of(grid), period_id, inputs
    )
    result = exchange.settle_period(period_id, households, expected.hints)
    matches = result.cleared.intervals == expected.cleared_intervals and [
        (e.household.lower(), e.change_units, e.released_units) for e in result.households
    ] == [(h.address.lower(), h.change_units, h.released_units) for h in expected.households]
    if not matches:
        log.error(
            "relayer: period %d settled, but the contract's outcome differs from"
            " api.settlement's (engine-contract mismatch)",
            period_id,
        )
    return Settled(period_id, result, matches)

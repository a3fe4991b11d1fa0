"""Step 1 of the relayer: post pending schedules in batches, isolating the ones that fail.

Pending schedules whose first gate is still open are posted oldest period first, by household
and version (a household's versions must reach the chain in order), `relayer_batch_size` per
postSchedules transaction. A batch that reverts is not retried blindly: the failing item is
the one the error names (the exchange's posting errors carry the item's index), or else the
first item of the shortest failing prefix, found by bisection over simulated calls (an
eth_call costs no gas); it is marked refused with the decoded error's name and the rest are
posted. A batch that fails with no item to blame is split in two.

Restart safety: a pending schedule whose version the chain already has (a crash after mining,
before the DB knew) is looked up among the household's SchedulePosted events: posted if its
hash is there, refused (ExchangeStaleVersion) if not. A pending schedule whose gate has closed
is refused without a transaction (ExchangeGateClosed).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eth_abi.abi import encode as abi_encode
from eth_typing import HexStr
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from sqlalchemy import Engine, Table, select, update
from web3.types import FilterParams, RPCEndpoint, TxReceipt

from api.readings.store import write_transaction
from api.relayer.context import V2Chain
from api.schedules.models import ScheduleRow, ScheduleStatus
from ledger.chain import encode_call
from ledger.errors import ChainUnreachableError, ContractRevertError, revert_class
from ledger.events_v2 import SchedulePosted, decode_log_v2, decode_receipt_v2, only
from ledger.reverts import decode_revert
from ledger.schedules import Schedule, SignedSchedule

log = logging.getLogger("quartier.relayer")

SCHEDULE: Table = ScheduleRow.__table__  # type: ignore[attr-defined]
#: The DB's lock key for the relayer's own writes (rows are keyed by hash, not household).
_WRITER_KEY = "v2-relayer"


@dataclass
class PostingReport:
    """What one pass did to pending schedules (schedule hashes)."""

    posted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    transactions: int = 0
    gas_used: int = 0


def signed_schedule_of(row: ScheduleRow) -> SignedSchedule:
    """The ledger value of a stored schedule."""
    schedule = Schedule.from_entries_bytes(
        row.household,
        row.period_id,
        row.version,
        row.first_interval_id,
        bytes.fromhex(row.entries[2:]),
    )
    return SignedSchedule(schedule, bytes.fromhex(row.signature[2:]))


def pending_rows(engine: Engine) -> list[ScheduleRow]:
    """Pending schedules in posting order: period, household, version."""
    with engine.connect() as connection:
        found = connection.execute(
            select(SCHEDULE)
            .where(SCHEDULE.c.status == ScheduleStatus.PENDING)
            .order_by(SCHEDULE.c.period_id, SCHEDULE.c.household, SCHEDULE.c.version)
        ).mappings()
        return [ScheduleRow(**item) for item in found]


def _mark(
    engine: Engine,
    refused: dict[str, str] | None = None,
    posted: dict[str, tuple[str, int]] | None = None,
) -> None:
    with engine.connect() as connection, write_transaction(connection, _WRITER_KEY, wait=True):
        for schedule_hash, reason in (refused or {}).items():
            connection.execute(
                update(SCHEDULE)
                .where(SCHEDULE.c.schedule_hash == schedule_hash)
                .values(status=ScheduleStatus.REFUSED, reason=reason)
            )
        for schedule_hash, (tx_hash, block) in (posted or {}).items():
            connection.execute(
                update(SCHEDULE)
                .where(SCHEDULE.c.schedule_hash == schedule_hash)
                .values(status=ScheduleStatus.POSTED, tx_hash=tx_hash, posted_block=block)
            )
        connection.commit()


def _schedule_posted_topic(chain: V2Chain) -> bytes:
    abi: Any = next(
        item
        for item in chain.exchange.contract.abi
        if item["type"] == "event" and item["name"] == "SchedulePosted"
    )
    return bytes(event_abi_to_log_topic(abi))


def posting_periods(chain: V2Chain, from_block: int, to_block: int) -> set[int]:
    """The periods with a SchedulePosted event in [from_block, to_block], whoever posted."""
    params: FilterParams = {
        "address": chain.exchange.contract.address,
        "fromBlock": from_block,
        "toBlock": to_block,
        "topics": [HexBytes(_schedule_posted_topic(chain))],
    }
    return {
        int.from_bytes(bytes(entry["topics"][1]), "big")
        for entry in chain.sender.w3.eth.get_logs(params)
    }


def posted_on_chain(chain: V2Chain, period_id: int, household: str) -> dict[str, tuple[str, int]]:
    """The household's SchedulePosted events of a period: struct hash -> (tx hash, block)."""
    exchange = chain.exchange
    params: FilterParams = {
        "address": exchange.contract.address,
        "fromBlock": chain.deployment.deploy_block,
        "toBlock": "latest",
        "topics": [
            HexBytes(_schedule_posted_topic(chain)),
            HexBytes(abi_encode(["uint64"], [period_id])),
            HexBytes(abi_encode(["address"], [household])),
        ],
    }
    found: dict[str, tuple[str, int]] = {}
    for entry in chain.sender.w3.eth.get_logs(params):
        event = decode_log_v2(exchange.contract, entry)
        if isinstance(event, SchedulePosted):
            found["0x" + event.schedule_hash.hex()] = (
                "0x" + bytes(entry["transactionHash"]).hex(),
                int(entry["blockNumber"]),
            )
    return found


def reconcile(engine: Engine, chain: V2Chain, rows: Sequence[ScheduleRow]) -> set[str]:
    """Settle the fate of pending rows the chain has already moved past; returns their hashes."""
    groups: dict[tuple[str, int], list[ScheduleRow]] = defaultdict(list)
    for row in rows:
        groups[(row.household, row.period_id)].append(row)
    refused: dict[str, str] = {}
    posted: dict[str, tuple[str, int]] = {}
    for (household, period_id), group in groups.items():
        record = chain.exchange.schedule_record(household, period_id)
        behind = [row for row in group if row.version <= record.last_version]
        if not behind:
            continue
        on_chain = posted_on_chain(chain, period_id, household)
        for row in behind:
            if row.schedule_hash in on_chain:
                posted[row.schedule_hash] = on_chain[row.schedule_hash]
            else:
                refused[row.schedule_hash] = "ExchangeStaleVersion"
    if refused or posted:
        _mark(engine, refused, posted)
        for schedule_hash, reason in refused.items():
            log.warning("relayer: schedule %s refused: %s", schedule_hash, reason)
    return set(refused) | set(posted)


def _simulate(chain: V2Chain, signed: Sequence[SignedSchedule]) -> ContractRevertError | None:
    """The revert postSchedules(signed) would raise now, or None if it would pass."""
    fn = chain.exchange.contract.functions.postSchedules([s.as_abi() for s in signed])
    call = {
        "from": chain.sender.address,
        "to": fn.address,
        "data": HexStr("0x" + encode_call(fn).hex()),
        "gas": hex(chain.settings.relayer_gas_limit),
    }
    answer = chain.sender.w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"])
    if "error" not in answer:
        return None
    error_data = cast(dict[str, Any], answer["error"])
    data = error_data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) > 2:
        return decode_revert(bytes.fromhex(data[2:]))
    if "revert" in str(error_data.get("message", "")) or "gas" in str(error_data):
        return revert_class("OutOfGasOrUnknown")({"function": "postSchedules"})
    raise ChainUnreachableError(f"eth_call of postSchedules failed: {error_data}")


def find_poisoned(
    chain: V2Chain, signed: Sequence[SignedSchedule], error: ContractRevertError
) -> tuple[int, str] | None:
    """(index, error name) of the item that makes the batch fail, None if none alone does."""
    index = error.arguments.get("index")
    if isinstance(index, int) and 0 <= index < len(signed):
        return index, error.name
    # The shortest failing prefix ends at the culprit (postings apply in order).
    failure = _simulate(chain, signed)
    if failure is None:
        return None
    low, high = 0, len(signed)  # prefix of length `high` fails, of length `low` passes
    names = {high: failure.name}
    while high - low > 1:
        middle = (low + high) // 2
        outcome = _simulate(chain, signed[:middle])
        if outcome is None:
            low = middle
        else:
            high, names[middle] = middle, outcome.name
    return high - 1, names[high]


def _send(chain: V2Chain, signed: Sequence[SignedSchedule]) -> TxReceipt:
    fn = chain.exchange.contract.functions.postSchedules([s.as_abi() for s in signed])
    return chain.sender.transact(fn, gas=chain.settings.relayer_gas_limit)


def post_batch(
    engine: Engine, chain: V2Chain, rows: Sequence[ScheduleRow], report: PostingReport
) -> None:
    """Post `rows` in one transaction, dropping (refusing) the items that poison it."""
    remaining = list(rows)
    while remaining:
        signed = [signed_schedule_of(row) for row in remaining]
        try:
            receipt = _send(chain, signed)
        except ContractRevertError as error:
            report.transactions += 1
            culprit = find_poisoned(chain, signed, error)
            if culprit is None:
                if len(remaining) == 1:
                    culprit = (0, error.name)
                else:
                    middle = len(remaining) // 2
                    post_batch(engine, chain, remaining[:middle], report)
                    post_batch(engine, chain, remaining[middle:], report)
                    return
            index, name = culprit
            row = remaining.pop(index)
            log.warning(
                "relayer: schedule %s of %s (period %d, version %d) refused: %s",
                row.schedule_hash,
                row.household,
                row.period_id,
                row.version,
                name,
            )
            _mark(engine, refused={row.schedule_hash: name})
            report.refused[row.schedule_hash] = name
            continue
        events = only(decode_receipt_v2(chain.exchange.contract, receipt), SchedulePosted)
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        block = int(receipt["blockNumber"])
        posted = {"0x" + event.schedule_hash.hex(): (tx_hash, block) for event in events}
        _mark(engine, posted=posted)
        report.posted.extend(posted)
        report.transactions += 1
        report.gas_used += int(receipt["gasUsed"])
        return


def post_pending(engine: Engine, chain: V2Chain, now: int) -> PostingReport:
    """Step 1 of a pass (see the module docstring)."""
    report = PostingReport()
    rows = pending_rows(engine)
    if not rows:
        return report
    settled = reconcile(engine, chain, rows)
    grid = chain.grid
    due: list[ScheduleRow] = []
    late: dict[str, str] = {}
    for row in rows:
        if row.schedule_hash in settled:
            continue
        if now >= grid.gate(row.first_interval_id, chain.rules(row.period_id)):
            late[row.schedule_hash] = "ExchangeGateClosed"
        else:
            due.append(row)
    if late:
        _mark(engine, refused=late)
        report.refused.update(late)
        for schedule_hash in late:
            log.warning("relayer: schedule %s refused: ExchangeGateClosed", schedule_hash)
    size = chain.settings.relayer_batch_size
    for start in range(0, len(due), size):
        post_batch(engine, chain, due[start : start + size], report)
    return report

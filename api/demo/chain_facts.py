"""What the chain says happened (protocol v2): postings, clearings, settlements, gas, tokens.

Read from the exchange's events, the transactions' receipts and calldata after the day, the
way any auditor could, so the summary does not trust the demo's own bookkeeping. The
trading day's transactions are those that emitted SchedulePosted, MeterBatchAccepted or
PeriodSettled (onboarding's deposits are not among them). `fills` replays each settlement's
own calldata through `api.settlement` to count the entries that traded (the events carry
per-interval and per-household totals only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hexbytes import HexBytes
from web3 import Web3

from api import settlement
from api.demo.neighbourhood import Household
from api.settlement_calldata import settled_inputs
from ledger.chain import Sender
from ledger.community import CommunityClient
from ledger.deployment import Deployment
from ledger.events_v2 import (
    ClearedInterval,
    ExchangeDeposited,
    HouseholdSettled,
    MeterBatchAccepted,
    PeriodCleared,
    PeriodSettled,
    SchedulePosted,
    decode_log_v2,
)
from ledger.exchange import ExchangeClient
from ledger.token import TokenClient


@dataclass(frozen=True)
class TokenTotals:
    """Token positions: supply, the exchange's balance, each household's wallet and escrow,
    and the relayer's escrow (settlement rounding is credited to the settler)."""

    total_supply_units: int
    exchange_units: int
    wallet_units: tuple[int, ...]
    free_units: tuple[int, ...]
    locked_units: tuple[int, ...]
    relayer_free_units: int


@dataclass(frozen=True)
class GasUse:
    """Gas of the trading day's transactions, by what they did."""

    schedules: int
    schedule_transactions: int
    meter_batches: int
    meter_batch_transactions: int
    settlement: int
    settlement_transactions: int
    #: Not the trading day's: the households' deposits, which also write (once) the storage
    #: every trading day rewrites (IQuartierExchange, "Onboarding").
    onboarding_deposits: int = 0
    deposit_transactions: int = 0

    @property
    def total(self) -> int:
        return self.schedules + self.meter_batches + self.settlement


@dataclass(frozen=True)
class ChainFacts:
    """The day as recorded on-chain."""

    postings: tuple[SchedulePosted, ...]
    #: Entries (sell or buy) of every posting, and how many traded in clearing.
    entries: int
    fills: int
    batches: tuple[MeterBatchAccepted, ...]
    #: Per settled period: its PeriodCleared intervals, keyed by interval id.
    cleared: dict[int, ClearedInterval]
    settled_households: tuple[HouseholdSettled, ...]
    settled_periods: tuple[PeriodSettled, ...]
    gas: GasUse
    tokens_before: TokenTotals
    tokens_after: TokenTotals


def token_totals(
    w3: Web3, deployment: Deployment, households: Sequence[Household], relayer: str
) -> TokenTotals:
    """The token positions right now."""
    reader = Sender(w3, households[0].account)  # views only: any account will do
    token = TokenClient(reader, deployment.address("QuartierToken"))
    exchange = ExchangeClient(reader, deployment.address("QuartierExchange"))
    escrows = [exchange.escrow_of(h.account.address) for h in households]
    return TokenTotals(
        total_supply_units=token.total_supply(),
        exchange_units=token.balance_of(exchange.address),
        wallet_units=tuple(token.balance_of(h.account.address) for h in households),
        free_units=tuple(e.free_units for e in escrows),
        locked_units=tuple(e.locked_units for e in escrows),
        relayer_free_units=exchange.escrow_of(relayer).free_units,
    )


def _fills(
    exchange: ExchangeClient, community: CommunityClient, settle_input: bytes
) -> tuple[int, int]:
    """(entries, entries that traded) of one settlePeriod call, replayed by api.settlement."""
    period_id, inputs = settled_inputs(exchange, community, settle_input, strict_meters=True)
    grid = community.time_grid()
    rules = community.rules_at(period_id)
    settled = settlement.settle_period(
        settlement.Rules.of(rules), settlement.TimeGrid.of(grid), period_id, inputs
    )
    entries = sum(1 for interval in settled.intervals for side in interval.book.sides if side != 0)
    fills = sum(
        1 for interval in settled.intervals for traded in interval.clearing.traded_wh if traded
    )
    return entries, fills


def collect_chain_facts(
    w3: Web3,
    deployment: Deployment,
    households: Sequence[Household],
    relayer: str,
    before: TokenTotals,
) -> ChainFacts:
    """Read the day back from events, receipts and calldata; `before`: the token totals at
    the start of the trading day."""
    reader = Sender(w3, households[0].account)
    exchange = ExchangeClient(reader, deployment.address("QuartierExchange"))
    community = CommunityClient(reader, deployment.address("QuartierCommunity"))
    logs = w3.eth.get_logs(
        {"address": exchange.contract.address, "fromBlock": deployment.deploy_block}
    )
    kinds: dict[bytes, set[type]] = {}
    postings: list[SchedulePosted] = []
    batches: list[MeterBatchAccepted] = []
    cleared: dict[int, ClearedInterval] = {}
    settled_households: list[HouseholdSettled] = []
    settled_periods: list[PeriodSettled] = []
    grid = community.time_grid()
    for log in logs:
        event = decode_log_v2(exchange.contract, log)
        if event is None:
            continue
        kinds.setdefault(bytes(log["transactionHash"]), set()).add(type(event))
        if isinstance(event, SchedulePosted):
            postings.append(event)
        elif isinstance(event, MeterBatchAccepted):
            batches.append(event)
        elif isinstance(event, PeriodCleared):
            first = grid.first_interval(event.period_id)
            cleared.update((first + offset, line) for offset, line in enumerate(event.cleared()))
        elif isinstance(event, HouseholdSettled):
            settled_households.append(event)
        elif isinstance(event, PeriodSettled):
            settled_periods.append(event)
    gas = {"schedules": [0, 0], "meter_batches": [0, 0], "settlement": [0, 0], "deposits": [0, 0]}
    entries = fills = 0
    for tx_hash, emitted in kinds.items():
        if PeriodSettled in emitted:
            what = "settlement"
            transaction = w3.eth.get_transaction(HexBytes(tx_hash))
            counted = _fills(exchange, community, bytes(transaction["input"]))
            entries, fills = entries + counted[0], fills + counted[1]
        elif SchedulePosted in emitted:
            what = "schedules"
        elif MeterBatchAccepted in emitted:
            what = "meter_batches"
        elif ExchangeDeposited in emitted:
            what = "deposits"  # onboarding, reported apart from the trading day
        else:
            continue  # withdrawals: not the trading day's
        receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        gas[what][0] += int(receipt["gasUsed"])
        gas[what][1] += 1
    return ChainFacts(
        postings=tuple(postings),
        entries=entries,
        fills=fills,
        batches=tuple(batches),
        cleared=cleared,
        settled_households=tuple(settled_households),
        settled_periods=tuple(settled_periods),
        gas=GasUse(*gas["schedules"], *gas["meter_batches"], *gas["settlement"], *gas["deposits"]),
        tokens_before=before,
        tokens_after=token_totals(w3, deployment, households, relayer),
    )

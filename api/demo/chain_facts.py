"""What the chain says happened: trades, settlements, readings, gas and token totals.

Read from the market's events and the transactions' receipts after the day, the way any
auditor could, so the summary does not trust the demo's own bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hexbytes import HexBytes
from web3 import Web3
from web3.types import LogReceipt

from api.demo.neighbourhood import Household
from ledger.compiler import artifact
from ledger.deployment import Deployment
from ledger.events import (
    Event,
    IntervalCommitted,
    IntervalSettled,
    ReadingAccepted,
    TradeCommitted,
    TradeSettled,
    decode_log,
    only,
)
from ledger.market import MarketClient
from ledger.token import TokenClient


@dataclass(frozen=True)
class TokenTotals:
    """Token positions: supply, the market's balance, and each household's wallet + escrow."""

    total_supply_units: int
    market_units: int
    wallet_units: tuple[int, ...]
    free_units: tuple[int, ...]
    locked_units: tuple[int, ...]


@dataclass(frozen=True)
class ChainFacts:
    """The day as recorded on-chain."""

    committed: tuple[TradeCommitted, ...]
    settled: tuple[TradeSettled, ...]
    readings: tuple[ReadingAccepted, ...]
    committed_intervals: tuple[int, ...]
    settled_intervals: tuple[int, ...]
    commit_gas: int
    settle_gas: int
    readings_gas: int
    readings_transactions: int
    tokens_before: TokenTotals
    tokens_after: TokenTotals


def token_totals(w3: Web3, deployment: Deployment, households: Sequence[Household]) -> TokenTotals:
    """The token positions right now."""
    from ledger.chain import Sender

    reader = Sender(w3, households[0].account)  # views only: any account will do
    token = TokenClient(reader, deployment.address("QuartierToken"))
    market = MarketClient(reader, deployment.address("QuartierMarket"), deployment.deploy_block)
    escrows = [market.escrow_of(h.account.address) for h in households]
    return TokenTotals(
        total_supply_units=token.total_supply(),
        market_units=token.balance_of(market.address),
        wallet_units=tuple(token.balance_of(h.account.address) for h in households),
        free_units=tuple(e.free_units for e in escrows),
        locked_units=tuple(e.locked_units for e in escrows),
    )


def _gas(w3: Web3, logs: list[LogReceipt]) -> tuple[int, int]:
    """(total gas, transactions) of the distinct transactions that emitted `logs`."""
    hashes = {HexBytes(log["transactionHash"]) for log in logs}
    gas = [int(w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in hashes]
    return sum(gas), len(hashes)


def collect_chain_facts(
    w3: Web3,
    deployment: Deployment,
    households: Sequence[Household],
    before: TokenTotals,
) -> ChainFacts:
    """Read the day back from events and receipts; `before`: the token totals at the start."""
    tokens = token_totals(w3, deployment, households)
    market = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("QuartierMarket")),
        abi=artifact("QuartierMarket").abi,
    )
    logs = w3.eth.get_logs({"address": market.address, "fromBlock": deployment.deploy_block})
    events = [(decode_log(market, log), log) for log in logs]

    def logs_of(kind: type[Event]) -> list[LogReceipt]:
        return [log for event, log in events if isinstance(event, kind)]

    decoded = [event for event, _log in events if event is not None]
    commits = only(decoded, IntervalCommitted)
    settles = only(decoded, IntervalSettled)
    commit_gas, _ = _gas(w3, logs_of(IntervalCommitted))
    settle_gas, _ = _gas(w3, logs_of(IntervalSettled))
    readings_gas, readings_transactions = _gas(w3, logs_of(ReadingAccepted))
    return ChainFacts(
        committed=tuple(only(decoded, TradeCommitted)),
        settled=tuple(only(decoded, TradeSettled)),
        readings=tuple(only(decoded, ReadingAccepted)),
        committed_intervals=tuple(sorted(event.interval_id for event in commits)),
        settled_intervals=tuple(sorted(event.interval_id for event in settles)),
        commit_gas=commit_gas,
        settle_gas=settle_gas,
        readings_gas=readings_gas,
        readings_transactions=readings_transactions,
        tokens_before=before,
        tokens_after=tokens,
    )

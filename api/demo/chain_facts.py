"""What the chain says happened: trades, settlements, readings, gas and token totals.

Read from the market's events and the transactions' receipts after the day, the way any
auditor could, so the summary does not trust the demo's own bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from api.demo.neighbourhood import Household
from ledger.compiler import artifact
from ledger.deployment import Deployment
from ledger.market import MarketClient
from ledger.token import TokenClient


@dataclass(frozen=True)
class CommittedTrade:
    interval_id: int
    seller: str
    buyer: str
    energy_wh: int
    price_per_kwh: int


@dataclass(frozen=True)
class SettledTrade:
    interval_id: int
    seller: str
    buyer: str
    delivered_wh: int
    payment_units: int


@dataclass(frozen=True)
class AcceptedReading:
    meter_id: bytes
    interval_id: int
    import_wh_total: int
    export_wh_total: int


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

    committed: tuple[CommittedTrade, ...]
    settled: tuple[SettledTrade, ...]
    readings: tuple[AcceptedReading, ...]
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


def _logs(contract: Any, event: str, from_block: int) -> list[Any]:
    return list(getattr(contract.events, event)().get_logs(from_block=from_block))


def _gas(w3: Web3, logs: list[Any]) -> tuple[int, int]:
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
    start = deployment.deploy_block
    commits = _logs(market, "IntervalCommitted", start)
    settles = _logs(market, "IntervalSettled", start)
    accepted = _logs(market, "ReadingAccepted", start)
    commit_gas, _ = _gas(w3, commits)
    settle_gas, _ = _gas(w3, settles)
    readings_gas, readings_transactions = _gas(w3, accepted)
    committed = tuple(
        CommittedTrade(a["intervalId"], a["seller"], a["buyer"], a["energyWh"], a["pricePerKwh"])
        for a in (log["args"] for log in _logs(market, "TradeCommitted", start))
    )
    settled = tuple(
        SettledTrade(a["intervalId"], a["seller"], a["buyer"], a["deliveredWh"], a["paymentUnits"])
        for a in (log["args"] for log in _logs(market, "TradeSettled", start))
    )
    readings = tuple(
        AcceptedReading(
            bytes(a["meterId"]), a["intervalId"], a["importWhTotal"], a["exportWhTotal"]
        )
        for a in (log["args"] for log in accepted)
    )
    return ChainFacts(
        committed=committed,
        settled=settled,
        readings=readings,
        committed_intervals=tuple(sorted(log["args"]["intervalId"] for log in commits)),
        settled_intervals=tuple(sorted(log["args"]["intervalId"] for log in settles)),
        commit_gas=commit_gas,
        settle_gas=settle_gas,
        readings_gas=readings_gas,
        readings_transactions=readings_transactions,
        tokens_before=before,
        tokens_after=tokens,
    )

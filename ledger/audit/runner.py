"""The audit as one call: read the chain, check every interval, replay the money."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier

from ledger.audit.checks import (
    Readings,
    check_commit,
    check_readings,
    check_settlement,
    order_signature_ok,
)
from ledger.audit.evidence import Evidence
from ledger.audit.model import (
    AuditError,
    AuditReport,
    ClearingRule,
    IntervalSummary,
    Problem,
    TradeLine,
)
from ledger.audit.money import check_money
from ledger.audit.rules import average_price_per_kwh, offered_wh
from ledger.audit.source import ChainHistory, Progress, read_history
from ledger.compiler import artifact
from ledger.deployment import Deployment
from ledger.meter_chain import ChainValues
from metering.reading import verify_signed_reading


def _contract(w3: Web3, deployment: Deployment, name: str) -> Contract:
    address = Web3.to_checksum_address(deployment.address(name))
    return w3.eth.contract(address=address, abi=artifact(name).abi)


#: Fetches evidence for the committed interval ids (e.g. from the API's public books).
EvidenceSource = Callable[[Sequence[int]], Evidence]


class _State:
    """Contract state at the last audited block."""

    def __init__(self, w3: Web3, deployment: Deployment, block: BlockIdentifier) -> None:
        self.market = _contract(w3, deployment, "QuartierMarket")
        self.token = _contract(w3, deployment, "QuartierToken")
        self.block = block

    def escrow_of(self, household: str) -> tuple[int, int]:
        free, locked = self.market.functions.escrowOf(household).call(block_identifier=self.block)
        return int(free), int(locked)

    def balance_of(self, holder: str) -> int:
        return int(self.token.functions.balanceOf(holder).call(block_identifier=self.block))

    def total_supply(self) -> int:
        return int(self.token.functions.totalSupply().call(block_identifier=self.block))


def run_audit(
    w3: Web3,
    deployment: Deployment,
    rule: ClearingRule,
    from_block: int | None = None,
    to_block: int | None = None,
    evidence: Evidence | EvidenceSource | None = None,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit the community of `deployment` on `w3` between two blocks (inclusive).

    `evidence` is off-chain signed messages, or a function fetching them for the committed
    interval ids. Defaults: from the deployment block to the latest block. Raises AuditError
    when the range makes no sense; chain and deployment errors come from `ledger.errors`.
    """
    started = time.perf_counter()
    deployment.check_chain(w3)
    latest = int(w3.eth.block_number)
    first = deployment.deploy_block if from_block is None else from_block
    last = latest if to_block is None else to_block
    if first < 0 or last < first or last > latest:
        raise AuditError(f"block range {first}..{last} is not within 0..{latest}")
    market = _contract(w3, deployment, "QuartierMarket")
    registry = _contract(w3, deployment, "CommunityRegistry")
    token = _contract(w3, deployment, "QuartierToken")
    if not w3.eth.get_code(market.address):
        raise AuditError(f"no contract at the market address {market.address} on this chain")
    history = read_history(w3, market, registry, token, first, last, progress)
    chain_id, market_address = history.chain_id, history.market

    problems: list[Problem] = list(history.problems)
    signatures = 0
    for commit in sorted(history.commits.values(), key=lambda c: c.interval_id):
        found, checked = check_commit(commit, rule, chain_id, market_address)
        problems.extend(found)
        signatures += checked
    found, readings, checked = check_readings(history.readings, chain_id, market_address)
    problems.extend(found)
    signatures += checked
    delivered: dict[int, list[int]] = {}
    for settlement in sorted(history.settlements.values(), key=lambda s: s.interval_id):
        found, delivered[settlement.interval_id] = check_settlement(
            settlement,
            history.commits.get(settlement.interval_id),
            readings,
            history.meter_households,
        )
        problems.extend(found)
    if evidence is not None:
        if not isinstance(evidence, Evidence):
            evidence = evidence(sorted(history.commits))
        found, checked = check_evidence(evidence, history, readings, chain_id, market_address)
        problems.extend(found)
        signatures += checked
    balances: dict[str, int] = {}
    if first <= deployment.deploy_block:
        found, balances = check_money(history, _State(w3, deployment, last))
        problems.extend(found)
    intervals, trades = _summaries(history)
    return AuditReport(
        intervals, trades, signatures, tuple(problems), balances, time.perf_counter() - started
    )


def check_evidence(
    evidence: Evidence, history: ChainHistory, readings: Readings, chain_id: int, market: str
) -> tuple[list[Problem], int]:
    """Off-chain signed messages: valid signatures, and the same as what was committed."""
    problems: list[Problem] = []
    for source, signed in evidence.readings:
        reading = signed.reading
        meter = "0x" + reading.meter_id.hex()
        if not verify_signed_reading(signed, chain_id, market):
            problems.append(
                Problem(
                    reading.interval_id,
                    "reading_signature",
                    f"evidence {source}: reading of meter {meter} is not signed by its key",
                )
            )
            continue
        on_chain = readings.values.get((reading.meter_id, reading.interval_id))
        if on_chain is not None and on_chain != ChainValues.of(reading):
            problems.append(
                Problem(
                    reading.interval_id,
                    "evidence_mismatch",
                    f"evidence {source}: meter {meter} signed {ChainValues.of(reading)} "
                    f"but the chain accepted {on_chain}",
                )
            )
    committed = {
        (signed.order.interval_id, signed.order.household, signed.order.nonce): signed.order
        for commit in history.commits.values()
        for signed in commit.orders
    }
    for source, signed_order in evidence.orders:
        order = signed_order.order
        if not order_signature_ok(signed_order, chain_id, market):
            problems.append(
                Problem(
                    order.interval_id,
                    "order_signature",
                    f"evidence {source}: order of {order.household} is not signed by it",
                )
            )
            continue
        match = committed.get((order.interval_id, order.household, order.nonce))
        if match is not None and match != order:
            problems.append(
                Problem(
                    order.interval_id,
                    "evidence_mismatch",
                    f"evidence {source}: order nonce {order.nonce} of {order.household} "
                    "differs from the committed one",
                )
            )
    return problems, len(evidence.readings) + len(evidence.orders)


def _summaries(history: ChainHistory) -> tuple[tuple[IntervalSummary, ...], tuple[TradeLine, ...]]:
    summaries: list[IntervalSummary] = []
    lines: list[TradeLine] = []
    for k in sorted(history.commits):
        commit = history.commits[k]
        orders = [signed.order for signed in commit.orders]
        settlement = history.settlements.get(k)
        settled: Sequence[tuple[int | None, int | None]] = (
            [(e.delivered_wh, e.payment_units) for e in settlement.trade_events]
            if settlement and len(settlement.trade_events) == len(commit.trades)
            else [(None, None)] * len(commit.trades)
        )
        for trade, (delivered_wh, payment) in zip(commit.trades, settled, strict=True):
            lines.append(
                TradeLine(
                    k,
                    orders[trade.sell_order_index].household,
                    orders[trade.buy_order_index].household,
                    trade.energy_wh,
                    trade.price_per_kwh,
                    delivered_wh,
                    payment,
                )
            )
        summaries.append(
            IntervalSummary(
                k,
                offered_wh(orders),
                sum(t.energy_wh for t in commit.trades),
                settlement.settled.delivered_wh if settlement else None,
                settlement.settled.paid_units if settlement else None,
                average_price_per_kwh(commit.trades),
            )
        )
    return tuple(summaries), tuple(lines)

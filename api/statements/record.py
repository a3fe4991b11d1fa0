"""What the chain holds about a community, read once for a statement: the audit's history,
its verdict, and every settled period replayed by the settlement rule.

The audit (`ledger.audit.audit_history`) already rebuilds each settlement's input from the
chain (postings as committed, meter batches as signed, inline or posted earlier) and re-runs
the rule on it, comparing the result with PeriodCleared and HouseholdSettled. The rule it is
given here records what it computed: each interval's book, clearing and netting, and each
household's meter deltas, so that the statement's per-quarter-hour figures are the very
replay the audit checked against the chain, not a second reading of it. Later settlement
versions (corrections on the grid operator's volumes) are read and checked too
(`ledger.audit.versions`): their lines are the statement's credit and debit lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from web3 import Web3

from api import settlement as engine
from api.audit_cli import engine_settlement, rule_outcome
from ledger.audit import AuditReport, RuleHousehold, RuleOutcome, audit_history
from ledger.audit.source import read_history
from ledger.audit.versions import RecordedVersion, check_versions, read_versions
from ledger.deployment import Deployment
from ledger.events_v2 import HouseholdSettled
from ledger.rules import Rules, TimeGrid


@dataclass(frozen=True)
class Replayed:
    """One settled period as the rule recomputed it, with every household's meter input."""

    settlement: engine.PeriodSettlement
    inputs: tuple[RuleHousehold, ...]

    def addresses(self) -> tuple[str, ...]:
        """Household index h -> address (the settlement's order)."""
        return tuple(h.address for h in self.settlement.households)

    def metered(self, address: str, grid: TimeGrid) -> tuple[list[int], list[int]]:
        """(import Wh, export Wh) per interval of the household's counting meters."""
        wanted = address.lower()
        household = next(h for h in self.inputs if h.address.lower() == wanted)
        meters = [
            engine.MeterInput(engine.Window(m.window.admitted_at, m.window.removed_at), m.deltas)
            for m in household.meters
        ]
        return engine.metered_of_period(meters, engine.TimeGrid.of(grid), self.settlement.period_id)


@dataclass
class RecordingRule:
    """The audit's settlement rule that keeps what it computed, period by period."""

    replayed: dict[int, Replayed] = field(default_factory=dict)

    def __call__(
        self, rules: Rules, grid: TimeGrid, period_id: int, households: Sequence[RuleHousehold]
    ) -> RuleOutcome:
        settled = engine_settlement(rules, grid, period_id, households)
        self.replayed[period_id] = Replayed(settled, tuple(households))
        return rule_outcome(settled)


@dataclass(frozen=True)
class ChainRecord:
    """The community's audited history, for statements."""

    grid: TimeGrid
    audit: AuditReport
    replayed: dict[int, Replayed]
    #: (period id, lower-case address) -> the HouseholdSettled event the chain emitted.
    settled: dict[tuple[int, str], HouseholdSettled]
    block_time: int
    #: Every later settlement version (IQuartierSettlementVersions), in chain order.
    versions: tuple[RecordedVersion, ...] = ()


def read_record(w3: Web3, deployment: Deployment) -> ChainRecord:
    """Read the community's whole history once and audit it (AuditError: cannot run)."""
    history = read_history(w3, deployment)
    rule = RecordingRule()
    audit = audit_history(history, rule)
    versions = tuple(read_versions(w3, deployment, history.to_block))
    version_problems = check_versions(versions, history)
    if version_problems:  # the statement's verdict covers the corrections it shows
        audit = replace(audit, problems=audit.problems + tuple(version_problems))
    settled = {
        (logged.event.period_id, logged.event.household.lower()): logged.event
        for logged in history.exchange_events
        if isinstance(logged.event, HouseholdSettled)
    }
    return ChainRecord(
        history.grid, audit, rule.replayed, settled, history.last_block_time, versions
    )

"""The auditor's replay of protocol v2, from the chain alone.

`run_audit` reads the community's, the exchange's and the token's events over the
deployment's block range, the calldata of every postSchedules / postMeterBatches /
settlePeriod transaction and the views at the last block (`source`), then `audit_history`
replays them: the rules and the registry with their history (`timeline`), every posting
(`postings`), every meter batch (`batches`), every settlement recomputed by the injected
`SettlementRule` (`settlement`, `rule`) and the money (`money`). Nothing off-chain enters:
no flag or setting can change the verdict. `report` writes the result as CSV or HTML.
"""

from ledger.audit.history import History
from ledger.audit.model import (
    AuditError,
    AuditReport,
    HouseholdLine,
    IntervalLine,
    Kind,
    PeriodSummary,
    Problem,
    RuleRefusedError,
)
from ledger.audit.rule import (
    RuleFigures,
    RuleHousehold,
    RuleMeter,
    RuleOutcome,
    SettlementRule,
)
from ledger.audit.runner import audit_history, run_audit

__all__ = [
    "AuditError",
    "AuditReport",
    "History",
    "HouseholdLine",
    "IntervalLine",
    "Kind",
    "PeriodSummary",
    "Problem",
    "RuleFigures",
    "RuleHousehold",
    "RuleMeter",
    "RuleOutcome",
    "RuleRefusedError",
    "SettlementRule",
    "audit_history",
    "run_audit",
]

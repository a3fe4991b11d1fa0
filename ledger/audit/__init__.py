"""The auditor's replay: verify every commit and settlement of a community from the chain.

`run_audit` reads the contracts' events and the calldata of the transactions that emitted
them (`source`), re-checks every signature, re-runs the clearing rule it is given, recomputes
settlements with the contract's rules (`rules`, `checks`), replays the money (`money`), and
returns an `AuditReport`; `report` writes it as JSON, CSV or HTML.
"""

from ledger.audit.evidence import Evidence, fetch_evidence, load_evidence
from ledger.audit.model import (
    AuditError,
    AuditReport,
    BookOrder,
    ClearedTrade,
    ClearingRule,
    IntervalSummary,
    Problem,
    TradeLine,
)
from ledger.audit.runner import run_audit

__all__ = [
    "AuditError",
    "AuditReport",
    "BookOrder",
    "ClearedTrade",
    "ClearingRule",
    "Evidence",
    "IntervalSummary",
    "Problem",
    "TradeLine",
    "fetch_evidence",
    "load_evidence",
    "run_audit",
]

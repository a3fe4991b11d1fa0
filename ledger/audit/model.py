"""Values of the audit: its errors, the problems it names, and the report it returns.

    AuditError          the audit could not run (exit 2): bad range, contract missing, ...
    └── RuleRefusedError  the injected settlement rule refused a period's input

A Problem names one violation of the rule (IQuartierExchange, IQuartierCommunity) by a
`Kind`; the report carries a summary per period and every problem, in chain order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from ledger.errors import LedgerError


class AuditError(LedgerError):
    """The audit could not run: its input makes no sense or the chain lacks a contract."""

    exit_code: ClassVar[int] = 2


class RuleRefusedError(AuditError):
    """The settlement rule refused a period's input (the adapter translates its errors).

    The audit turns it into a `settlement_rule_refused` problem: the contract settled a
    period whose input the reference rule calls invalid.
    """


class Kind(StrEnum):
    """Every violation the audit names; the value is what JSON, CSV and HTML print."""

    # Rules and registry.
    RULES_MISSING = "rules_missing"
    RULES_CHANGE_TOO_EARLY = "rules_change_too_early"
    RULES_HISTORY_MISMATCH = "rules_history_mismatch"
    REGISTRY_TIME_MISMATCH = "registry_time_mismatch"
    REGISTRY_VIOLATION = "registry_violation"
    REGISTRY_STATE_MISMATCH = "registry_state_mismatch"
    # Transactions whose input cannot be read back.
    CALLDATA_UNAVAILABLE = "calldata_unavailable"
    # Postings.
    POSTING_SIGNATURE = "posting_signature"
    POSTING_NOT_MEMBER = "posting_not_member"
    POSTING_GATE_CLOSED = "posting_gate_closed"
    POSTING_BEYOND_HORIZON = "posting_beyond_horizon"
    POSTING_OUTSIDE_PERIOD = "posting_outside_period"
    POSTING_STALE_VERSION = "posting_stale_version"
    POSTING_TOO_MANY = "posting_too_many"
    POSTING_TOO_MANY_HOUSEHOLDS = "posting_too_many_households"
    POSTING_BAD_ENTRIES = "posting_bad_entries"
    POSTING_LOCK_MISMATCH = "posting_lock_mismatch"
    POSTING_EVENT_MISMATCH = "posting_event_mismatch"
    # Meter batches.
    BATCH_SIGNATURE = "batch_signature"
    BATCH_NOT_CHAINED = "batch_not_chained"
    BATCH_EARLIER_PERIOD_OPEN = "batch_earlier_period_open"
    BATCH_BAD_DELTAS = "batch_bad_deltas"
    BATCH_METER_NOT_COUNTING = "batch_meter_not_counting"
    BATCH_TOO_EARLY = "batch_too_early"
    BATCH_EVENT_MISMATCH = "batch_event_mismatch"
    # Settlements.
    SETTLEMENT_TOO_EARLY = "settlement_too_early"
    SETTLEMENT_DUPLICATE = "settlement_duplicate"
    SETTLEMENT_HOUSEHOLDS_MISMATCH = "settlement_households_mismatch"
    SETTLEMENT_POSTINGS_MISMATCH = "settlement_postings_mismatch"
    SETTLEMENT_METERS_MISMATCH = "settlement_meters_mismatch"
    SETTLEMENT_POSTED_BATCH_UNUSED = "settlement_posted_batch_unused"
    SETTLEMENT_METER_DATA_MISSING = "settlement_meter_data_missing"
    SETTLEMENT_RULE_REFUSED = "settlement_rule_refused"
    HINTS_MISMATCH = "hints_mismatch"
    CLEARED_MISMATCH = "cleared_mismatch"
    HOUSEHOLD_SETTLED_MISMATCH = "household_settled_mismatch"
    PERIOD_SETTLED_MISMATCH = "period_settled_mismatch"
    PERIOD_UNSETTLED = "period_unsettled"
    # Money.
    ESCROW_OVERDRAWN = "escrow_overdrawn"
    ESCROW_MISMATCH = "escrow_mismatch"
    ESCROW_CONSERVATION = "escrow_conservation"
    TOKEN_TRANSFER_MISMATCH = "token_transfer_mismatch"
    TOKEN_BALANCE_MISMATCH = "token_balance_mismatch"
    # Settlement versions (IQuartierSettlementVersions; ledger.audit.versions).
    VERSION_OUT_OF_ORDER = "version_out_of_order"
    VERSION_UNSETTLED_PERIOD = "version_unsettled_period"
    VERSION_LINES_MISMATCH = "version_lines_mismatch"
    VERSION_NOT_CONSERVED = "version_not_conserved"
    VERSION_RECOMPUTE_MISMATCH = "version_recompute_mismatch"


@dataclass(frozen=True)
class Problem:
    """One violation. `block_number` None: found in the end state, not in one transaction."""

    kind: Kind
    detail: str
    period_id: int | None = None
    interval_id: int | None = None
    block_number: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "kind": str(self.kind),
            "period_id": self.period_id,
            "interval_id": self.interval_id,
            "block_number": self.block_number,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class IntervalLine:
    """One interval of a settled period as the chain's PeriodCleared reports it."""

    interval_id: int
    price_per_kwh: int
    traded_wh: int
    delivered_wh: int


@dataclass(frozen=True)
class HouseholdLine:
    """One household's settlement as its HouseholdSettled reports it."""

    period_id: int
    household: str
    delivered_wh: int
    received_wh: int
    change_units: int
    released_units: int


@dataclass(frozen=True)
class PeriodSummary:
    """What happened in one period: who posted, whether and how it settled."""

    period_id: int
    mechanism: str
    households: int
    postings: int
    settled: bool
    traded_wh: int
    delivered_wh: int
    rounding_units: int
    intervals: tuple[IntervalLine, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "period_id": self.period_id,
            "mechanism": self.mechanism,
            "households": self.households,
            "postings": self.postings,
            "settled": self.settled,
            "traded_wh": self.traded_wh,
            "delivered_wh": self.delivered_wh,
            "rounding_units": self.rounding_units,
            "intervals": [
                {
                    "interval_id": line.interval_id,
                    "price_per_kwh": line.price_per_kwh,
                    "traded_wh": line.traded_wh,
                    "delivered_wh": line.delivered_wh,
                }
                for line in self.intervals
            ],
        }


@dataclass(frozen=True)
class AuditReport:
    """Everything the audit found; `ok` when no problem was found."""

    from_block: int
    to_block: int
    periods: tuple[PeriodSummary, ...]
    settlements: tuple[HouseholdLine, ...]
    schedule_signatures: int
    batch_signatures: int
    problems: tuple[Problem, ...]
    escrow_units: dict[str, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        """The kinds of the problems found (what tests and scripts compare)."""
        return {str(problem.kind) for problem in self.problems}

    def as_json(self) -> dict[str, object]:
        """The JSON shape of the v2 `quartier audit --json`."""
        return {
            "ok": self.ok,
            "from_block": self.from_block,
            "to_block": self.to_block,
            "periods": [period.as_json() for period in self.periods],
            "signatures_checked": {
                "schedules": self.schedule_signatures,
                "meter_batches": self.batch_signatures,
            },
            "escrow_units": {
                household: {"free": free, "locked": locked}
                for household, (free, locked) in sorted(self.escrow_units.items())
            },
            "problems": [problem.as_json() for problem in self.problems],
        }

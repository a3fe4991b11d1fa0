"""The settlement rule the audit re-runs, as an injected function over plain data.

`ledger` must not import `api` (dependencies point api -> ledger), so the audit describes
a period's input and output here and the composition root (`api/audit_cli.py`) passes a
`SettlementRule` that runs `api.settlement.settle_period`. The rule must be pure and raise
`RuleRefusedError` (never its own errors) for an input it refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.audit.history import RawPosting
from ledger.community import Window
from ledger.events_v2 import ClearedInterval
from ledger.rules import Rules, TimeGrid


@dataclass(frozen=True)
class RuleMeter:
    """One meter of metersOf(household) at settlement: its validity, its deltas (None: no
    data, it measures 0 Wh)."""

    window: Window
    deltas: bytes | None


@dataclass(frozen=True)
class RuleHousehold:
    """A household that posted for the period: membership, postings in order, meters."""

    address: str
    membership: Window
    postings: tuple[RawPosting, ...]
    meters: tuple[RuleMeter, ...]


@dataclass(frozen=True)
class RuleFigures:
    """What HouseholdSettled must report for one household."""

    address: str
    delivered_wh: int
    received_wh: int
    change_units: int
    released_units: int


@dataclass(frozen=True)
class RuleOutcome:
    """The rule's settlement of a period: households in settlement (address) order."""

    intervals: tuple[ClearedInterval, ...]
    households: tuple[RuleFigures, ...]
    delivered_wh: int
    rounding_units: int
    hints: bytes


#: (rules of the period, time grid, period id, posting households) -> the settlement.
SettlementRule = Callable[[Rules, TimeGrid, int, Sequence[RuleHousehold]], RuleOutcome]

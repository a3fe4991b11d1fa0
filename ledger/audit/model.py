"""Values of the audit: what the clearing rule takes and returns, problems, the report.

The clearing rule is a parameter (dependency inversion): `ledger` must not import the engine
in `api.matching`, so the audit describes the book and the trades in plain data and the
composition root (`api/audit_cli.py`) passes a `ClearingRule` that runs the real engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ledger.errors import LedgerError

SIDE_SELL = 0
SIDE_BUY = 1


class AuditError(LedgerError):
    """The audit could not run (bad input: evidence unreadable, range inverted, ...)."""

    exit_code: ClassVar[int] = 2


@dataclass(frozen=True)
class BookOrder:
    """One committed order as the clearing rule sees it; `id` is its EIP-712 digest (0x hex)."""

    id: str
    household: str
    side: int
    energy_wh: int
    price_per_kwh: int


@dataclass(frozen=True)
class ClearedTrade:
    """A trade as the clearing rule produces it, naming orders by id."""

    sell_id: str
    buy_id: str
    energy_wh: int
    price_per_kwh: int


#: Orders of one interval in, trades out: must be pure and deterministic.
ClearingRule = Callable[[Sequence[BookOrder]], Sequence[ClearedTrade]]


@dataclass(frozen=True)
class Problem:
    """One thing that does not check; `interval_id` is None for community-wide checks."""

    interval_id: int | None
    kind: str
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"interval_id": self.interval_id, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class TradeLine:
    """One committed trade of an interval, with its settlement when settled."""

    interval_id: int
    seller: str
    buyer: str
    energy_wh: int
    price_per_kwh: int
    delivered_wh: int | None
    payment_units: int | None


@dataclass(frozen=True)
class IntervalSummary:
    """Per interval figures for reports: offered, traded, delivered energy and money."""

    interval_id: int
    offered_wh: int
    traded_wh: int
    delivered_wh: int | None
    paid_units: int | None
    clearing_price_per_kwh: int | None


@dataclass(frozen=True)
class AuditReport:
    """Everything the audit found; `ok` when no problem was found."""

    intervals: tuple[IntervalSummary, ...]
    trades: tuple[TradeLine, ...]
    signatures_checked: int
    problems: tuple[Problem, ...]
    balances_units: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        """The fixed JSON shape of `quartier audit --json`."""
        return {
            "ok": self.ok,
            "intervals": len(self.intervals),
            "trades": len(self.trades),
            "signatures_checked": self.signatures_checked,
            "problems": [problem.as_json() for problem in self.problems],
        }

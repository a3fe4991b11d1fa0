"""One benchmark figure, with its baseline, and the recorded v1 figures used as baselines.

Every figure carries a stable `id` (`gas.trade`, `clearing.10k`, ...) so that tools can
follow it from run to run; `ratio` is always value / baseline (for gas, 0.02 means 50 times
cheaper; for clearing, 1.3 means 1.3 times the reference's time).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where the v1 baselines come from: v1 (QuartierMarket, per-interval commit and settle) is
#: removed from the product, so its figures can no longer be measured live. These are its
#: last measured figures as issue 11 ("Targets") records them: the default demo day (20
#: households x 96 quarter-hours) and the order intake over loopback. (The README's v1 table
#: of 2026-11-22 measured other things: gas per trade by batch size, readings intake.)
V1_SOURCE = "v1, last measured (issue 11, Targets)"
#: v1's clearing engine against its reference, for the record (issue 11): 2.2x / 2.7x.
V1_CLEARING_NOTE = "v1 engine was 2.2x / 2.7x its reference at 100k"
V1_GAS_PER_HOUSEHOLD_DAY = 5_600_000
V1_GAS_PER_TRADE = 77_400  # 34,500 commit + 43,000 settle
V1_GAS_PER_READING = 29_500
V1_DELIVERED_SHARE = 0.931
V1_ORDERS_PER_SECOND = 86.0
V1_ORDER_P99_MS = 173.0


@dataclass(frozen=True)
class Figure:
    """One measured figure next to its baseline; `target` says what issue 11 asks for."""

    id: str
    name: str
    value: float
    unit: str
    baseline: float | None
    baseline_name: str
    #: The target as text ("<= 150000"), and whether the value meets it (None: no target).
    target: str | None = None
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline:
            return None
        return round(self.value / self.baseline, 4)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
        }


def at_most(value: float, limit: float) -> tuple[str, bool]:
    """(target text, met) for a figure that must not exceed `limit`."""
    return f"<= {limit:g}", value <= limit


def at_least(value: float, limit: float) -> tuple[str, bool]:
    """(target text, met) for a figure that must reach `limit`."""
    return f">= {limit:g}", value >= limit

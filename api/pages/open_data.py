"""The community's open data: anonymised aggregates of its settled quarter-hours and months.

Anonymisation rule: a sum is published only when at least `MIN_HOUSEHOLDS` households
contributed a non-zero amount to it (production: households that exported; consumption:
that imported; shared energy: both the households that delivered and those that received),
else it is left empty, so no figure is one or two households' own. Month totals add up the
published quarter-hours only: a month minus its published quarter-hours never rebuilds a
withheld one. The clearing price is published as is (it is public on the chain already,
in PeriodCleared). No address, name or per-household figure is in any of it.

Licence: CC BY 4.0 (attribution "Quartier energy community").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from api.pages.replay import CommunityQuarter, SettledPeriod
from ledger.rules import TimeGrid

MIN_HOUSEHOLDS = 3
LICENCE = "CC-BY-4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
ATTRIBUTION = "Quartier energy community"


@dataclass(frozen=True)
class OpenQuarter:
    """One published quarter-hour (None: withheld, fewer than MIN_HOUSEHOLDS behind it)."""

    start_utc: str
    production_wh: int | None
    consumption_wh: int | None
    shared_wh: int | None
    clearing_price_per_kwh: int


@dataclass(frozen=True)
class OpenMonth:
    """A month's indicators over its published quarter-hours."""

    month: str
    quarters: int
    production_wh: int
    consumption_wh: int
    shared_wh: int
    #: Shared energy over consumption (4 decimals), None without consumption.
    shared_share: str | None


def _enough(count: int) -> bool:
    return count >= MIN_HOUSEHOLDS


def open_quarter(grid: TimeGrid, quarter: CommunityQuarter) -> OpenQuarter:
    """The published form of one quarter-hour."""
    start = datetime.fromtimestamp(grid.interval_start(quarter.interval_id), UTC)
    shared_ok = _enough(quarter.sellers) and _enough(quarter.buyers)
    return OpenQuarter(
        start_utc=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        production_wh=quarter.production_wh if _enough(quarter.producers) else None,
        consumption_wh=quarter.consumption_wh if _enough(quarter.consumers) else None,
        shared_wh=quarter.shared_wh if shared_ok or quarter.shared_wh == 0 else None,
        clearing_price_per_kwh=quarter.clearing_price_per_kwh,
    )


def open_quarters(grid: TimeGrid, periods: Iterable[SettledPeriod]) -> list[OpenQuarter]:
    """Every settled quarter-hour of the community, published form, in time order."""
    return [
        open_quarter(grid, quarter)
        for period in sorted(periods, key=lambda p: p.period_id)
        for quarter in period.community
    ]


def open_months(quarters: Iterable[OpenQuarter]) -> list[OpenMonth]:
    """Month indicators from the published quarter-hours (UTC months)."""
    sums: dict[str, list[int]] = {}
    for quarter in quarters:
        month = sums.setdefault(quarter.start_utc[:7], [0, 0, 0, 0])
        month[0] += 1
        month[1] += quarter.production_wh or 0
        month[2] += quarter.consumption_wh or 0
        month[3] += quarter.shared_wh or 0
    months = []
    for name, (count, production, consumption, shared) in sorted(sums.items()):
        share = (
            str((Decimal(shared) / consumption).quantize(Decimal("0.0001"), ROUND_HALF_UP))
            if consumption
            else None
        )
        months.append(OpenMonth(name, count, production, consumption, shared, share))
    return months


def as_csv(rows: Iterable[OpenQuarter | OpenMonth], header: list[str]) -> str:
    """CSV with a header line; withheld values are empty cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        values = asdict(row)
        writer.writerow(["" if values[name] is None else values[name] for name in header])
    return out.getvalue()


QUARTER_FIELDS = [
    "start_utc",
    "production_wh",
    "consumption_wh",
    "shared_wh",
    "clearing_price_per_kwh",
]
MONTH_FIELDS = [
    "month",
    "quarters",
    "production_wh",
    "consumption_wh",
    "shared_wh",
    "shared_share",
]


def as_json(rows: Iterable[OpenQuarter | OpenMonth]) -> dict[str, object]:
    """The JSON document: licence, the anonymisation rule, units, rows."""
    return {
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "attribution": ATTRIBUTION,
        "anonymisation": f"a sum is published only when at least {MIN_HOUSEHOLDS} households"
        " contributed to it (null otherwise); months add up published quarter-hours only",
        "units": {"energy": "Wh", "price": "token units (1 EUR = 1,000,000) per kWh"},
        "rows": [asdict(row) for row in rows],
    }

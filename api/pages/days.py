"""Brussels calendar days and months on the community's time grid, and a household's
quarter-hours and days gathered from the settled periods that cover them."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session

from api.households import service
from api.pages.i18n import BRUSSELS
from api.pages.replay import HouseholdQuarter, SettledPeriods
from api.relayer.context import V2Chain
from ledger.rules import TimeGrid


def day_bounds(day: date) -> tuple[int, int]:
    """Unix seconds of the Brussels day's first and past-last moment (23, 24 or 25 hours)."""
    start = datetime.combine(day, time(0), BRUSSELS)
    end = datetime.combine(day + timedelta(days=1), time(0), BRUSSELS)
    return int(start.timestamp()), int(end.timestamp())


def brussels_day(unix_seconds: int) -> date:
    """The Brussels calendar day of a moment."""
    return datetime.fromtimestamp(unix_seconds, BRUSSELS).date()


def month_days(day: date) -> list[date]:
    """Every day of `day`'s month."""
    count = calendar.monthrange(day.year, day.month)[1]
    return [date(day.year, day.month, n) for n in range(1, count + 1)]


@dataclass(frozen=True)
class DayTotals:
    """A household's day, summed over its settled quarter-hours."""

    day: date
    quarters: int
    import_wh: int
    export_wh: int
    from_neighbours_wh: int
    to_neighbours_wh: int
    money_milli: int

    @property
    def from_grid_wh(self) -> int:
        return self.import_wh - self.from_neighbours_wh

    @property
    def to_grid_wh(self) -> int:
        return self.export_wh - self.to_neighbours_wh


def _periods_between(grid: TimeGrid, start: int, end: int) -> range:
    return range(grid.period_at(start), grid.period_at(end - 1) + 1)


def household_quarters(
    periods: SettledPeriods, chain: V2Chain, household: str, start: int, end: int
) -> list[HouseholdQuarter]:
    """The household's settled quarter-hours that start in [start, end), in time order.
    Periods it took no part in, or not settled yet, give none."""
    grid = chain.grid
    found = []
    for period_id in _periods_between(grid, start, end):
        settled = periods.get(chain, period_id)
        if settled is None:
            continue
        for quarter in settled.households.get(household, ()):
            if start <= grid.interval_start(quarter.interval_id) < end:
                found.append(quarter)
    return found


def live_quarters(
    session: Session, grid: TimeGrid, household: str, start: int, end: int, skip: set[int]
) -> list[HouseholdQuarter]:
    """Quarter-hours in [start, end) not in `skip` (the settled ones) from the household's
    live meter readings: a reading holds the registers at the end of its interval, so an
    interval's energy is its reading minus the previous interval's (both needed)."""
    first = grid.interval_at(start)
    last = grid.interval_at(end - 1)
    rows = service.own_readings(session, household, first - 1, last)
    registers: dict[str, dict[int, tuple[int, int]]] = {}
    for row in rows:  # ordered by meter and seq: a later seq of an interval wins
        registers.setdefault(row.meter_id, {})[row.interval_id] = (
            row.import_wh_total,
            row.export_wh_total,
        )
    imports: dict[int, int] = {}
    exports: dict[int, int] = {}
    for by_interval in registers.values():
        for interval_id, (import_total, export_total) in by_interval.items():
            before = by_interval.get(interval_id - 1)
            if before is None or interval_id < first or interval_id in skip:
                continue
            imports[interval_id] = imports.get(interval_id, 0) + import_total - before[0]
            exports[interval_id] = exports.get(interval_id, 0) + export_total - before[1]
    return [
        HouseholdQuarter(
            interval_id=k,
            import_wh=imports[k],
            export_wh=exports[k],
            from_neighbours_wh=0,
            to_neighbours_wh=0,
            money_milli=0,
            side="none",
            limit_per_kwh=0,
            price_per_kwh=0,
            settled=False,
        )
        for k in sorted(imports)
    ]


def totals(day: date, quarters: list[HouseholdQuarter]) -> DayTotals:
    """One day's sums."""
    return DayTotals(
        day,
        len(quarters),
        sum(q.import_wh for q in quarters),
        sum(q.export_wh for q in quarters),
        sum(q.from_neighbours_wh for q in quarters),
        sum(q.to_neighbours_wh for q in quarters),
        sum(q.money_milli for q in quarters),
    )


def household_month(
    periods: SettledPeriods, chain: V2Chain, household: str, day: date
) -> list[DayTotals]:
    """The household's settled days of `day`'s month (days without data left out)."""
    grid = chain.grid
    days = month_days(day)
    start, _ = day_bounds(days[0])
    _, end = day_bounds(days[-1])
    by_day: dict[date, list[HouseholdQuarter]] = {}
    for quarter in household_quarters(periods, chain, household, start, end):
        by_day.setdefault(brussels_day(grid.interval_start(quarter.interval_id)), []).append(
            quarter
        )
    return [totals(d, by_day[d]) for d in days if d in by_day]

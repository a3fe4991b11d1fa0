"""The capacity charge: network costs billed on a member's monthly peak (Flanders since 2023).

Rule (VREG, "Capaciteitstarief: van kwartiervermogen tot gemiddelde maandpiek",
https://www.vreg.be/nl/capaciteitstarief-van-kwartiervermogen-tot-gemiddelde-maandpiek;
Fluvius, "Veelgestelde vragen over het capaciteitstarief",
https://www.fluvius.be/nl/veelgestelde-vragen/capaciteitstarief-gezinnen-kleine-ondernemingen):
the digital meter records each quarter-hour's average demand taken from the grid; a month's
peak is its highest quarter-hour; a peak below 2.5 kW is billed as 2.5 kW (the tariff
file's `[capacity] minimum_monthly_peak_w`); the DSO's rate is in EUR per kW per year
(excluding VAT; 2023, Flemish average: about 40.4 EUR/kW/year, 3.37 a month).

Here a month is billed on its own peak: rate / 12 x max(peak, minimum), plus VAT, prorated
by the share of the month's local quarter-hours the window covers (a one-day window pays a
day's share). Fluvius bills each month on the mean of the last 12 monthly peaks; over a
whole year both come to rate x the mean of the year's billed peaks.

Integers: a quarter-hour's average demand is offtake_wh x 4 W exactly; the charge is summed
exactly (Fraction) and rounded once, up to the next whole unit. Sharing between members
does not move anyone's meter, so the charge is the same with and without the community.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Protocol

from api.economics.tariff import Member, Tariff

#: Quarter-hours per hour: a quarter-hour's Wh x 4 is its average W.
_QUARTERS_PER_HOUR = 4
_MONTHS_PER_YEAR = 12


class Offtake(Protocol):
    """A quarter-hour of a member's meter (`api.economics.bill.IntervalFlows` is one)."""

    @property
    def start(self) -> int: ...

    @property
    def offtake_wh(self) -> int: ...


@dataclass(frozen=True)
class MonthPeak:
    """One local month of the window: its peak, what is billed, how much of it is covered."""

    month: str
    peak_w: int
    #: The quarter-hour (unix seconds, UTC start) of the peak.
    peak_start: int
    billed_w: int
    covered_quarter_hours: int
    month_quarter_hours: int


@dataclass(frozen=True)
class CapacityCharge:
    """The capacity charge over a window (units, VAT included, rounded up once)."""

    months: tuple[MonthPeak, ...]
    units: int


def _month_label(local: datetime) -> str:
    return f"{local.year:04d}-{local.month:02d}"


def _quarter_hours_of_month(tariff: Tariff, year: int, month: int) -> int:
    """Local quarter-hours in a month: 4 fewer in March, 4 more in October (summer time)."""
    start = datetime(year, month, 1, tzinfo=tariff.zone).astimezone(UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tariff.zone).astimezone(UTC)
    # In UTC: two times of one zone subtract as wall clocks, which ignores the DST hour.
    return int((end - start) / timedelta(minutes=15))


def monthly_peaks(tariff: Tariff, flows: Iterable[Offtake], minimum_w: int = 0) -> list[MonthPeak]:
    """Each local month's peak demand from the grid in `flows` (months in time order)."""
    peaks: dict[str, list[int]] = {}
    months: dict[str, tuple[int, int]] = {}
    for flow in flows:
        local = tariff.local_time(flow.start)
        label = _month_label(local)
        demand_w = flow.offtake_wh * _QUARTERS_PER_HOUR
        row = peaks.setdefault(label, [-1, flow.start, 0])
        if demand_w > row[0]:
            row[0], row[1] = demand_w, flow.start
        row[2] += 1
        months.setdefault(label, (local.year, local.month))
    return [
        MonthPeak(
            label,
            peak_w,
            peak_start,
            max(peak_w, minimum_w),
            covered,
            _quarter_hours_of_month(tariff, *months[label]),
        )
        for label, (peak_w, peak_start, covered) in sorted(peaks.items())
    ]


def capacity_charge(tariff: Tariff, member: Member, flows: Sequence[Offtake]) -> CapacityCharge:
    """The member's capacity charge over `flows` (no month, 0 units where its DSO bills
    none: `monthly_peaks` still gives the peaks)."""
    rate = tariff.capacity_per_kw_year(member)
    if not rate:
        return CapacityCharge((), 0)
    months = monthly_peaks(tariff, flows, tariff.capacity_minimum_w)
    exact = Fraction(0)
    for month in months:
        exact += Fraction(
            rate * month.billed_w * (100 + tariff.vat_percent) * month.covered_quarter_hours,
            1000 * _MONTHS_PER_YEAR * 100 * month.month_quarter_hours,
        )
    return CapacityCharge(tuple(months), -(-exact.numerator // exact.denominator))

"""A household's standing plan, turned into the next period's Schedule for its wallet to sign.

The plan is what a person decides once: time bands of the day (Brussels hours, a band may
run past midnight, 22:00-07:00) and, per band, whether to offer its surplus (how much per
quarter-hour, at the lowest price) or to buy (how much, at the highest price), or neither.
Hours no band covers get no entry. The default bands are the Walloon bi-hourly ones of
2026 (peak 07-11 and 17-22, off-peak 22-07 and 11-17, api/economics/tariffs), so a person
can price the sunny midday off-peak band apart from the evening peak.

The server makes the Schedule of the next period from the first interval whose gate is
still open (ledger/FORMATS.md §3) and hands the page its EIP-712 typed data; the wallet
signs it in the page (eth_signTypedData_v4) and the page POSTs the signed schedule to
/schedules, which checks it as every schedule. The server never signs.

The form opens with the household's own plan: its latest accepted schedule read back as
bands (`household_bands`), the defaults when it has none or when it cannot be bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from api.errors import ValidationFailedError
from api.pages.i18n import BRUSSELS
from api.schedules.models import ScheduleRow, ScheduleStatus
from ledger.community_config.household_plan import first_open_interval
from ledger.entries import Entry, EntrySide, decode_entries
from ledger.errors import LedgerError
from ledger.rules import Rules, TimeGrid
from ledger.schedules import Schedule

#: Prices are typed in euros per kWh; the token has 6 decimals.
UNITS_PER_EURO = 10**6
#: More bands than a day has sensible tariff periods is a typing slip.
MAX_BANDS = 8
Side = Literal["sell", "buy", "none"]
_SIDES: dict[Side, EntrySide] = {
    "sell": EntrySide.SELL,
    "buy": EntrySide.BUY,
    "none": EntrySide.NONE,
}
_SIDE_NAMES: dict[EntrySide, Side] = {entry_side: side for side, entry_side in _SIDES.items()}


@dataclass(frozen=True)
class Band:
    """Brussels hours [from_hour, to_hour) (to_hour <= from_hour: past midnight), one side,
    Wh per quarter-hour and its limit in token units per kWh (a floor to sell, a ceiling to
    buy)."""

    from_hour: int
    to_hour: int
    side: Side
    energy_wh: int
    limit_per_kwh: int

    def hours(self) -> list[int]:
        end = self.to_hour if self.to_hour > self.from_hour else self.to_hour + 24
        return [hour % 24 for hour in range(self.from_hour, end)]


#: The Walloon bi-hourly bands of 2026 with the page's suggested figures.
DEFAULT_BANDS = (
    Band(22, 7, "buy", 200, 250_000),
    Band(7, 11, "buy", 150, 300_000),
    Band(11, 17, "sell", 300, 80_000),
    Band(17, 22, "buy", 100, 320_000),
)


class OverlappingBandsError(ValidationFailedError):
    """Two bands of a plan cover the same hour."""

    default_slug = "overlapping-bands"


def price_units(text: str, field: str) -> int:
    """Euros per kWh as typed ("0.08" or "0,08") in token units per kWh."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationFailedError(f"{field}: not a price in euros", "invalid-plan") from None
    units = value * UNITS_PER_EURO
    if not value.is_finite() or value < 0 or units != units.to_integral_value():
        raise ValidationFailedError(f"{field}: a price of 0 or more euros", "invalid-plan")
    if units > 2**32 - 1:
        raise ValidationFailedError(f"{field}: at most 4294.967295 euros", "invalid-plan")
    return int(units)


def band_of_hours(bands: Sequence[Band]) -> dict[int, Band]:
    """Each Brussels hour's band; OverlappingBandsError names the first hour two share."""
    if len(bands) > MAX_BANDS:
        raise ValidationFailedError(f"at most {MAX_BANDS} bands", "invalid-plan")
    found: dict[int, Band] = {}
    for number, band in enumerate(bands, start=1):
        if band.from_hour == band.to_hour:
            raise ValidationFailedError(
                f"band {number}: it starts and ends at {band.from_hour:02d}:00", "invalid-plan"
            )
        for hour in band.hours():
            if hour in found:
                raise OverlappingBandsError(
                    f"band {number}: {hour:02d}:00 is in band {bands.index(found[hour]) + 1}"
                    " already"
                )
            found[hour] = band
    return found


def next_schedule(
    bands: Sequence[Band], household: str, version: int, grid: TimeGrid, rules: Rules, now: int
) -> Schedule:
    """The plan as the Schedule of the period after the current one, from its first open
    interval: each quarter-hour takes the entry of the band its Brussels hour is in."""
    by_hour = band_of_hours(bands)
    period_id = grid.period_at(now) + 1
    first = first_open_interval(grid, rules, period_id, now)
    entries = []
    for interval_id in range(first, grid.first_interval(period_id) + grid.period_intervals):
        hour = datetime.fromtimestamp(grid.interval_start(interval_id), BRUSSELS).hour
        band = by_hour.get(hour)
        if band is None or band.side == "none" or band.energy_wh < max(1, rules.min_entry_wh):
            entries.append(Entry(EntrySide.NONE, 0, 0))
        else:
            entries.append(Entry(_SIDES[band.side], band.energy_wh, band.limit_per_kwh))
    return Schedule(household, period_id, version, first, tuple(entries))


def bands_of_schedule(schedule: Schedule, grid: TimeGrid) -> tuple[Band, ...] | None:
    """The plan a signed schedule came from, as bands: runs of consecutive Brussels hours
    (round the clock: a run may pass midnight) whose entries share side, energy and limit.
    Hours with no sell or buy give a "nothing" band, so the form keeps a row for them. An
    hour the schedule does not reach (a period begun late, 02:00 on the spring DST day)
    takes its neighbours' entry when both sides agree, else nothing. None when the schedule
    cannot be bands: an hour whose quarter-hours differ (sized quarter-hour by quarter-hour
    elsewhere) or more runs than MAX_BANDS."""
    per_hour: dict[int, set[Entry]] = {}
    for interval_id, entry in zip(schedule.interval_ids(), schedule.entries, strict=True):
        hour = datetime.fromtimestamp(grid.interval_start(interval_id), BRUSSELS).hour
        per_hour.setdefault(hour, set()).add(entry)
    if not per_hour or any(len(entries) > 1 for entries in per_hour.values()):
        return None
    known = {hour: next(iter(entries)) for hour, entries in per_hour.items()}
    nothing = Entry(EntrySide.NONE, 0, 0)
    of_hour: list[Entry] = []
    for hour in range(24):
        if hour in known:
            of_hour.append(known[hour])
            continue
        before = next(known[(hour - k) % 24] for k in range(1, 25) if (hour - k) % 24 in known)
        after = next(known[(hour + k) % 24] for k in range(1, 25) if (hour + k) % 24 in known)
        of_hour.append(before if before == after else nothing)
    starts = [hour for hour in range(24) if of_hour[hour] != of_hour[hour - 1]]
    if not starts:  # one entry all day long
        return (_band(0, 24, of_hour[0]),)
    if len(starts) > MAX_BANDS:
        return None
    ends = [*starts[1:], starts[0]]
    runs = zip(starts, ends, strict=True)
    return tuple(_band(start, end or 24, of_hour[start]) for start, end in runs)


def _band(from_hour: int, to_hour: int, entry: Entry) -> Band:
    return Band(from_hour, to_hour, _SIDE_NAMES[entry.side], entry.energy_wh, entry.price_per_kwh)


def household_bands(rows: Sequence[ScheduleRow], grid: TimeGrid) -> tuple[tuple[Band, ...], bool]:
    """The bands the household's form opens with: those of its latest accepted schedule
    (`rows` newest period and version first, as `own_schedules` gives them), else the
    defaults; False when there was one but it cannot be shown as bands."""
    latest = next((row for row in rows if row.status != ScheduleStatus.REFUSED), None)
    if latest is None:
        return DEFAULT_BANDS, True
    try:
        entries = decode_entries(bytes.fromhex(latest.entries.removeprefix("0x")))
        schedule = Schedule(
            latest.household, latest.period_id, latest.version, latest.first_interval_id, entries
        )
    except (LedgerError, ValueError):
        return DEFAULT_BANDS, False
    bands = bands_of_schedule(schedule, grid)
    return (DEFAULT_BANDS, False) if bands is None else (bands, True)

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from api.errors import ValidationFailedError
from api.pages.i18n import BRUSSELS
from ledger.community_config.household_plan import first_open_interval
from ledger.entries import Entry, EntrySide
from ledger.rules import Rules, TimeGrid
from ledger.schedules import Schedule

#: Prices are typed in euros per kWh; the token has 6 decimals.
UNITS_PER_EURO = 10**6
#: More bands than a day has sensible tariff periods is a typing slip.
MAX_BANDS = 8
Side = Literal["sell", "buy", "none"]
_SIDES = {"sell": EntrySide.SELL, "buy": EntrySide.BUY, "none": EntrySide.NONE}


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

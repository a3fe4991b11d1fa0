"""A household's standing plan, turned into the next period's Schedule for its wallet to sign.

The plan is what a person decides once: how much surplus to offer per quarter-hour of the
day band (Brussels time) and its lowest price, how much to buy per quarter-hour outside it
and its highest price. The server makes the Schedule of the next period from the first
interval whose gate is still open (ledger/FORMATS.md §3) and hands the page its EIP-712
typed data; the wallet signs it in the page (eth_signTypedData_v4) and the page POSTs the
signed schedule to /schedules, which checks it as every schedule. The server never signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from api.errors import ValidationFailedError
from api.pages.i18n import BRUSSELS
from ledger.community_config.household_plan import first_open_interval
from ledger.entries import Entry, EntrySide
from ledger.rules import Rules, TimeGrid
from ledger.schedules import Schedule

#: The day band, Brussels hours [from, to): when a household with panels has surplus.
DAY_FROM_HOUR = 9
DAY_TO_HOUR = 18
#: Prices are typed in euros per kWh; the token has 6 decimals.
UNITS_PER_EURO = 10**6


@dataclass(frozen=True)
class Plan:
    """Wh per quarter-hour and limits in token units per kWh (0 Wh: no entry)."""

    sell_wh: int
    sell_min_per_kwh: int
    buy_wh: int
    buy_max_per_kwh: int


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


def _in_day_band(grid: TimeGrid, interval_id: int) -> bool:
    hour = datetime.fromtimestamp(grid.interval_start(interval_id), BRUSSELS).hour
    return DAY_FROM_HOUR <= hour < DAY_TO_HOUR


def next_schedule(
    plan: Plan, household: str, version: int, grid: TimeGrid, rules: Rules, now: int
) -> Schedule:
    """The plan as the Schedule of the period after the current one, from its first open
    interval: sell entries in the day band, buy entries outside it."""
    period_id = grid.period_at(now) + 1
    first = first_open_interval(grid, rules, period_id, now)
    entries = []
    for interval_id in range(first, grid.first_interval(period_id) + grid.period_intervals):
        if _in_day_band(grid, interval_id) and plan.sell_wh >= max(1, rules.min_entry_wh):
            entries.append(Entry(EntrySide.SELL, plan.sell_wh, plan.sell_min_per_kwh))
        elif not _in_day_band(grid, interval_id) and plan.buy_wh >= max(1, rules.min_entry_wh):
            entries.append(Entry(EntrySide.BUY, plan.buy_wh, plan.buy_max_per_kwh))
        else:
            entries.append(Entry(EntrySide.NONE, 0, 0))
    return Schedule(household, period_id, version, first, tuple(entries))

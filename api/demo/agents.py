"""The households' and meters' agents: what they sign and POST (protocol v2).

Household policy: once per settlement period, before the gate of its first traded interval,
a household signs a day-ahead Schedule from its own forecasts, one entry per interval:
- forecast export >= MIN_ENTRY_WH: sell, asking its own injection price of that quarter-hour
  (plus a margin, `api.economics.limits`): anything above what its supplier pays beats the grid;
- else forecast import >= MIN_ENTRY_WH while a neighbour may sell (the sun is up, or the
  neighbourhood's home batteries sell their rest, 18:00-22:00 local): buy, bidding its own
  supplier energy price with VAT (less the margin): a shared kWh displaces only that
  component, network and taxes stay (the Walloon bill rule, `api.economics.bill`). At night
  nobody has PV to sell.
A home battery (`metering.adapters.simulated_battery`) follows its own rule behind the meter
(charge from the home's surplus, cover the home's evening, feed the rest above its reserve
into the grid in the evening); its household trades what the meter will show like any other,
with the same limits: asking at least its own injection price, bidding at most its own energy
price, so a member with a battery, too, never pays more than alone.
  Prices come from the member's contract in the region's tariff file, at the quarter-hour's
  local time on the simulated calendar; the chain's floor and ceiling bound them all.
Sizes: settlement nets each entry against the household's meter (delivered <= min(traded,
metered)), so an entry smaller than what the meter will show loses energy for good, while
one a little larger costs nothing when the household is on the short side of the interval.
Both sides therefore bid for their forecast plus a margin covering the forecast error
(SIZE_MARGIN); the buyer's escrow lock grows with it (ceil(Σ energy x bid / 1000)).
Leading and trailing empty intervals are left out of the schedule (fewer bytes to post).

Meter agent: at the end of a period it signs, with its P-256 key, its registers at the
period's start and the energy of every interval of the period (`metering.period`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.demo.neighbourhood import REGION, TIMEZONE, Household, member_contracts
from api.demo.simulation import FORECAST_ERROR, DaySimulation
from api.economics.limits import highest_bid_per_kwh, lowest_ask_per_kwh
from api.economics.tariff import Member, tariff_of
from ledger.rules import Rules, TimeGrid
from ledger.schedules import NO_ENTRY, Entry, EntrySide, Schedule, schedule_body, sign_schedule
from metering.period import (
    SignedMeterPeriod,
    build_meter_period,
    meter_batch_body,
    sign_meter_period,
)

#: Entries smaller than this are not worth their bytes.
MIN_ENTRY_WH = 5
#: An entry asks for forecast * (1 + SIZE_MARGIN) + SIZE_SLACK_WH: the forecast error is up
#: to FORECAST_ERROR either way, so (1 - FORECAST_ERROR) * (1 + SIZE_MARGIN) >= 1 covers it.
SIZE_MARGIN = FORECAST_ERROR / (1 - FORECAST_ERROR) + 0.02
SIZE_SLACK_WH = 2


@dataclass(frozen=True)
class Limits:
    """One household's limit prices, from its own contract: sell at or above its injection
    price, buy at or below its energy price (None in a quarter-hour: no entry on that side)."""

    member: Member
    floor_per_kwh: int
    ceiling_per_kwh: int

    def ask_at(self, unix_seconds: int) -> int | None:
        prices = tariff_of(REGION, _year(unix_seconds)).prices(self.member, unix_seconds)
        return lowest_ask_per_kwh(prices, self.floor_per_kwh, self.ceiling_per_kwh)

    def bid_at(self, unix_seconds: int) -> int | None:
        prices = tariff_of(REGION, _year(unix_seconds)).prices(self.member, unix_seconds)
        return highest_bid_per_kwh(prices, self.floor_per_kwh, self.ceiling_per_kwh)


def _year(unix_seconds: int) -> int:
    # A tariff file per local year (31 December after 23:00 UTC is already next year here).
    return datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(TIMEZONE).year


def draw_limits(count: int, rules: Rules, seed: int) -> list[Limits]:
    """Each household's limits: its contract (`member_contracts`) inside the chain's band."""
    return [
        Limits(member, rules.price_floor_per_kwh, rules.price_ceiling_per_kwh)
        for member in member_contracts(count, seed)
    ]


def entry_size(forecast_wh: int) -> int:
    """The energy an entry asks for, given the forecast (integer Wh, rounded up)."""
    margin_milli = round(SIZE_MARGIN * 1000)
    return -(-forecast_wh * (1000 + margin_milli) // 1000) + SIZE_SLACK_WH


def entry_for(day: DaySimulation, household: int, limits: Limits, interval_id: int) -> Entry:
    """The household's entry for one interval (see the module docstring)."""
    forecast = day.forecast(household, interval_id)
    start = day.calendar_start(interval_id)
    if forecast.export_wh >= MIN_ENTRY_WH:
        ask = limits.ask_at(start)
        return (
            NO_ENTRY if ask is None else Entry(EntrySide.SELL, entry_size(forecast.export_wh), ask)
        )
    if day.may_have_sellers(interval_id) and forecast.import_wh >= MIN_ENTRY_WH:
        bid = limits.bid_at(start)
        return (
            NO_ENTRY if bid is None else Entry(EntrySide.BUY, entry_size(forecast.import_wh), bid)
        )
    return NO_ENTRY


def household_schedule(
    household: Household,
    index: int,
    limits: Limits,
    day: DaySimulation,
    period_id: int,
    interval_ids: range,
    version: int = 1,
) -> Schedule | None:
    """The household's schedule of `period_id` over `interval_ids` (None: nothing to post)."""
    entries = [entry_for(day, index, limits, k) for k in interval_ids]
    used = [i for i, entry in enumerate(entries) if entry is not NO_ENTRY]
    if not used:
        return None
    first, last = used[0], used[-1]
    return Schedule(
        household.account.address,
        period_id,
        version,
        interval_ids.start + first,
        tuple(entries[first : last + 1]),
    )


def schedule_json(
    household: Household, schedule: Schedule, chain_id: int, exchange: str
) -> dict[str, Any]:
    """Sign `schedule` with the household's key, shaped as `POST /schedules` takes it."""
    signed = sign_schedule(household.account.key, schedule, chain_id, exchange)
    return schedule_body(schedule, signed.signature)


def meter_batch(
    household: Household,
    index: int,
    day: DaySimulation,
    grid: TimeGrid,
    period_id: int,
    chain_id: int,
    exchange: str,
) -> SignedMeterPeriod:
    """The meter's signed batch of `period_id`: its registers at every boundary of it."""
    intervals = grid.intervals(period_id)
    boundaries = [day.boundary(index, k) for k in (*intervals, intervals.stop)]
    period = build_meter_period(
        household.meter.meter_id, period_id, boundaries, grid.period_intervals
    )
    return sign_meter_period(household.meter_key, period, chain_id, exchange)


def meter_batch_json(household: Household, signed: SignedMeterPeriod) -> dict[str, Any]:
    """A signed batch shaped as `POST /meter-batches` takes it (the meter agent's body)."""
    return meter_batch_body(signed, household.meter.public_key)

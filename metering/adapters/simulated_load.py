"""Seeded residential load for the simulated fleet: a seasonal standard profile plus events.

A household's quarter-hour draw (average W over the quarter-hour) is the sum of:
- the dynamised BDEW H0 standard load profile (demandlib's h0_dyn: winter days draw more than
  summer days), read at the Brussels wall-clock time of each UTC quarter-hour (summer time
  included), scaled to the home's annual consumption less its appliance events' expected
  energy, times seeded log-normal noise (mean 1);
- appliance events on top, placed to the minute in local time, seeded per (seed, home, year):
  the evening meal every day with COOKING_PROBABILITY (oven and hob together, 2.8-4.2 kW for
  30-75 min, starting 17:30-19:30), a weekend lunch, 1-3 kettle boils a day (2 kW, 3-5 min),
  the washing machine on about half the days (2 kW for its 20-min heating, then 250 W for an
  hour) and the dishwasher after dinner on 60 % of days (1.8 kW for 30 min, then 150 W);
- an electric car in EV_SHARE of homes: 3.7 or 7.4 kW charger, plugged in at 17:00-20:00 on
  3-5 weekdays a week, 6-20 kWh a session, charging at full power until done;
- a heat pump in HEAT_PUMP_SHARE of homes: its yearly electricity (2,500-4,500 kWh) spread
  over days by heating degree-days (base 16.5 C, Uccle's monthly mean temperatures below plus
  seeded daily weather) and within the day by a morning and evening shape, at most 3 kW;
- the sum is capped at CONNECTION_LIMIT_W (a 40 A single-phase connection is 9.2 kW: chargers
  and heat pumps back off rather than trip the main breaker; the energy over the cap is lost).
Monthly 15-minute peaks thus land between about 3 kW (a meal) and 9 kW (a car charging
during dinner): the 3-9 kW range issue 14 asks of Belgian homes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SLOTS_PER_DAY = 96
MINUTES_PER_DAY = 1440
LOCAL_ZONE = "Europe/Brussels"
CONNECTION_LIMIT_W = 9_000.0
COOKING_PROBABILITY = 0.85
EV_SHARE = 0.10
HEAT_PUMP_SHARE = 0.07
_NOISE_SIGMA = 0.25
#: Uccle's monthly mean temperatures, C (assumed, rounded from the KMI/IRM 1991-2020 normals,
#: January 3.7 C): only their seasonal shape matters to the heat pump.
MONTHLY_MEAN_TEMPERATURE_C = (3.7, 4.2, 7.0, 10.2, 13.9, 16.9, 18.9, 18.5, 15.3, 11.4, 7.1, 4.3)
HEATING_BASE_C = 16.5
#: Relative weight of each local hour in a heat pump's day (night set-back, morning and
#: evening heating).
_HEAT_PUMP_HOURS = np.array(
    [0.6] * 5 + [1.4, 1.8, 1.6, 1.2] + [0.9] * 7 + [1.1, 1.4, 1.5, 1.4, 1.2, 1.0] + [0.7, 0.6]
)


@dataclass(frozen=True)
class Appliances:
    """The seeded appliances of one home (what its events are drawn from)."""

    cooking_w: float
    ev_charger_w: float  # 0: no electric car
    heat_pump_kwh: float  # 0: no heat pump

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Appliances:
        cooking = float(rng.uniform(2_800.0, 4_200.0))
        has_ev, has_heat_pump = rng.random() < EV_SHARE, rng.random() < HEAT_PUMP_SHARE
        charger = float(rng.choice([3_700.0, 7_400.0]))
        heat_pump = float(rng.uniform(2_500.0, 4_500.0))
        return cls(cooking, charger if has_ev else 0.0, heat_pump if has_heat_pump else 0.0)


@dataclass(frozen=True)
class Calendar:
    """A year's quarter-hours and days in UTC and Brussels time (shared by every home)."""

    year: int
    #: Brussels UTC offset of each UTC day at local noon, minutes (60 or 120).
    day_offset_minutes: IntArray
    #: 0 = Monday of each UTC day (as its local date: the same at noon).
    weekday: IntArray
    month: IntArray
    #: The local hour of each UTC quarter-hour (its start).
    slot_local_hour: IntArray
    #: h0_dyn, kWh per quarter-hour for 1 kWh a year, at each UTC quarter-hour.
    h0: FloatArray

    @property
    def days(self) -> int:
        return len(self.weekday)

    @classmethod
    def of(cls, year: int, holidays: dict[date, str]) -> Calendar:
        import pandas as pd  # type: ignore[import-untyped]
        from demandlib import bdew  # type: ignore[import-untyped]

        profile = bdew.ElecSlp(year, holidays=holidays).get_scaled_profiles({"h0_dyn": 1.0})
        values = profile["h0_dyn"].to_numpy(dtype=np.float64)
        times = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", tz="UTC")[:-1]
        # The profile is indexed by wall-clock time: UTC slot i reads the slot of its Brussels
        # local time (an autumn hour twice, a spring hour never; the last hour of 31
        # December, already next year locally, wraps to the year's first).
        local = times.tz_convert(LOCAL_ZONE).tz_localize(None)
        steps = (local - pd.Timestamp(f"{year}-01-01")) // pd.Timedelta(minutes=15)
        h0 = values[np.asarray(steps, dtype=np.int64) % len(values)]
        noons = times[SLOTS_PER_DAY // 2 :: SLOTS_PER_DAY].tz_convert(LOCAL_ZONE)
        offsets = np.array([int(t.utcoffset().total_seconds()) // 60 for t in noons])
        return cls(
            year=year,
            day_offset_minutes=offsets.astype(np.int64),
            weekday=np.asarray(noons.weekday, dtype=np.int64),
            month=np.asarray(noons.month, dtype=np.int64),
            slot_local_hour=np.asarray(local.hour, dtype=np.int64),
            h0=h0,
        )


def _events(
    calendar: Calendar,
    rng: np.random.Generator,
    probability: float,
    start_hours: tuple[float, float],
    duration_min: tuple[float, float],
    power_w: float,
    days_mask: npt.NDArray[np.bool_] | None = None,
) -> tuple[IntArray, IntArray, FloatArray]:
    """(start minute UTC of the year, end minute, W) of one kind of daily event."""
    days = calendar.days
    happens = rng.random(days) < probability
    local_start = rng.uniform(start_hours[0] * 60, start_hours[1] * 60, days)
    duration = rng.uniform(duration_min[0], duration_min[1], days)
    if days_mask is not None:
        happens &= days_mask
    day = np.flatnonzero(happens)
    start = day * MINUTES_PER_DAY + np.rint(local_start[day]).astype(np.int64)
    start -= calendar.day_offset_minutes[day]
    end = start + np.maximum(1, np.rint(duration[day]).astype(np.int64))
    return start, end, np.full(len(day), power_w)


def _quarter_hours(events: list[tuple[IntArray, IntArray, FloatArray]], days: int) -> FloatArray:
    """Average W per quarter-hour of minute-resolution events (clipped to the year)."""
    minutes = days * MINUTES_PER_DAY
    step = np.zeros(minutes + 1)
    for start, end, power in events:
        np.add.at(step, start.clip(0, minutes), power)
        np.add.at(step, end.clip(0, minutes), -power)
    per_minute = np.cumsum(step[:-1])
    return np.asarray(per_minute.reshape(-1, 15).mean(axis=1), dtype=np.float64)


def _heat_pump_w(calendar: Calendar, rng: np.random.Generator, annual_kwh: float) -> FloatArray:
    temperature = np.array(MONTHLY_MEAN_TEMPERATURE_C)[calendar.month - 1]
    temperature = temperature + rng.normal(0.0, 3.0, calendar.days)
    degree_days = (HEATING_BASE_C - temperature).clip(min=0.0)
    daily_kwh = annual_kwh * degree_days / degree_days.sum()
    weights = _HEAT_PUMP_HOURS[calendar.slot_local_hour].reshape(-1, SLOTS_PER_DAY)
    shares = weights / weights.sum(axis=1, keepdims=True)
    watts = daily_kwh[:, None] * shares * 4_000.0  # kWh per quarter-hour -> W
    return np.asarray(watts.reshape(-1).clip(max=3_000.0), dtype=np.float64)


def home_load_w(
    calendar: Calendar, annual_kwh: float, appliances: Appliances, rng: np.random.Generator
) -> FloatArray:
    """One home's average draw of every UTC quarter-hour of the calendar's year, W."""
    days = calendar.days
    weekend = calendar.weekday >= 5
    events = [
        _events(calendar, rng, COOKING_PROBABILITY, (17.5, 19.5), (30, 75), appliances.cooking_w),
        _events(calendar, rng, 0.5, (12.0, 13.0), (30, 60), appliances.cooking_w, weekend),
        _events(calendar, rng, 1.0, (6.5, 8.5), (3, 5), 2_000.0),
        _events(calendar, rng, 0.7, (10.0, 16.0), (3, 5), 2_000.0),
        _events(calendar, rng, 0.5, (19.0, 22.0), (3, 5), 2_000.0),
    ]
    washing = _events(calendar, rng, 0.5, (8.0, 20.0), (20, 20), 2_000.0)
    dishes = _events(calendar, rng, 0.6, (19.5, 22.0), (30, 30), 1_800.0)
    events += [
        washing,
        (washing[1], washing[1] + 60, np.full(len(washing[1]), 250.0)),
        dishes,
        (dishes[1], dishes[1] + 60, np.full(len(dishes[1]), 150.0)),
    ]
    if appliances.ev_charger_w:
        sessions = rng.integers(3, 6)  # weekdays a week with a session
        weekday_mask = (calendar.weekday < 5) & (rng.random(days) < sessions / 5)
        kwh = rng.uniform(6.0, 20.0, days)
        start, _, _ = _events(calendar, rng, 1.0, (17.0, 20.0), (1, 1), 0.0, weekday_mask)
        session_days = np.flatnonzero(weekday_mask)
        minutes = np.rint(kwh[session_days] / appliances.ev_charger_w * 60_000).astype(np.int64)
        events.append((start, start + minutes, np.full(len(start), appliances.ev_charger_w)))
    appliance_w = _quarter_hours(events, days)
    appliance_kwh = float(appliance_w.sum()) / 4_000.0
    # The standard profile already holds an average home's appliances: it keeps what the
    # events do not draw (at least 40 % of the year), so the home's year stays its own.
    base_kwh = max(0.4 * annual_kwh, annual_kwh - appliance_kwh)
    noise = rng.lognormal(0.0, _NOISE_SIGMA, len(calendar.h0)) / np.exp(_NOISE_SIGMA**2 / 2)
    base_w = base_kwh * calendar.h0 * noise * 4_000.0
    total = base_w + appliance_w
    if appliances.heat_pump_kwh:
        total = total + _heat_pump_w(calendar, rng, appliances.heat_pump_kwh)
    return np.asarray(total.clip(max=CONNECTION_LIMIT_W), dtype=np.float64)

"""The demo's physical world: what each meter measures and what each household forecasts.

Meter registers come from `metering.adapters.simulated.SimulatedFleet` (a Walloon
neighbourhood: seeded weather calibrated to Belgian normals, PV on a share of the roofs,
seasonal load with appliance peaks, optional home batteries), computed for the whole fleet at
once. Meters run all day:
the registers cover every boundary of the whole UTC days (= settlement periods of the demo's
community) that the traded window touches, because a meter signs its whole period. A
household's forecast of an interval is the truth with a seeded error, so sizes are off and
the netting against meters has work to do. Integers throughout: Wh.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from metering.adapters.simulated import FleetSettings, SimulatedFleet
from metering.adapters.simulated_battery import SELL_FROM_HOUR, SELL_UNTIL_HOUR
from metering.adapters.simulated_weather import LATITUDE_DEG, LONGITUDE_DEG
from metering.reading import INTERVAL_SECONDS

#: Relative error of a household's forecast of its own import or export, drawn per interval.
FORECAST_ERROR = 0.15
#: Below this sun elevation nobody's panels produce: buyers do not bid.
MIN_SUN_ELEVATION_DEG = 3.0
SLOTS_PER_DAY = 86_400 // INTERVAL_SECONDS
TIMEZONE = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True)
class Forecast:
    """What a household expects its meter to export and import in one interval."""

    export_wh: int
    import_wh: int


@dataclass(frozen=True)
class DaySimulation:
    """Registers of N meters at every boundary of whole days, the traded window, forecasts.

    `import_wh[h][j]` is meter h's import register at the start of interval base_interval_id
    + j; the columns run from the start of the window's first day to the end of its last day.
    The window is intervals [first_interval_id, first_interval_id + intervals). Interval ids
    are the chain's; `shifted` moves the same meters to a later day (a node whose clock is
    past the simulated day), so daylight is stored, not recomputed from the id.
    """

    first_interval_id: int
    intervals: int
    base_interval_id: int
    pv_kwp: tuple[float, ...]
    annual_load_kwh: tuple[float, ...]
    import_wh: tuple[tuple[int, ...], ...]
    export_wh: tuple[tuple[int, ...], ...]
    forecasts: tuple[tuple[Forecast, ...], ...]  # [household][window index]
    daylight: tuple[bool, ...]  # [window index]
    #: Intervals the chain's ids run ahead of the simulated calendar (`shifted`): prices and
    #: bills follow the simulated day, whatever day the node's clock put it on.
    calendar_shift_intervals: int = 0
    #: Each home's battery capacity, Wh (0: none).
    battery_wh: tuple[int, ...] = ()
    #: [window index]: a battery of the neighbourhood may sell (its rule's evening window).
    battery_selling: tuple[bool, ...] = ()

    @property
    def households(self) -> int:
        return len(self.import_wh)

    def interval_ids(self) -> range:
        """The traded window."""
        return range(self.first_interval_id, self.first_interval_id + self.intervals)

    def boundary(self, household: int, interval_id: int) -> tuple[int, int]:
        """(import, export) registers at the START of `interval_id`."""
        column = interval_id - self.base_interval_id
        if not 0 <= column < len(self.import_wh[household]):
            raise IndexError(f"interval {interval_id} is outside the simulated days")
        return self.import_wh[household][column], self.export_wh[household][column]

    def registers(self, household: int, interval_id: int) -> tuple[int, int]:
        """(import, export) registers at the END of `interval_id` (its reading)."""
        return self.boundary(household, interval_id + 1)

    def metered(self, household: int, interval_id: int) -> tuple[int, int]:
        """(imported, exported) Wh of `interval_id`: the difference of its boundary readings."""
        start, end = self.boundary(household, interval_id), self.registers(household, interval_id)
        return end[0] - start[0], end[1] - start[1]

    def window_metered(self, household: int) -> tuple[int, int]:
        """(imported, exported) Wh over the whole traded window."""
        start = self.boundary(household, self.first_interval_id)
        end = self.registers(household, self.first_interval_id + self.intervals - 1)
        return end[0] - start[0], end[1] - start[1]

    def forecast(self, household: int, interval_id: int) -> Forecast:
        """The household's own forecast for `interval_id`."""
        return self.forecasts[household][interval_id - self.first_interval_id]

    def is_daylight(self, interval_id: int) -> bool:
        return self.daylight[interval_id - self.first_interval_id]

    def may_have_sellers(self, interval_id: int) -> bool:
        """Whether a neighbour may have energy to sell: the sun is up, or the neighbourhood's
        batteries sell what they have left (`metering.adapters.simulated_battery`)."""
        offset = interval_id - self.first_interval_id
        return self.daylight[offset] or bool(self.battery_selling and self.battery_selling[offset])

    def calendar_start(self, interval_id: int) -> int:
        """Unix seconds at which the chain's `interval_id` starts on the simulated calendar."""
        return (interval_id - self.calendar_shift_intervals) * INTERVAL_SECONDS

    def shifted(self, days: int) -> DaySimulation:
        """The same meters and forecasts, `days` later on the chain."""
        offset = days * SLOTS_PER_DAY
        return replace(
            self,
            first_interval_id=self.first_interval_id + offset,
            base_interval_id=self.base_interval_id + offset,
            calendar_shift_intervals=self.calendar_shift_intervals + offset,
        )


def sun_elevation_deg(unix_seconds: int) -> float:
    """Approximate solar elevation at the demo site (declination + hour angle, ~1 deg)."""
    moment = datetime.fromtimestamp(unix_seconds, tz=UTC)
    day_of_year = moment.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365)
    solar_hours = moment.hour + moment.minute / 60 + LONGITUDE_DEG / 15
    hour_angle = math.radians(15 * (solar_hours - 12))
    latitude = math.radians(LATITUDE_DEG)
    sine = math.sin(latitude) * math.sin(declination) + math.cos(latitude) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sine))))


def sun_is_up(interval_id: int) -> bool:
    """Whether panels can produce during `interval_id` (at its midpoint), simulated time."""
    midpoint = interval_id * INTERVAL_SECONDS + INTERVAL_SECONDS // 2
    return sun_elevation_deg(midpoint) >= MIN_SUN_ELEVATION_DEG


def _noisy(value_wh: int, rng: random.Random) -> int:
    return max(0, round(value_wh * (1 + rng.uniform(-FORECAST_ERROR, FORECAST_ERROR))))


def _battery_selling(interval_id: int) -> bool:
    local = datetime.fromtimestamp(interval_id * INTERVAL_SECONDS, tz=UTC).astimezone(TIMEZONE)
    return SELL_FROM_HOUR <= local.hour < SELL_UNTIL_HOUR


def simulate_day(
    households: int,
    day: date,
    intervals: int,
    seed: int,
    start_slot: int = 0,
    settings: FleetSettings | None = None,
) -> DaySimulation:
    """Simulate `households` meters; the traded window is `intervals` quarter-hours from
    quarter-hour `start_slot` of `day` (UTC; 0 = 00:00-00:15), the registers cover the whole
    days it touches."""
    fleet = SimulatedFleet(households, seed, settings)
    days = (start_slot + intervals + SLOTS_PER_DAY - 1) // SLOTS_PER_DAY
    first_day = fleet.day_registers(day)
    imports = [list(row) for row in first_day.import_wh]
    exports = [list(row) for row in first_day.export_wh]
    for extra in range(1, days):
        more = fleet.day_registers(date.fromordinal(day.toordinal() + extra))
        for h in range(households):
            imports[h].extend(more.import_wh[h][1:])
            exports[h].extend(more.export_wh[h][1:])
    base = first_day.first_interval_id
    rng = random.Random(f"forecast:{seed}")
    forecasts = []
    for h in range(households):
        row = []
        for j in range(start_slot, start_slot + intervals):
            imported = imports[h][j + 1] - imports[h][j]
            exported = exports[h][j + 1] - exports[h][j]
            row.append(Forecast(_noisy(exported, rng), _noisy(imported, rng)))
        forecasts.append(tuple(row))
    first = base + start_slot
    return DaySimulation(
        first_interval_id=first,
        intervals=intervals,
        base_interval_id=base,
        pv_kwp=tuple(m.pv_kwp for m in fleet.members),
        annual_load_kwh=tuple(m.annual_load_kwh for m in fleet.members),
        import_wh=tuple(tuple(row) for row in imports),
        export_wh=tuple(tuple(row) for row in exports),
        forecasts=tuple(forecasts),
        daylight=tuple(sun_is_up(k) for k in range(first, first + intervals)),
        battery_wh=tuple(m.battery_wh for m in fleet.members),
        battery_selling=(
            tuple(_battery_selling(k) for k in range(first, first + intervals))
            if any(m.battery_wh for m in fleet.members)
            else ()
        ),
    )

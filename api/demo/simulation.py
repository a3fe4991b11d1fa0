"""The demo's physical world: what each meter measures and what each household forecasts.

Meter registers come from `metering.adapters.simulated.SimulatedFleet` (seeded pvlib clear-sky
PV in Wallonia, demandlib H0 load), computed for the whole fleet at once. A household's
forecast of its next interval is the truth with a seeded error, so some trades are delivered
only in part and the settlement's pro-rata rule has work to do. Integers throughout: Wh.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime

from metering.adapters.simulated import LATITUDE_DEG, LONGITUDE_DEG, SimulatedFleet
from metering.reading import INTERVAL_SECONDS

#: Relative error of a household's forecast of its own import or export, drawn per interval.
FORECAST_ERROR = 0.15
#: Below this sun elevation nobody's panels produce: buyers do not bother posting orders.
MIN_SUN_ELEVATION_DEG = 3.0


@dataclass(frozen=True)
class Forecast:
    """What a household expects its meter to export and import in one interval."""

    export_wh: int
    import_wh: int


@dataclass(frozen=True)
class DaySimulation:
    """Registers of N meters at each interval boundary of the demo, and the forecasts.

    `import_wh[h][j]` is meter h's import register at unix time (first_interval_id + j) * 900,
    so column j >= 1 is the reading of interval first_interval_id + j - 1 and column 0 the
    baseline reading of the interval before the demo.
    """

    first_interval_id: int
    intervals: int
    pv_kwp: tuple[float, ...]
    annual_load_kwh: tuple[float, ...]
    import_wh: tuple[tuple[int, ...], ...]
    export_wh: tuple[tuple[int, ...], ...]
    forecasts: tuple[tuple[Forecast, ...], ...]  # [household][interval index]

    @property
    def households(self) -> int:
        return len(self.import_wh)

    def interval_ids(self) -> range:
        """The demo's intervals."""
        return range(self.first_interval_id, self.first_interval_id + self.intervals)

    def registers(self, household: int, interval_id: int) -> tuple[int, int]:
        """(import, export) registers at the END of `interval_id` (its reading)."""
        column = interval_id - self.first_interval_id + 1
        return self.import_wh[household][column], self.export_wh[household][column]

    def metered(self, household: int, interval_id: int) -> tuple[int, int]:
        """(imported, exported) Wh of `interval_id`: the difference of its boundary readings."""
        column = interval_id - self.first_interval_id + 1
        imported = self.import_wh[household][column] - self.import_wh[household][column - 1]
        exported = self.export_wh[household][column] - self.export_wh[household][column - 1]
        return imported, exported

    def forecast(self, household: int, interval_id: int) -> Forecast:
        """The household's own forecast for `interval_id`."""
        return self.forecasts[household][interval_id - self.first_interval_id]


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
    """Whether panels can produce during `interval_id` (at its midpoint)."""
    midpoint = interval_id * INTERVAL_SECONDS + INTERVAL_SECONDS // 2
    return sun_elevation_deg(midpoint) >= MIN_SUN_ELEVATION_DEG


def _noisy(value_wh: int, rng: random.Random) -> int:
    return max(0, round(value_wh * (1 + rng.uniform(-FORECAST_ERROR, FORECAST_ERROR))))


def simulate_day(
    households: int, day: date, intervals: int, seed: int, start_slot: int = 0
) -> DaySimulation:
    """Simulate `households` meters for `intervals` quarter-hours of `day` (UTC), starting with
    its quarter-hour `start_slot` (0 = 00:00-00:15)."""
    fleet = SimulatedFleet(households, seed)
    registers = fleet.day_registers(day)
    first = registers.first_interval_id + start_slot
    # The fleet gives the day's 96 intervals plus the baseline: a longer demo runs into the
    # next day, so ask for the following days too.
    imports = [list(row) for row in registers.import_wh]
    exports = [list(row) for row in registers.export_wh]
    extra_day = day
    while len(imports[0]) < start_slot + intervals + 1:
        extra_day = date.fromordinal(extra_day.toordinal() + 1)
        more = fleet.day_registers(extra_day)
        for h in range(households):
            imports[h].extend(more.import_wh[h][1:])
            exports[h].extend(more.export_wh[h][1:])
    imports = [row[start_slot:] for row in imports]
    exports = [row[start_slot:] for row in exports]
    rng = random.Random(f"forecast:{seed}")
    forecasts = []
    for h in range(households):
        row = []
        for j in range(intervals):
            imported = imports[h][j + 1] - imports[h][j]
            exported = exports[h][j + 1] - exports[h][j]
            row.append(Forecast(_noisy(exported, rng), _noisy(imported, rng)))
        forecasts.append(tuple(row))
    return DaySimulation(
        first_interval_id=first,
        intervals=intervals,
        pv_kwp=tuple(m.pv_kwp for m in fleet.members),
        annual_load_kwh=tuple(m.annual_load_kwh for m in fleet.members),
        import_wh=tuple(tuple(row[: intervals + 1]) for row in imports),
        export_wh=tuple(tuple(row[: intervals + 1]) for row in exports),
        forecasts=tuple(forecasts),
    )

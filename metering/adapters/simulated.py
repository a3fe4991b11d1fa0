"""Simulated households of a Walloon neighbourhood: load, PV, batteries, meters.

A `SimulatedFleet` computes a whole year for N households at once (one weather year, one
demandlib profile, numpy for the rest), then answers any interval by lookup, so a demo of 100
households x 96 intervals costs one computation. Everything is seeded: household i's
parameters and profiles depend only on (seed, i, settings), not on how many households are
simulated; the weather only on (seed, year, settings.weather).

Model (floats live only inside the physical model; flows and registers are integer Wh):
- load: `metering.adapters.simulated_load` (seasonal H0 standard profile at Brussels wall-clock
  time, appliance events, some electric cars and heat pumps: 3-9 kW monthly 15-minute peaks);
- weather: `metering.adapters.simulated_weather` (pvlib clear sky, a seeded two-layer cloud
  model calibrated to the KMI/IRM monthly normals, Erbs direct/diffuse split);
- PV: a share of homes (`FleetSettings.pv_share`, a quarter by default: issue 14 puts
  Wallonia at 21 % of homes at most, Flanders at about 34 %) own 2.5-8 kWp (triangular,
  mode 4.5: assumed, Walloon prosumers under the 10 kVA limit), each on a roof of its own:
  south, south-east, south-west, east, west or an east-west split, tilted 15-45 deg; the
  roof's irradiance is pvlib's transposition (get_total_irradiance) of the neighbourhood's
  weather, times a performance ratio of 0.85; which homes: home i has PV when
  ceil((i + 1) s) > ceil(i s) for the share s, so any first N homes hold ceil(N s) PV homes,
  whatever N (home 0 always has PV);
- batteries: the same rule picks `battery_share` of the PV homes; each has 5-10 kWh and 2.5-5
  kW and follows `metering.adapters.simulated_battery`'s rule behind the meter;
- per quarter-hour: net = load - PV + battery charge - battery discharge (whole Wh);
  import = max(net, 0), export = max(-net, 0), accumulated from seeded initial register values
  on 1 January of `EPOCH_YEAR` (UTC).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from metering.adapters.base import MeterSnapshot, Registers
from metering.adapters.simulated_battery import dispatch
from metering.adapters.simulated_load import Appliances, Calendar, home_load_w
from metering.adapters.simulated_weather import WeatherKind, YearWeather, year_weather
from metering.errors import MeterDataError
from metering.reading import INTERVAL_SECONDS

PERFORMANCE_RATIO = 0.85
EPOCH_YEAR = 2026
LOCAL_ZONE = "Europe/Brussels"
_SLOTS_PER_DAY = 86400 // INTERVAL_SECONDS
#: Roofs (name, azimuth deg, weight %): azimuth 180 = south; "east-west" puts half the panels
#: on each side. Assumed: most Walloon PV faces south-ish, a third east or west.
ROOFS = (
    ("south", 180.0, 40),
    ("south-east", 135.0, 12),
    ("south-west", 225.0, 12),
    ("east", 90.0, 10),
    ("west", 270.0, 10),
    ("east-west", 90.0, 16),
)
TILTS_DEG = (15.0, 25.0, 30.0, 35.0, 40.0, 45.0)
_TILT_WEIGHTS = (10, 15, 20, 25, 20, 10)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FleetSettings:
    """What the neighbourhood looks like (`quartier demo --pv-share --battery-share
    --weather`)."""

    pv_share: float = 0.25
    #: Share of the PV homes that also have a battery.
    battery_share: float = 0.0
    weather: WeatherKind = WeatherKind.TYPICAL

    def __post_init__(self) -> None:
        for name in ("pv_share", "battery_share"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise MeterDataError(f"{name} must be between 0 and 1, got {value!r}")


def has_share(index: int, share: float) -> bool:
    """Whether item `index` of a sequence is one of the `share` picked evenly (ceil rule)."""
    exact = Fraction(share).limit_denominator(1000)
    return math.ceil((index + 1) * exact) > math.ceil(index * exact)


def _easter(year: int) -> date:
    # Anonymous Gregorian computus (Meeus/Jones/Butcher).
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def belgian_holidays(year: int) -> dict[date, str]:
    """Belgian public holidays (the load profile treats them as Sundays)."""
    easter = _easter(year)
    fixed = {
        (1, 1): "New Year",
        (5, 1): "Labour Day",
        (7, 21): "National Day",
        (8, 15): "Assumption",
        (11, 1): "All Saints",
        (11, 11): "Armistice",
        (12, 25): "Christmas",
    }
    holidays = {date(year, month, day): name for (month, day), name in fixed.items()}
    holidays[easter + timedelta(days=1)] = "Easter Monday"
    holidays[easter + timedelta(days=39)] = "Ascension"
    holidays[easter + timedelta(days=50)] = "Whit Monday"
    return holidays


@dataclass(frozen=True)
class Household:
    """Seeded parameters of one simulated household."""

    annual_load_kwh: float
    pv_kwp: float
    initial_import_wh: int
    initial_export_wh: int
    #: The roof's name (`ROOFS`), its tilt (deg) and azimuth (deg, 180 = south); "" without PV.
    roof: str = ""
    tilt_deg: float = 0.0
    azimuth_deg: float = 0.0
    appliances: Appliances = field(default_factory=lambda: Appliances(3_000.0, 0.0, 0.0))
    battery_wh: int = 0
    battery_w: int = 0

    @classmethod
    def draw(cls, seed: int, index: int, settings: FleetSettings | None = None) -> Household:
        """Draw household `index` of the fleet seeded with `seed`: every draw is made whatever
        the settings, so a setting changes what it sets and nothing else."""
        settings = settings or FleetSettings()
        rng = np.random.default_rng([seed, index, 1])
        annual = float(rng.uniform(2_500.0, 5_000.0))
        kwp = float(rng.triangular(2.5, 4.5, 8.0))
        roof = int(rng.choice(len(ROOFS), p=[w / 100 for *_, w in ROOFS]))
        tilt = float(rng.choice(TILTS_DEG, p=[w / 100 for w in _TILT_WEIGHTS]))
        initial_import = int(rng.integers(1_000_000, 20_000_000))
        initial_export = int(rng.integers(0, 10_000_000))
        battery_wh = int(rng.choice([5_000, 7_500, 10_000]))
        battery_w = int(rng.choice([2_500, 3_700, 5_000]))
        appliances = Appliances.draw(rng)
        has_pv = has_share(index, settings.pv_share)
        pv_rank = math.ceil(index * Fraction(settings.pv_share).limit_denominator(1000))
        has_battery = has_pv and has_share(pv_rank, settings.battery_share)
        name, azimuth, _ = ROOFS[roof]
        return cls(
            annual_load_kwh=annual,
            pv_kwp=round(kwp, 1) if has_pv else 0.0,
            initial_import_wh=initial_import,
            initial_export_wh=initial_export if has_pv else 0,
            roof=name if has_pv else "",
            tilt_deg=tilt if has_pv else 0.0,
            azimuth_deg=azimuth if has_pv else 0.0,
            appliances=appliances,
            battery_wh=battery_wh if has_battery else 0,
            battery_w=battery_w if has_battery else 0,
        )


@dataclass(frozen=True)
class YearFlows:
    """Every household's quarter-hours of one year (UTC), whole Wh, shape (N, slots).

    import_wh - export_wh = load_wh - pv_wh + battery_charged_wh - battery_discharged_wh.
    """

    year: int
    load_wh: IntArray
    pv_wh: IntArray
    battery_charged_wh: IntArray
    battery_discharged_wh: IntArray
    #: The part of the discharge fed into the grid (the battery's rule 3).
    battery_exported_wh: IntArray
    #: Charge in each battery at the end of each quarter-hour.
    battery_stored_wh: IntArray
    import_wh: IntArray
    export_wh: IntArray


@dataclass(frozen=True)
class DayRegisters:
    """Registers of N households at the start of a UTC day and at the end of its 96 intervals.

    `import_wh[h][j]` is household h's import register at unix time first_interval_id*900 +
    j*900, so column j > 0 is the reading of interval `first_interval_id + j - 1`.
    """

    first_interval_id: int
    import_wh: tuple[tuple[int, ...], ...]
    export_wh: tuple[tuple[int, ...], ...]


class SimulatedFleet:
    """N simulated households; yearly profiles are computed once, on first use, and cached."""

    def __init__(
        self, households: int, seed: int = 0, settings: FleetSettings | None = None
    ) -> None:
        if households < 1:
            raise MeterDataError("a simulated fleet needs at least one household")
        self.households = households
        self.seed = seed
        self.settings = settings or FleetSettings()
        self.members = [Household.draw(seed, index, self.settings) for index in range(households)]
        self._years: dict[int, tuple[IntArray, IntArray]] = {}
        self._weather: dict[int, YearWeather] = {}

    def weather(self, year: int) -> YearWeather:
        """The neighbourhood's weather of `year` (the same clouds over every roof)."""
        if year not in self._weather:
            self._weather[year] = year_weather(year, self.seed, self.settings.weather)
        return self._weather[year]

    def year_flows(self, year: int) -> YearFlows:
        """Load, PV, battery and meter flows of every household over `year` (not cached: the
        fleet keeps the registers only)."""
        calendar = Calendar.of(year, belgian_holidays(year))
        weather = self.weather(year)
        slots = len(calendar.h0)
        shape = (self.households, slots)
        load, pv = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        charged, discharged = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        exported, stored = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        for h, member in enumerate(self.members):
            rng = np.random.default_rng([self.seed, h, year])
            load_w = home_load_w(calendar, member.annual_load_kwh, member.appliances, rng)
            load[h] = np.rint(load_w / 4.0).astype(np.int64)
            if member.pv_kwp:
                pv[h] = np.rint(self._pv_w(member, weather) / 4.0).astype(np.int64)
            if member.battery_wh:
                flows = dispatch(
                    load[h] - pv[h], member.battery_wh, member.battery_w, calendar.slot_local_hour
                )
                charged[h], discharged[h] = flows.charged_wh, flows.discharged_wh
                exported[h], stored[h] = flows.exported_wh, flows.stored_wh
        net = load - pv + charged - discharged
        return YearFlows(
            year,
            load,
            pv,
            charged,
            discharged,
            exported,
            stored,
            import_wh=net.clip(min=0),
            export_wh=(-net).clip(min=0),
        )

    @staticmethod
    def _pv_w(member: Household, weather: YearWeather) -> FloatArray:
        """A home's PV output, W: its roof's irradiance x kWp x the performance ratio."""
        if member.roof == "east-west":
            plane = (
                weather.plane_of_array(member.tilt_deg, 90.0)
                + weather.plane_of_array(member.tilt_deg, 270.0)
            ) / 2
        else:
            plane = weather.plane_of_array(member.tilt_deg, member.azimuth_deg)
        return plane * member.pv_kwp * PERFORMANCE_RATIO

    def _year(self, year: int) -> tuple[IntArray, IntArray]:
        """Cumulative (import, export) Wh since 1 January of `year`, shape (N, slots + 1)."""
        if year not in self._years:
            flows = self.year_flows(year)
            zeros = np.zeros((self.households, 1), dtype=np.int64)
            self._years[year] = (
                np.concatenate([zeros, flows.import_wh.cumsum(axis=1)], axis=1),
                np.concatenate([zeros, flows.export_wh.cumsum(axis=1)], axis=1),
            )
        return self._years[year]

    def registers_at(self, unix_s: int) -> tuple[IntArray, IntArray]:
        """(import, export) registers of every household at the last interval boundary <= t."""
        boundary = datetime.fromtimestamp(unix_s - unix_s % INTERVAL_SECONDS, tz=UTC)
        if boundary.year < EPOCH_YEAR:
            raise MeterDataError(f"simulated meters start on 1 January {EPOCH_YEAR} (UTC)")
        imported = np.array([m.initial_import_wh for m in self.members], dtype=np.int64)
        exported = np.array([m.initial_export_wh for m in self.members], dtype=np.int64)
        for year in range(EPOCH_YEAR, boundary.year):
            year_import, year_export = self._year(year)
            imported, exported = imported + year_import[:, -1], exported + year_export[:, -1]
        year_start = datetime(boundary.year, 1, 1, tzinfo=UTC)
        slot = int((boundary - year_start).total_seconds()) // INTERVAL_SECONDS
        year_import, year_export = self._year(boundary.year)
        return imported + year_import[:, slot], exported + year_export[:, slot]

    def day_registers(self, day: date) -> DayRegisters:
        """Registers of every household at each of the 97 boundaries of a UTC day."""
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        columns = [
            self.registers_at(start + j * INTERVAL_SECONDS) for j in range(_SLOTS_PER_DAY + 1)
        ]
        imported = np.stack([column[0] for column in columns], axis=1)
        exported = np.stack([column[1] for column in columns], axis=1)
        return DayRegisters(
            first_interval_id=start // INTERVAL_SECONDS,
            import_wh=tuple(tuple(int(v) for v in row) for row in imported.tolist()),
            export_wh=tuple(tuple(int(v) for v in row) for row in exported.tolist()),
        )


class SimulatedMeter:
    """One household of a fleet, read through the adapter protocol at the clock's time."""

    def __init__(
        self, fleet: SimulatedFleet, index: int, clock: Callable[[], float] = time.time
    ) -> None:
        if not 0 <= index < fleet.households:
            raise MeterDataError(f"household {index} is not in a fleet of {fleet.households}")
        self._fleet, self._index, self._clock = fleet, index, clock

    def read(self) -> MeterSnapshot:
        """Return the registers at the last interval boundary before now."""
        now = int(self._clock())
        imported, exported = self._fleet.registers_at(now)
        boundary = now - now % INTERVAL_SECONDS
        import_wh, export_wh = int(imported[self._index]), int(exported[self._index])
        return MeterSnapshot(
            equipment_id=f"SIM-{self._fleet.seed}-{self._index:04d}",
            import_wh=Registers(import_wh, 0, import_wh),
            export_wh=Registers(export_wh, 0, export_wh),
            meter_timestamp=datetime.fromtimestamp(boundary, tz=UTC),
        )


def describe(fleet: SimulatedFleet) -> list[dict[str, Any]]:
    """The seeded parameters of each household (for logs and the demo)."""
    return [
        {
            "index": i,
            "annual_load_kwh": round(m.annual_load_kwh),
            "pv_kwp": round(m.pv_kwp, 1),
            "roof": m.roof,
            "tilt_deg": m.tilt_deg,
            "battery_wh": m.battery_wh,
            "ev_charger_w": round(m.appliances.ev_charger_w),
            "heat_pump_kwh": round(m.appliances.heat_pump_kwh),
        }
        for i, m in enumerate(fleet.members)
    ]

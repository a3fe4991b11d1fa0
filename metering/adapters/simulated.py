"""Simulated households: BDEW H0 load (demandlib) and clear-sky PV (pvlib) in Wallonia.

A `SimulatedFleet` computes a whole year for N households at once, vectorised (one pvlib and
one demandlib call per year, numpy for the rest), then answers any interval by lookup, so a demo
of 100 households x 96 intervals costs one computation. Everything is seeded: household i's
profile depends only on (seed, i), not on how many households are simulated.

Model (floats live only inside the physical model; registers are integers):
- load: the dynamised H0 standard load profile (demandlib's h0_dyn: BDEW's season factor, so
  a January day draws about 40 % more than a June day) scaled to a seeded annual consumption
  (2,500-5,000 kWh) times seeded log-normal noise per quarter-hour; households live by the
  Brussels wall clock, so each UTC quarter-hour reads the profile at its local time (summer
  time included: the evening peak is at 18:00 local all year, 16:00 UTC in June);
- PV: pvlib Ineichen clear-sky irradiance on a 35 deg south-facing plane at 50.4 N 4.4 E, times a
  performance ratio of 0.85 and a seeded daily clearness shared by the neighbourhood (the same
  clouds pass over every roof); about 60 % of households own 2-8 kWp;
- per interval: net = load - PV; import = max(net, 0), export = max(-net, 0), rounded to whole Wh,
  then accumulated from seeded initial register values on 1 January of `EPOCH_YEAR` (UTC).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from metering.adapters.base import MeterSnapshot, Registers
from metering.errors import MeterDataError
from metering.reading import INTERVAL_SECONDS

LATITUDE_DEG, LONGITUDE_DEG, ALTITUDE_M = 50.4, 4.4, 150.0
TILT_DEG, AZIMUTH_DEG, PERFORMANCE_RATIO = 35.0, 180.0, 0.85
EPOCH_YEAR = 2026
LOCAL_ZONE = "Europe/Brussels"
_SLOTS_PER_DAY = 86400 // INTERVAL_SECONDS
_LOAD_NOISE_SIGMA = 0.35

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


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


def _year_shapes(year: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """(H0 kWh per slot for 1 kWh/year, PV kWh per slot per kWp) for every UTC slot of `year`."""
    import pandas as pd  # type: ignore[import-untyped]  # lazy: ~1 s to import with pvlib
    import pvlib  # type: ignore[import-untyped]
    from demandlib import bdew  # type: ignore[import-untyped]

    h0 = bdew.ElecSlp(year, holidays=belgian_holidays(year)).get_scaled_profiles({"h0_dyn": 1.0})
    profile = h0["h0_dyn"].to_numpy(dtype=np.float64)
    times = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", tz="UTC")[:-1]
    # The profile is indexed by wall-clock time: UTC slot i reads the slot of its Brussels
    # local time (an autumn hour twice, a spring hour never; the last hour of 31 December,
    # already next year locally, wraps to the year's first).
    local = times.tz_convert(LOCAL_ZONE).tz_localize(None)
    steps = (local - pd.Timestamp(f"{year}-01-01")) // pd.Timedelta(minutes=15)
    load_shape = profile[np.asarray(steps, dtype=np.int64) % len(profile)]
    # pvlib at the slot's midpoint: energy over the quarter-hour, not the value at its start.
    midpoints = times + pd.Timedelta(minutes=7.5)
    site = pvlib.location.Location(LATITUDE_DEG, LONGITUDE_DEG, tz="UTC", altitude=ALTITUDE_M)
    clear_sky = site.get_clearsky(midpoints)
    sun = site.get_solarposition(midpoints)
    poa = pvlib.irradiance.get_total_irradiance(
        TILT_DEG,
        AZIMUTH_DEG,
        sun["apparent_zenith"],
        sun["azimuth"],
        clear_sky["dni"],
        clear_sky["ghi"],
        clear_sky["dhi"],
    )
    days = len(times) // _SLOTS_PER_DAY
    clearness = np.random.default_rng([seed, year, 0]).beta(2.0, 1.5, size=days).clip(0.1, 1.0)
    poa_w_m2 = np.nan_to_num(poa["poa_global"].to_numpy(dtype=np.float64)).clip(min=0.0)
    pv_shape = poa_w_m2 / 1000.0 * 0.25 * PERFORMANCE_RATIO * np.repeat(clearness, _SLOTS_PER_DAY)
    if len(load_shape) != len(pv_shape):
        raise MeterDataError(f"load and PV profiles of {year} disagree in length")
    return load_shape, pv_shape


@dataclass(frozen=True)
class Household:
    """Seeded parameters of one simulated household."""

    annual_load_kwh: float
    pv_kwp: float
    initial_import_wh: int
    initial_export_wh: int

    @classmethod
    def draw(cls, seed: int, index: int) -> Household:
        """Draw household `index` of the fleet seeded with `seed`."""
        rng = np.random.default_rng([seed, index, 1])
        has_pv = bool(rng.random() < 0.6)
        return cls(
            annual_load_kwh=float(rng.uniform(2500.0, 5000.0)),
            pv_kwp=float(rng.uniform(2.0, 8.0)) if has_pv else 0.0,
            initial_import_wh=int(rng.integers(1_000_000, 20_000_000)),
            initial_export_wh=int(rng.integers(0, 10_000_000)) if has_pv else 0,
        )


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

    def __init__(self, households: int, seed: int = 0) -> None:
        if households < 1:
            raise MeterDataError("a simulated fleet needs at least one household")
        self.households = households
        self.seed = seed
        self.members = [Household.draw(seed, index) for index in range(households)]
        self._years: dict[int, tuple[IntArray, IntArray]] = {}

    def _year(self, year: int) -> tuple[IntArray, IntArray]:
        """Cumulative (import, export) Wh since 1 January of `year`, shape (N, slots + 1)."""
        if year not in self._years:
            load_shape, pv_shape = _year_shapes(year, self.seed)
            annual = np.array([m.annual_load_kwh for m in self.members])
            kwp = np.array([m.pv_kwp for m in self.members])
            noise = np.stack(
                [
                    np.random.default_rng([self.seed, index, year]).lognormal(
                        0.0, _LOAD_NOISE_SIGMA, size=len(load_shape)
                    )
                    for index in range(self.households)
                ]
            ) / np.exp(_LOAD_NOISE_SIGMA**2 / 2)  # keep the annual mean
            net_kwh = annual[:, None] * load_shape[None, :] * noise - kwp[:, None] * pv_shape
            import_wh = np.rint(net_kwh.clip(min=0.0) * 1000.0).astype(np.int64)
            export_wh = np.rint((-net_kwh).clip(min=0.0) * 1000.0).astype(np.int64)
            zeros = np.zeros((self.households, 1), dtype=np.int64)
            self._years[year] = (
                np.concatenate([zeros, import_wh.cumsum(axis=1)], axis=1),
                np.concatenate([zeros, export_wh.cumsum(axis=1)], axis=1),
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
        {"index": i, "annual_load_kwh": round(m.annual_load_kwh), "pv_kwp": round(m.pv_kwp, 1)}
        for i, m in enumerate(fleet.members)
    ]

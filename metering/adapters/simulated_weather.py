"""Seeded Belgian weather for the simulated fleet: sun, clouds, direct and diffuse light.

Model (one year, every UTC quarter-hour, irradiance at the quarter-hour's midpoint):
- clear sky: pvlib's solar position (NREL SPA) and Ineichen clear-sky irradiance with its
  Linke turbidity climatology at the demo site;
- clouds: a clear-sky index k (GHI / clear-sky GHI) drawn in two layers, seeded by
  (seed, year) only, so the same clouds pass over every roof of the neighbourhood:
  1. per day, c_d ~ Beta(mu_m * KAPPA, (1 - mu_m) * KAPPA), mu_m the month's mean index
     (target / clear sky), days independent;
  2. per quarter-hour, k = c_d * exp(sigma_d * x - sigma_d^2 / 2) with x a unit AR(1) series
     (lag-one correlation PHI: clouds last about an hour) and sigma_d = SIGMA_MAX * 4 c_d
     (1 - c_d): overcast and clear days are steady, broken-cloud days flicker;
  k is clipped to [K_MIN, K_MAX] (cloud edges briefly lift GHI above clear sky);
- calibration ("typical"): each month's indices are then scaled so that the simulated month's
  mean daily horizontal irradiation is the target below (a typical meteorological year: the
  months hit the normals, the days vary); "cloudy" hits CLOUDY_SHARE of them with duller days;
  "clear" is clear sky every day (c_d in [0.95, 1], little flicker), uncalibrated;
- direct/diffuse: pvlib's Erbs model splits each quarter-hour's GHI by its clearness index
  (an overcast sky is all diffuse light, a clear one mostly direct), and pvlib's
  get_total_irradiance (Hay-Davies sky, albedo 0.2) transposes it onto each roof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from metering.errors import MeterDataError

LATITUDE_DEG, LONGITUDE_DEG, ALTITUDE_M = 50.4, 4.4, 150.0
FloatArray = npt.NDArray[np.float64]
SLOTS_PER_DAY = 96

#: Mean daily global horizontal irradiation per month, Wh/m2 a day. Source: KMI/IRM climate
#: atlas, "rayonnement solaire global" (normals 1991-2020, mean over Belgium,
#: https://www.meteo.be/fr/climat/climat-de-la-belgique/atlas-climatique/cartes-climatiques/
#: rayonnement-solaire/rayonnement-solaire-global): 545 in December, 5,270 in June, 2,880 over
#: the year. The atlas page gives those three figures only; the other months are interpolated
#: (assumed): the ratio to Ineichen clear sky at the site, r = a + b cos(t) + c cos(2t) with t
#: the month's angle from June, fitted to December, June and the annual mean exactly.
MONTHLY_GHI_WH_M2_DAY = (731, 1461, 2634, 3978, 4884, 5270, 5057, 4221, 3041, 1782, 871, 545)
#: Spread of the daily index around the month's mean (Beta concentration).
KAPPA = 3.0
#: Quarter-hour persistence of the cloud noise and its largest log-amplitude.
PHI, SIGMA_MAX = 0.9, 0.5
K_MIN, K_MAX = 0.02, 1.1
#: "cloudy": months at this share of their normal irradiation (assumed: a dull spell).
CLOUDY_SHARE = 0.5
_CALIBRATION_ROUNDS = 6


class WeatherKind(StrEnum):
    """The sky over the simulated year (`quartier demo --weather`)."""

    CLEAR = "clear"
    TYPICAL = "typical"
    CLOUDY = "cloudy"


@dataclass(frozen=True)
class YearWeather:
    """Irradiance (W/m2) at every UTC quarter-hour's midpoint of one year."""

    year: int
    kind: WeatherKind
    ghi: FloatArray
    dni: FloatArray
    dhi: FloatArray
    clear_sky_ghi: FloatArray
    _sun: dict[str, FloatArray] = field(repr=False, compare=False)
    _dni_extra: FloatArray = field(repr=False, compare=False)
    _poa: dict[tuple[float, float], FloatArray] = field(
        default_factory=dict, repr=False, compare=False
    )

    def daily_horizontal_wh_m2(self) -> FloatArray:
        """Global horizontal irradiation of each day (UTC), Wh/m2."""
        daily: FloatArray = self.ghi.reshape(-1, SLOTS_PER_DAY).sum(axis=1) * 0.25
        return daily

    def monthly_mean_daily_wh_m2(self) -> FloatArray:
        """Mean daily horizontal irradiation of each month (UTC days), Wh/m2 a day."""
        days = self.daily_horizontal_wh_m2()
        months = _day_months(self.year)
        return np.array([days[months == m].mean() for m in range(1, 13)], dtype=np.float64)

    def plane_of_array(self, tilt_deg: float, azimuth_deg: float) -> FloatArray:
        """Irradiance on a roof plane (tilt from horizontal, azimuth 180 = south), W/m2."""
        key = (float(tilt_deg), float(azimuth_deg))
        if key not in self._poa:
            import pvlib  # type: ignore[import-untyped]

            poa = pvlib.irradiance.get_total_irradiance(
                tilt_deg,
                azimuth_deg,
                self._sun["apparent_zenith"],
                self._sun["azimuth"],
                self.dni,
                self.ghi,
                self.dhi,
                dni_extra=self._dni_extra,
                model="haydavies",
                albedo=0.2,
            )
            values = np.nan_to_num(np.asarray(poa["poa_global"], dtype=np.float64))
            self._poa[key] = values.clip(min=0.0)
        return self._poa[key]


def _day_months(year: int) -> npt.NDArray[np.int64]:
    start = np.datetime64(f"{year}-01-01")
    days = start + np.arange((np.datetime64(f"{year + 1}-01-01") - start).astype(int))
    return (days.astype("datetime64[M]").astype(int) % 12 + 1).astype(np.int64)


def _cloud_index(
    clear_ghi: FloatArray, months: npt.NDArray[np.int64], kind: WeatherKind, seed: int, year: int
) -> FloatArray:
    """The clear-sky index of every quarter-hour, shape (days, 96) (module docstring)."""
    days = len(months)
    rng = np.random.default_rng([seed, year, 0x5EA7])
    noise = rng.standard_normal((days, SLOTS_PER_DAY))
    x = np.empty_like(noise)
    x[:, 0] = noise[:, 0]
    for t in range(1, SLOTS_PER_DAY):
        x[:, t] = PHI * x[:, t - 1] + np.sqrt(1 - PHI**2) * noise[:, t]
    clear_daily = clear_ghi.sum(axis=1) * 0.25
    targets = np.array(MONTHLY_GHI_WH_M2_DAY, dtype=np.float64)[months - 1]
    if kind is WeatherKind.CLOUDY:
        targets = targets * CLOUDY_SHARE
    mean_index = np.array(
        [targets[months == m].mean() / clear_daily[months == m].mean() for m in range(1, 13)]
    )[months - 1].clip(0.05, 0.95)
    uniform = rng.random(days)  # drawn for every kind: the same stream whatever the sky
    daily = rng.beta(mean_index * KAPPA, (1 - mean_index) * KAPPA)
    if kind is WeatherKind.CLEAR:
        daily, sigma = 0.95 + 0.05 * uniform, np.full(days, 0.02)
    else:
        sigma = SIGMA_MAX * 4 * daily * (1 - daily)
    index = (daily[:, None] * np.exp(sigma[:, None] * x - sigma[:, None] ** 2 / 2)).clip(
        K_MIN, K_MAX
    )
    if kind is WeatherKind.CLEAR:
        return index
    for _ in range(_CALIBRATION_ROUNDS):
        simulated = (index * clear_ghi).sum(axis=1) * 0.25
        for m in range(1, 13):
            month = months == m
            index[month] *= targets[month].sum() / simulated[month].sum()
        index = index.clip(K_MIN, K_MAX)
    return index


def year_weather(year: int, seed: int, kind: WeatherKind = WeatherKind.TYPICAL) -> YearWeather:
    """The seeded weather of `year` at the demo site (module docstring)."""
    import pandas as pd  # type: ignore[import-untyped]  # lazy: ~1 s to import with pvlib
    import pvlib

    starts = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="15min", tz="UTC")[:-1]
    if len(starts) % SLOTS_PER_DAY:
        raise MeterDataError(f"{year} does not split into whole UTC days")
    # Irradiance at the slot's midpoint stands for the energy over the quarter-hour.
    midpoints = starts + pd.Timedelta(minutes=7.5)
    site = pvlib.location.Location(LATITUDE_DEG, LONGITUDE_DEG, tz="UTC", altitude=ALTITUDE_M)
    sun = site.get_solarposition(midpoints)
    clear = site.get_clearsky(midpoints, solar_position=sun)
    clear_ghi = np.nan_to_num(clear["ghi"].to_numpy(dtype=np.float64)).clip(min=0.0)
    months = _day_months(year)
    index = _cloud_index(clear_ghi.reshape(-1, SLOTS_PER_DAY), months, kind, seed, year)
    ghi = (index.reshape(-1) * clear_ghi).astype(np.float64)
    split = pvlib.irradiance.erbs(ghi, sun["zenith"].to_numpy(), midpoints)
    dni = np.nan_to_num(np.asarray(split["dni"], dtype=np.float64)).clip(min=0.0)
    dhi = np.nan_to_num(np.asarray(split["dhi"], dtype=np.float64)).clip(min=0.0)
    dni_extra = pvlib.irradiance.get_extra_radiation(midpoints).to_numpy(dtype=np.float64)
    angles = {name: sun[name].to_numpy(dtype=np.float64) for name in ("apparent_zenith", "azimuth")}
    return YearWeather(year, kind, ghi, dni, dhi, clear_ghi, angles, dni_extra)

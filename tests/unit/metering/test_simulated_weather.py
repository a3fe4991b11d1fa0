"""The simulated weather: calibrated to the KMI/IRM normals, clouds by day and quarter-hour,
direct and diffuse light split, roofs that face somewhere."""

from __future__ import annotations

import numpy as np
import pytest

from metering.adapters.simulated_weather import (
    MONTHLY_GHI_WH_M2_DAY,
    SLOTS_PER_DAY,
    WeatherKind,
    YearWeather,
    year_weather,
)

#: A simulated month's mean daily horizontal irradiation may miss its normal by this much
#: (the calibration scales each month to it; clipping the clear-sky index leaves a little).
TOLERANCE = 0.02
DECEMBER, JUNE = 11, 5


@pytest.fixture(scope="module")
def years() -> dict[WeatherKind, YearWeather]:
    return {kind: year_weather(2026, 7, kind) for kind in WeatherKind}


@pytest.mark.parametrize("seed", [7, 1234])
def test_typical_months_hit_the_belgian_normals(seed: int) -> None:
    means = year_weather(2026, seed, WeatherKind.TYPICAL).monthly_mean_daily_wh_m2()
    assert MONTHLY_GHI_WH_M2_DAY[DECEMBER] == 545
    assert MONTHLY_GHI_WH_M2_DAY[JUNE] == 5_270
    for month in (DECEMBER, JUNE):
        target = MONTHLY_GHI_WH_M2_DAY[month]
        assert abs(means[month] - target) <= TOLERANCE * target, (month, means[month])
    # and every other month too, so the year is about the atlas' 2,880 Wh/m2 a day
    assert np.allclose(means, MONTHLY_GHI_WH_M2_DAY, rtol=TOLERANCE)
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    assert abs((means * days).sum() / 365 - 2_880) < 0.02 * 2_880


def test_clear_is_brighter_than_typical_and_typical_than_cloudy(
    years: dict[WeatherKind, YearWeather],
) -> None:
    clear, typical, cloudy = (
        years[kind].monthly_mean_daily_wh_m2()
        for kind in (WeatherKind.CLEAR, WeatherKind.TYPICAL, WeatherKind.CLOUDY)
    )
    assert (clear > typical).all()
    assert (typical > cloudy).all()
    # a clear June day at 50 N: some 7 kWh/m2; a dull one far less
    assert clear[JUNE] > 7_000
    assert cloudy[JUNE] < 0.6 * typical[JUNE]


def test_clouds_vary_by_day_and_by_quarter_hour(years: dict[WeatherKind, YearWeather]) -> None:
    typical = years[WeatherKind.TYPICAL]
    june_days = typical.daily_horizontal_wh_m2()[151:181]
    assert june_days.max() > 2 * june_days.min()  # sunny and dull days in one month
    clear_sky = typical.clear_sky_ghi.reshape(-1, SLOTS_PER_DAY)
    index = typical.ghi.reshape(-1, SLOTS_PER_DAY) / np.where(clear_sky > 50, clear_sky, np.nan)
    spread = np.nanstd(index[151:181], axis=1)  # within each June day
    assert (spread > 0.05).sum() >= 10  # broken clouds on many days
    clear = years[WeatherKind.CLEAR]
    clear_index = clear.ghi / np.where(clear.clear_sky_ghi > 50, clear.clear_sky_ghi, np.nan)
    assert np.nanmin(clear_index) > 0.85  # 0.95-1 a day, 2 % flicker


def test_direct_and_diffuse_follow_the_sky(years: dict[WeatherKind, YearWeather]) -> None:
    """Erbs: a clear sky is mostly direct light, an overcast one mostly diffuse."""
    june = slice(151 * SLOTS_PER_DAY, 181 * SLOTS_PER_DAY)
    for kind, most_diffuse in ((WeatherKind.CLEAR, 0.35), (WeatherKind.CLOUDY, 1.0)):
        weather = years[kind]
        assert ((weather.dhi <= weather.ghi + 1e-6) & (weather.dni >= 0)).all()
        share = weather.dhi[june].sum() / weather.ghi[june].sum()
        assert share <= most_diffuse
    clear_share = (
        years[WeatherKind.CLEAR].dhi[june].sum() / years[WeatherKind.CLEAR].ghi[june].sum()
    )
    cloudy_share = (
        years[WeatherKind.CLOUDY].dhi[june].sum() / years[WeatherKind.CLOUDY].ghi[june].sum()
    )
    assert cloudy_share > clear_share + 0.3


def test_east_roofs_peak_before_south_and_west(years: dict[WeatherKind, YearWeather]) -> None:
    clear = years[WeatherKind.CLEAR]
    day = slice(172 * SLOTS_PER_DAY, 173 * SLOTS_PER_DAY)  # 22 June, UTC
    peak = {
        azimuth: int(np.argmax(clear.plane_of_array(35.0, azimuth)[day]))
        for azimuth in (90.0, 180.0, 270.0)
    }
    assert peak[90.0] + 8 <= peak[180.0] <= peak[270.0] - 8  # two hours apart at least
    # east gets the morning, west the evening
    east, west = clear.plane_of_array(35.0, 90.0)[day], clear.plane_of_array(35.0, 270.0)[day]
    assert east[:48].sum() > 2 * west[:48].sum()
    assert west[48:].sum() > 2 * east[48:].sum()
    # a south roof tilted 35 deg collects more over the year than the horizontal
    assert clear.plane_of_array(35.0, 180.0).sum() > clear.ghi.sum()


def test_the_same_seed_gives_the_same_sky() -> None:
    first = year_weather(2026, 3, WeatherKind.TYPICAL)
    again = year_weather(2026, 3, WeatherKind.TYPICAL)
    other = year_weather(2026, 4, WeatherKind.TYPICAL)
    assert np.array_equal(first.ghi, again.ghi)
    assert not np.array_equal(first.ghi, other.ghi)

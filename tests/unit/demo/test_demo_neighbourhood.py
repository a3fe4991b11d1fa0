"""The demo's neighbourhood options: Brussels times on the command line, batteries that sell
in the evening and neighbours who bid for it, each within its own tariff."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from api.demo.agents import draw_limits, entry_for
from api.demo.cli import _parse_start
from api.demo.errors import DemoError
from api.demo.simulation import DaySimulation, simulate_day
from ledger.deploy_v2 import DEFAULT_RULES
from ledger.schedules import EntrySide
from metering.adapters.simulated import FleetSettings

DAY = date(2026, 6, 21)
BATTERIES = FleetSettings(pv_share=0.5, battery_share=1.0)


def test_start_is_brussels_time_on_the_given_day() -> None:
    assert _parse_start(None, DAY) == (DAY, 0)  # the settlement period from 00:00 UTC
    assert _parse_start("13:00", DAY) == (DAY, 44)  # 11:00 UTC in summer
    assert _parse_start("13:00", date(2026, 1, 14)) == (date(2026, 1, 14), 48)  # winter: +1 h
    # 01:00 in Brussels on 21 June is still 20 June in UTC
    assert _parse_start("01:00", DAY) == (date(2026, 6, 20), 92)
    for bad in ("1300", "13:10"):
        with pytest.raises(DemoError, match="--start"):
            _parse_start(bad, DAY)


@pytest.fixture(scope="module")
def evening() -> DaySimulation:
    # 16:00 UTC to midnight: 18:00-02:00 in Brussels, the batteries' selling hours inside.
    return simulate_day(6, DAY, 32, seed=11, start_slot=64, settings=BATTERIES)


def test_battery_homes_sell_in_the_evening_and_neighbours_bid_for_it(
    evening: DaySimulation,
) -> None:
    assert evening.battery_wh[0] > 0  # home 0 has PV, and with a battery share of 1 a battery
    assert [w > 0 for w in evening.battery_wh] == [kwp > 0 for kwp in evening.pv_kwp]
    limits = draw_limits(6, DEFAULT_RULES, seed=11)
    dark = [k for k in evening.interval_ids() if not evening.is_daylight(k)]
    assert dark
    sells = buys = 0
    for k in dark:
        local = datetime.fromtimestamp(k * 900, tz=UTC).hour + 2  # summer time
        for h in range(6):
            entry = entry_for(evening, h, limits[h], k)
            if entry.side is EntrySide.SELL:
                sells += 1
                assert evening.battery_wh[h] > 0  # only a battery sells in the dark
                assert 18 <= local < 22
                assert entry.price_per_kwh == limits[h].ask_at(evening.calendar_start(k))
            elif entry.side is EntrySide.BUY:
                buys += 1
                assert 18 <= local < 22  # buyers bid while the batteries may sell
                assert entry.price_per_kwh == limits[h].bid_at(evening.calendar_start(k))
    assert sells > 0
    assert buys > 0


def test_without_batteries_nobody_bids_in_the_dark() -> None:
    plain = simulate_day(6, DAY, 32, seed=11, start_slot=64)
    assert plain.battery_selling == ()
    limits = draw_limits(6, DEFAULT_RULES, seed=11)
    for k in plain.interval_ids():
        if not plain.is_daylight(k):
            assert all(entry_for(plain, h, limits[h], k).side is EntrySide.NONE for h in range(6))

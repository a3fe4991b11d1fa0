"""The demo's pure parts (no chain): the simulated day, the agents' policy, bills, charts.

They live beside the e2e test because they exist only for it; each runs in milliseconds once
the (cached) year of pvlib/demandlib profiles is computed.
"""

from __future__ import annotations

import xml.dom.minidom
from datetime import date

import pytest

from api.demo.agents import MIN_ORDER_WH, Prices, draw_limits, household_orders
from api.demo.neighbourhood import make_households
from api.demo.report import euros
from api.demo.simulation import DaySimulation, simulate_day, sun_is_up
from api.demo.summary import bill_units
from ledger.charts import Series, bar_chart, line_chart
from ledger.orders import Order, Side, recover_signer
from ledger.orders import SignedOrder as LedgerSignedOrder

DAY = date(2026, 6, 21)
MARKET = "0x" + "ab" * 20


@pytest.fixture(scope="module")
def day() -> DaySimulation:
    return simulate_day(4, DAY, 96, seed=3)


def test_the_same_seed_gives_the_same_day_and_another_seed_another(
    day: DaySimulation,
) -> None:
    assert simulate_day(4, DAY, 96, seed=3) == day
    assert simulate_day(4, DAY, 96, seed=4).import_wh != day.import_wh


def test_a_later_start_is_the_same_meters_shifted(day: DaySimulation) -> None:
    noon = simulate_day(4, DAY, 8, seed=3, start_slot=48)
    assert noon.first_interval_id == day.first_interval_id + 48
    for k in noon.interval_ids():
        for h in range(4):
            assert noon.registers(h, k) == day.registers(h, k)
            assert noon.metered(h, k) == day.metered(h, k)


def test_registers_never_decrease_and_a_long_run_crosses_midnight() -> None:
    late = simulate_day(2, DAY, 8, seed=3, start_slot=92)  # 23:00 to 01:00
    for h in range(2):
        assert list(late.import_wh[h]) == sorted(late.import_wh[h])
        assert list(late.export_wh[h]) == sorted(late.export_wh[h])
    assert len(late.import_wh[0]) == 9


def test_the_sun_is_up_at_noon_and_down_at_midnight_in_june(day: DaySimulation) -> None:
    first = day.first_interval_id
    assert sun_is_up(first + 48)
    assert not sun_is_up(first)
    # nobody's meter exports in the dark
    for k in day.interval_ids():
        if not sun_is_up(k):
            assert all(day.metered(h, k)[1] == 0 for h in range(day.households))


def test_agents_post_one_signed_order_from_their_own_forecast(day: DaySimulation) -> None:
    households = make_households(4, seed=3)
    index_of = {h.account.address: i for i, h in enumerate(households)}
    prices = Prices(40_000, 300_000)
    limits = draw_limits(4, prices, seed=3)
    posted = 0
    for k in day.interval_ids():
        bodies = household_orders(households, limits, day, k, 31337, MARKET)
        assert len({body["household"] for body in bodies}) == len(bodies)
        if not sun_is_up(k):
            assert all(body["side"] == "sell" for body in bodies)
        for body in bodies:
            forecast = day.forecast(index_of[body["household"]], k)
            wanted = forecast.export_wh if body["side"] == "sell" else forecast.import_wh
            assert body["energy_wh"] == wanted >= MIN_ORDER_WH
            assert prices.feed_in_per_kwh < body["price_per_kwh"] < prices.retail_per_kwh
            assert body["nonce"] == body["interval_id"] == k
            side = Side.SELL if body["side"] == "sell" else Side.BUY
            order = Order(body["household"], side, k, body["energy_wh"], body["price_per_kwh"], k)
            signature = body["signature"]
            signed = LedgerSignedOrder(
                order, signature["v"], int(signature["r"], 16), int(signature["s"], 16)
            )
            assert recover_signer(signed, 31337, MARKET) == body["household"]
            posted += 1
    assert posted > 0


def test_bills_round_imports_up_and_exports_down() -> None:
    assert bill_units(1, 0, 300_000, 40_000) == 300
    assert bill_units(0, 1, 300_000, 40_000) == -40
    assert bill_units(1, 0, 1, 1) == 1  # 0.001 unit owed is a whole unit
    assert bill_units(0, 1, 1, 1) == 0  # 0.001 unit earned is nothing
    assert euros(12_658_360) == "€12.658"
    assert euros(-170_000) == "-€0.170"


def test_charts_are_well_formed_svg() -> None:
    labels = ["00:00", "00:15", "00:30"]
    for svg in (
        line_chart("t", "Wh", labels, [Series("a", "#000", [1.0, None, 3.0])]),
        bar_chart("t", "Wh", labels, [Series("a", "#000", [1.0, 0.0, -2.0])]),
        line_chart("empty", "Wh", [], []),
    ):
        xml.dom.minidom.parseString(svg)

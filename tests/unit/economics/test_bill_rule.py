"""The Walloon bill rule on hand-computed examples, and the limits' rounding margin."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from api import settlement
from api.economics.bill import IntervalFlows, member_bill
from api.economics.errors import FlowsError
from api.economics.limits import MARGIN_PER_KWH, highest_bid_per_kwh, lowest_ask_per_kwh
from api.economics.tariff import Member, Offer, tariff_of

TARIFF = tariff_of("wallonia", 2026)
#: 21 June 2026 10:00 UTC = 12:00 in Brussels. ORES single-rate: energy 0.122, network
#: 0.085 + 0.029, taxes 0.063976, injection (variable) 0.004 EUR/kWh, VAT 6 %.
NOON = int(datetime(2026, 6, 21, 10, 0, tzinfo=UTC).timestamp())
SINGLE = Member("ORES", "variable-single", "variable-monthly")


def test_a_buyer_saves_the_energy_component_only() -> None:
    # 1 kWh taken, 0.4 of it from a neighbour for 0.04 EUR (0.10 EUR/kWh)
    bill = member_bill(TARIFF, SINGLE, [IntervalFlows(NOON, 1_000, 0, 400, 0)], -40_000)
    # alone: 1 kWh x 0.299976 x 1.06 = 0.31797456, rounded up
    assert bill.without_units == 317_975
    # 0.6 x 0.122 x 1.06 + 1 x 0.177976 x 1.06 + 0.04 = 0.30624656
    assert bill.with_units == 306_247
    # 0.4 kWh x (0.12932 - 0.10)
    assert bill.savings_units == 11_728
    assert bill.network_and_taxes_units == 188_655  # 0.177976 x 1.06, unchanged by sharing


def test_inside_one_building_the_shared_kwh_get_80_percent_off_the_network() -> None:
    member = replace(SINGLE, in_building=True)
    bill = member_bill(TARIFF, member, [IntervalFlows(NOON, 1_000, 0, 400, 0)], -40_000)
    # 0.4 kWh x 0.114 x 80 % x 1.06 = 0.0386688 less
    assert bill.with_units == 267_578
    assert bill.network_and_taxes_units == 149_986
    assert bill.without_units == 317_975


def test_a_seller_earns_the_price_instead_of_its_injection_price() -> None:
    bill = member_bill(TARIFF, SINGLE, [IntervalFlows(NOON, 0, 1_000, 0, 600)], 60_000)
    assert bill.without_units == -4_000  # 1 kWh x 0.004, no VAT on injection
    assert bill.with_units == -61_600  # 0.4 x 0.004 + 0.06 from the neighbour
    assert bill.savings_units == 57_600
    assert bill.network_and_taxes_units == 0


def test_flows_that_share_more_than_metered_are_refused() -> None:
    with pytest.raises(FlowsError, match="shares more than its meter measured"):
        member_bill(TARIFF, SINGLE, [IntervalFlows(NOON, 100, 0, 101, 0)], 0)
    with pytest.raises(FlowsError, match="negative energy"):
        member_bill(TARIFF, SINGLE, [IntervalFlows(NOON, -1, 0)], 0)


def test_limits_stay_inside_the_chains_band_and_own_prices() -> None:
    prices = TARIFF.prices(SINGLE, NOON)
    assert highest_bid_per_kwh(prices, 50_000, 350_000) == 122_000 * 106 // 100 - 1_000
    assert highest_bid_per_kwh(prices, 50_000, 100_000) == 100_000  # the ceiling
    assert highest_bid_per_kwh(prices, 130_000, 350_000) is None  # nothing to gain
    assert lowest_ask_per_kwh(prices, 50_000, 350_000) == 50_000  # the floor
    assert lowest_ask_per_kwh(prices, 0, 350_000) == 4_000 + MARGIN_PER_KWH
    assert lowest_ask_per_kwh(prices, 0, 4_000) is None


def test_the_margin_covers_the_chains_rounding_of_one_wh_at_the_limit() -> None:
    # Energy 0.100001 EUR/kWh: with VAT 0.10600106, so the bid is 0.105001. The community
    # price is set at that bid: the buyer pays 1 Wh x 0.105001 = 105.001 units, which the
    # chain rounds to 106 (payers round up). Without the margin it would pay 106.001 -> 107
    # for an energy saving of 106.00106 units: a loss of one unit.
    energy = Offer(
        "tight",
        TARIFF.band_sets["single"],
        {month: {"all": 100_001} for month in TARIFF.supplies["variable-single"].per_kwh},
    )
    tariff = replace(TARIFF, supplies={"tight": energy})
    buyer = Member("ORES", "tight", "fixed")
    bid = highest_bid_per_kwh(tariff.prices(buyer, NOON), 0, 350_000)
    assert bid is not None
    rules = settlement.Rules(settlement.Mechanism.COMMUNITY_PRICE, 900, 86_400, 1, 0, 350_000, bid)
    interval = NOON // 900
    seller, buyer_address = "0x" + "01" * 20, "0x" + "02" * 20
    deltas = {seller: (0, 1), buyer_address: (1, 0)}
    entries = {
        seller: settlement.Entry(settlement.Side.SELL, 1, 0),
        buyer_address: settlement.Entry(settlement.Side.BUY, 1, bid),
    }
    inputs = []
    for address in (seller, buyer_address):
        day = [(0, 0)] * 96
        day[interval % 96] = deltas[address]
        inputs.append(
            settlement.HouseholdInput(
                address,
                settlement.Window(0),
                [settlement.Posting(1, interval, settlement.encode_entries([entries[address]]))],
                [settlement.MeterInput(settlement.Window(0), settlement.encode_deltas(day))],
            )
        )
    settled = settlement.settle_period(rules, settlement.TimeGrid(900, 96), interval // 96, inputs)
    change = settled.household(buyer_address).change_units
    bill = member_bill(tariff, buyer, [IntervalFlows(NOON, 1, 0, 1, 0)], change)
    assert bill.savings_units >= 0
    assert (bid, change) == (105_001, -106)

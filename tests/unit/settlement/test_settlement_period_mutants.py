"""api.settlement.period: a household's period totals add up every interval it traded in, and
the household list is refused by name. Written for scripts/mutation's survivors (issue 17):
an accumulation turned into an assignment is the defect issue 17 found in the audit.
"""

from __future__ import annotations

import pytest
from settlement_strategies import address, plan

from api.settlement import (
    Entry,
    HouseholdInput,
    Mechanism,
    MeterInput,
    Posting,
    Rules,
    Side,
    TimeGrid,
    Window,
    encode_deltas,
    settle_period,
)
from api.settlement.errors import InvalidHouseholdsError
from api.settlement.period import order_households

GRID = TimeGrid(interval_seconds=900, period_intervals=4)
PERIOD = 10
K0 = 40
RULES = Rules(
    mechanism=Mechanism.PAY_AS_CLEAR,
    gate_lead_seconds=300,
    settlement_deadline_seconds=3600,
    min_entry_wh=1,
    price_floor_per_kwh=10,
    price_ceiling_per_kwh=100,
    community_price_per_kwh=50,
)


def _household(n: int, side: Side, price: int, flows: list[tuple[int, int]]) -> HouseholdInput:
    entries = [Entry(side, 100, price), Entry(side, 100, price)]
    meter = MeterInput(Window(0), encode_deltas([*flows, *[(0, 0)] * (4 - len(flows))]))
    return HouseholdInput(address(n), Window(0), (Posting(1, K0, plan(entries)),), (meter,))


def test_a_households_totals_add_up_every_interval_it_traded_in() -> None:
    # Seller 1 delivers 100 Wh in each of intervals 40 and 41, buyer 2 takes them.
    seller = _household(1, Side.SELL, 20, [(0, 100), (0, 100)])
    buyer = _household(2, Side.BUY, 80, [(100, 0), (100, 0)])
    result = settle_period(RULES, GRID, PERIOD, [buyer, seller])
    s, b = result.household(seller.address), result.household(buyer.address)
    assert (s.delivered_wh, b.received_wh) == (200, 200)
    per_interval = [i.netting.money_milli for i in result.intervals[:2]]
    assert all(m[b.index] < 0 < m[s.index] for m in per_interval)  # both intervals paid
    assert b.net_milli == sum(m[b.index] for m in per_interval)
    assert s.net_milli == sum(m[s.index] for m in per_interval)
    assert s.net_milli + b.net_milli == 0
    assert result.period_id == PERIOD


def test_an_unknown_household_is_a_key_error_naming_it() -> None:
    result = settle_period(RULES, GRID, PERIOD, [_household(1, Side.SELL, 20, [])])
    with pytest.raises(KeyError) as missing:
        result.household(address(9))
    assert missing.value.args == (address(9),)


def test_household_addresses_are_refused_by_name() -> None:
    good = _household(1, Side.SELL, 20, [])
    upper = HouseholdInput("0X" + address(3)[2:], good.membership, good.postings, good.meters)
    assert len(settle_period(RULES, GRID, PERIOD, [good, upper]).households) == 2
    cases = [
        ("0x1234", "'0x1234' is not a 0x-prefixed 20-byte hex address"),
        ("1x" + "0" * 40, f"'1x{'0' * 40}' is not a 0x-prefixed 20-byte hex address"),
        ("0x" + "g" * 40, f"'0x{'g' * 40}' is not a hex address"),
    ]
    for bad, message in cases:
        other = HouseholdInput(bad, good.membership, good.postings, good.meters)
        with pytest.raises(InvalidHouseholdsError) as refused:
            settle_period(RULES, GRID, PERIOD, [good, other])
        assert str(refused.value) == message


def test_a_leading_hex_digit_counts_in_the_settlement_order() -> None:
    # 0x1000...0 sorts after 0x0fff...f: the first hex digit after 0x is part of the value.
    high = "0x1" + "0" * 39
    low = "0x0" + "f" * 39
    a = HouseholdInput(high, Window(0), (Posting(1, K0, plan([None])),), ())
    b = HouseholdInput(low, Window(0), (Posting(1, K0, plan([None])),), ())
    order = [h.address.lower() for h in settle_period(RULES, GRID, PERIOD, [a, b]).households]
    assert order == [low, high]


def test_at_most_65535_households_as_hints_index_them_with_uint16() -> None:
    postings = (Posting(1, K0, plan([None])),)
    many = [HouseholdInput(address(n + 1), Window(0), postings, ()) for n in range(65_535)]
    assert len(order_households(many)) == 65_535
    many.append(HouseholdInput(address(65_536), Window(0), postings, ()))
    with pytest.raises(InvalidHouseholdsError) as refused:
        order_households(many)
    assert str(refused.value) == "65536 households: hints index with uint16"

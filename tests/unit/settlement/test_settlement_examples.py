"""Hand-computed settlements: each figure below is worked out in the comment beside it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from settlement_strategies import address, plan

from api.settlement import (
    Entry,
    HouseholdInput,
    Mechanism,
    MeterInput,
    PeriodSettlement,
    Posting,
    Rules,
    Side,
    TimeGrid,
    Window,
    decode_hints,
    encode_deltas,
    entry_at,
    unpack_cleared_intervals,
)
from api.settlement import settle_period as settle

GRID = TimeGrid(interval_seconds=900, period_intervals=4)
PERIOD = 10  # intervals 40..43
K0 = 40
START = GRID.period_start(PERIOD)  # 36,000 s
ALWAYS = Window(0)


def rules(mechanism: Mechanism = Mechanism.PAY_AS_CLEAR, **changes: int) -> Rules:
    values = {
        "gate_lead_seconds": 300,
        "settlement_deadline_seconds": 3600,
        "min_entry_wh": 1,
        "price_floor_per_kwh": 10,
        "price_ceiling_per_kwh": 100,
        "community_price_per_kwh": 50,
    }
    values.update(changes)
    return Rules(mechanism=mechanism, **values)


def sell(energy_wh: int, price: int) -> Entry:
    return Entry(Side.SELL, energy_wh, price)


def buy(energy_wh: int, price: int) -> Entry:
    return Entry(Side.BUY, energy_wh, price)


def household(
    n: int,
    entries: Sequence[Entry | None],
    flows: Sequence[tuple[int, int]] | None = None,
    membership: Window = ALWAYS,
) -> HouseholdInput:
    """Household n, one posting from interval 40, one meter with (import, export) per
    interval (missing intervals: 0), or no meter at all when flows is None."""
    meters: tuple[MeterInput, ...] = ()
    if flows is not None:
        padded = [*flows, *[(0, 0)] * (4 - len(flows))]
        meters = (MeterInput(Window(0), encode_deltas(padded)),)
    return HouseholdInput(address(n), membership, (Posting(1, K0, plan(entries)),), meters)


def by_index(result: PeriodSettlement, field: str) -> list[int]:
    return [getattr(settled, field) for settled in result.households]


def test_pay_as_clear_walk_fills_the_marginal_sell_partly_and_prices_the_midpoint() -> None:
    # Interval 40, H = 4, rank (h + 40) mod 4 = h. Sells h0 1000@20, h1 1000@40; buys h2
    # 1500@81, h3 1000@30. Walk: h0-h2 1000 Wh, h1-h2 500 Wh (h1 partly), then ask 40 > bid 30
    # stops. Marginal pair (40, 81): p = 121 // 2 = 60.
    result = settle(
        rules(),
        GRID,
        PERIOD,
        [
            household(1, [sell(1000, 20)], [(0, 1000)]),
            household(2, [sell(1000, 40)], [(0, 800)]),
            household(3, [buy(1500, 81)], [(2000, 0)]),
            household(4, [buy(1000, 30)], [(1000, 0)]),
        ],
    )
    first = result.intervals[0]
    assert first.clearing.traded_wh == (1000, 500, 1500, 0)
    assert (first.clearing.marginal_ask_per_kwh, first.clearing.marginal_bid_per_kwh) == (40, 81)
    assert (first.price_per_kwh, first.traded_wh, first.delivered_wh) == (60, 1500, 1500)
    # Money: 1000 * 60 = 60,000 milli = 60 units; 500 * 60 = 30 units; the buyer pays 90.
    assert by_index(result, "net_milli") == [60_000, 30_000, -90_000, 0]
    assert by_index(result, "change_units") == [60, 30, -90, 0]
    assert by_index(result, "delivered_wh") == [1000, 500, 0, 0]
    assert by_index(result, "received_wh") == [0, 0, 1500, 0]
    # Locks: ceil(1500 * 81 / 1000) = ceil(121.5) = 122; ceil(1000 * 30 / 1000) = 30.
    assert by_index(result, "released_units") == [0, 0, 122, 30]
    assert result.rounding_units == 0
    # Hints: interval 40 claims its marginal pair (40, 81); nothing matched in the other three.
    assert result.hints == bytes.fromhex("01 00000028 00000051" + "00" * 3)
    assert unpack_cleared_intervals(result.cleared_intervals) == (
        (60, 1500, 1500),
        (0, 0, 0),
        (0, 0, 0),
        (0, 0, 0),
    )
    assert result.cleared_intervals[:16] == bytes.fromhex("000000000000003c 000005dc 000005dc")


def test_seller_short_of_its_trade_scales_buyers_with_the_remainder_wh_to_the_first() -> None:
    # H = 3, rank (h + 40) mod 3: h0 1, h1 2, h2 0. Seller h0 1000@10; buyers h1 600@50 and
    # h2 400@50 tie, h2 (rank 0) first. All 1000 Wh trade; p = (10 + 50) // 2 = 30.
    # Meters: h0 exports only 701 Wh. S = 701, B = 1000, D = 701; sellers short: d0 = 701.
    # Buyers: floor(600 * 701 / 1000) = 420, floor(400 * 701 / 1000) = 280; 1 Wh left goes
    # to the first long-side household by h: h1 -> 421.
    result = settle(
        rules(),
        GRID,
        PERIOD,
        [
            household(1, [sell(1000, 10)], [(0, 701)]),
            household(2, [buy(600, 50)], [(600, 0)]),
            household(3, [buy(400, 50)], [(400, 0)]),
        ],
    )
    first = result.intervals[0]
    assert first.clearing.buy_ranking == (2, 1)
    assert first.clearing.traded_wh == (1000, 600, 400)
    assert first.netting.offered_wh == (701, 600, 400)
    assert first.netting.delivered_wh == (701, 421, 280)
    # 701 * 30 = 21,030 milli -> 21 units; -421 * 30 = -12,630 -> -13; -280 * 30 = -8,400 -> -9.
    assert by_index(result, "net_milli") == [21_030, -12_630, -8_400]
    assert by_index(result, "change_units") == [21, -13, -9]
    # -(21 - 13 - 9) = 1 unit of rounding to the settler.
    assert result.rounding_units == 1
    assert by_index(result, "received_wh") == [0, 421, 280]


def test_buyer_short_of_its_trade_scales_sellers_and_seller_forecast_error_too() -> None:
    # H = 3, ranks h0 1, h1 2, h2 0. Sellers h0 500@20 and h1 500@20 tie (h0 first); buyer
    # h2 1000@40. t = (500, 500, 1000), p = 30. Meters: h1 exports 300 (o1 = 300), h2
    # imports 601. S = 800, B = 601, D = 601: buyers short (d2 = 601), sellers long:
    # floor(500 * 601 / 800) = 375, floor(300 * 601 / 800) = 225, 1 Wh left -> h0 376.
    result = settle(
        rules(),
        GRID,
        PERIOD,
        [
            household(1, [sell(500, 20)], [(0, 900)]),
            household(2, [sell(500, 20)], [(0, 300)]),
            household(3, [buy(1000, 40)], [(601, 0)]),
        ],
    )
    first = result.intervals[0]
    assert first.clearing.sell_ranking == (0, 1)
    assert first.netting.metered_wh == (900, 300, 601)
    assert first.netting.offered_wh == (500, 300, 601)
    assert first.netting.delivered_wh == (376, 225, 601)
    assert (first.traded_wh, first.delivered_wh) == (1000, 601)
    # 376 * 30 = 11,280 -> 11; 225 * 30 = 6,750 -> 6; -601 * 30 = -18,030 -> -19.
    assert by_index(result, "change_units") == [11, 6, -19]
    assert result.rounding_units == 2


def test_equal_limits_rotate_across_intervals_by_rank() -> None:
    # Two sellers at the same ask for one buyer that takes only one of them. rank of h0 is
    # k mod 3, of h1 (k + 1) mod 3: h1 goes first only when k mod 3 == 2 (k = 41).
    same = [sell(500, 20)] * 4
    result = settle(
        rules(),
        GRID,
        PERIOD,
        [
            household(1, same, [(0, 500)] * 4),
            household(2, same, [(0, 500)] * 4),
            household(3, [buy(500, 40)] * 4, [(500, 0)] * 4),
        ],
    )
    assert [i.clearing.sell_ranking for i in result.intervals] == [(0, 1), (1, 0), (0, 1), (0, 1)]
    sold = [i.clearing.traded_wh[:2] for i in result.intervals]
    assert sold == [(500, 0), (0, 500), (500, 0), (500, 0)]
    # The claim names prices, not who: the tie at ask 20 goes to h1 in interval 41 by rank.
    assert decode_hints(result.hints, 4)[1] == (20, 40)
    assert by_index(result, "delivered_wh") == [1500, 500, 0]


def test_limits_are_clamped_to_floor_and_ceiling_and_asks_above_the_ceiling_never_trade() -> None:
    # Interval 40: ask 0 counts as the floor 10, bid 500 as the ceiling 100: p = 55.
    # Interval 41: an ask of 150 is above the ceiling, so even a bid of 1000 (-> 100) misses.
    # Interval 42: a bid of 5 is below the floor, so even an ask of 0 (-> 10) misses.
    result = settle(
        rules(),
        GRID,
        PERIOD,
        [
            household(1, [sell(1000, 0), sell(1000, 150), sell(1000, 0)], [(0, 1000)] * 3),
            household(2, [buy(1000, 500), buy(1000, 1000), buy(1000, 5)], [(1000, 0)] * 3),
        ],
    )
    limits = [i.clearing.limits_per_kwh for i in result.intervals[:3]]
    assert limits == [(10, 100), (150, 100), (10, 5)]
    assert [i.price_per_kwh for i in result.intervals] == [55, 0, 0, 0]
    assert [i.traded_wh for i in result.intervals] == [1000, 0, 0, 0]
    assert by_index(result, "change_units") == [55, -55]
    # The lock is on the signed bids: ceil((500_000 + 1_000_000 + 5_000) / 1000) = 1505.
    assert by_index(result, "released_units") == [0, 1505]


def test_pay_as_bid_buyers_pay_their_bids_into_a_pot_shared_pro_rata() -> None:
    # H = 4, rank = h. Sells h0 300@10, h1 400@10; buys h2 333@61, h3 367@48 (bid' = bid).
    # Walk: h0-h2 300, h1-h2 33, h1-h3 367: t = (300, 400, 333, 367), D = 700.
    # Pot = 333 * 61 + 367 * 48 = 20,313 + 17,616 = 37,929 milli. Sellers:
    # floor(37,929 * 300 / 700) = 16,255, floor(37,929 * 400 / 700) = 21,673; the 1 milli
    # left goes to the first seller: h0 16,256.
    result = settle(
        rules(Mechanism.PAY_AS_BID),
        GRID,
        PERIOD,
        [
            household(1, [sell(300, 10)], [(0, 300)]),
            household(2, [sell(400, 10)], [(0, 400)]),
            household(3, [buy(333, 61)], [(333, 0)]),
            household(4, [buy(367, 48)], [(367, 0)]),
        ],
    )
    first = result.intervals[0]
    assert first.clearing.traded_wh == (300, 400, 333, 367)
    assert first.netting.money_milli == (16_256, 21_673, -20_313, -17_616)
    assert by_index(result, "change_units") == [16, 21, -21, -18]
    assert result.rounding_units == 2
    assert unpack_cleared_intervals(result.cleared_intervals)[0] == (0, 700, 700)


def test_pay_as_bid_charges_the_clamped_bid() -> None:
    result = settle(
        rules(Mechanism.PAY_AS_BID),
        GRID,
        PERIOD,
        [
            household(1, [sell(1000, 0)], [(0, 1000)]),
            household(2, [buy(1000, 500)], [(1000, 0)]),
        ],
    )
    # bid' = min(500, 100): the buyer pays 1000 Wh * 100 = 100 units, locked 500.
    assert by_index(result, "change_units") == [100, -100]
    assert by_index(result, "released_units") == [0, 500]


def test_community_price_fills_every_entry_accepting_c_and_nets_the_long_side() -> None:
    # c = 50. Eligible: h0 sell 1000@40, h2 buy 300@50 (bid == c). Not: h1 sell 500@60,
    # h3 buy 200@49. t = (1000, 0, 300, 0); traded = min(1000, 300) = 300. S = 1000,
    # B = 300: buyers short, d0 = floor(1000 * 300 / 1000) = 300. 300 * 50 = 15 units.
    result = settle(
        rules(Mechanism.COMMUNITY_PRICE),
        GRID,
        PERIOD,
        [
            household(1, [sell(1000, 40)], [(0, 1000)]),
            household(2, [sell(500, 60)], [(0, 500)]),
            household(3, [buy(300, 50)], [(300, 0)]),
            household(4, [buy(200, 49)], [(200, 0)]),
        ],
    )
    first = result.intervals[0]
    assert first.clearing.traded_wh == (1000, 0, 300, 0)
    assert first.netting.delivered_wh == (300, 0, 300, 0)
    assert by_index(result, "change_units") == [15, 0, -15, 0]
    assert result.hints == b""
    assert unpack_cleared_intervals(result.cleared_intervals) == (
        (50, 300, 300),
        (50, 0, 0),
        (50, 0, 0),
        (50, 0, 0),
    )


def test_membership_and_meter_windows_exclude_whole_intervals() -> None:
    # Interval k covers [900k, 900k + 900): 40 = [36000, 36900), 41, 42 = [37800, 38700), 43.
    # The buyer is admitted at 36,901 (inside 41) and removed at 38,700 = end(42): its
    # entries count for 42 only. The seller's meter A is revoked at 37,800 = end(41) (counts
    # for 40 and 41), meter B admitted at 37,800 (counts for 42 and 43): in 42, m = B's 70.
    seller = HouseholdInput(
        address(1),
        Window(0),
        (Posting(1, K0, plan([sell(100, 10)] * 4)),),
        (
            MeterInput(Window(0, 37_800), encode_deltas([(0, 100)] * 4)),
            MeterInput(Window(37_800), encode_deltas([(0, 70)] * 4)),
        ),
    )
    buyer = household(2, [buy(100, 50)] * 4, [(100, 0)] * 4, membership=Window(36_901, 38_700))
    result = settle(rules(), GRID, PERIOD, [seller, buyer])
    assert [i.book.sides for i in result.intervals] == [(1, 0), (1, 0), (1, 2), (1, 0)]
    assert [i.traded_wh for i in result.intervals] == [0, 0, 100, 0]
    assert [i.netting.metered_wh[0] for i in result.intervals] == [100, 100, 70, 70]
    assert [i.delivered_wh for i in result.intervals] == [0, 0, 70, 0]
    # p = 30: 70 * 30 = 2.1 units -> the seller gets 2, the buyer pays 3, 1 to the settler.
    assert by_index(result, "change_units") == [2, -3]
    assert result.rounding_units == 1
    assert result.hints == bytes.fromhex("00" * 2 + "01 0000000a 00000032" + "00")


def test_meter_without_data_measures_zero_and_nothing_is_paid() -> None:
    seller = HouseholdInput(
        address(1),
        Window(0),
        (Posting(1, K0, plan([sell(100, 10)])),),
        (MeterInput(Window(0), None),),
    )
    result = settle(rules(), GRID, PERIOD, [seller, household(2, [buy(100, 50)], [(100, 0)])])
    first = result.intervals[0]
    assert (first.price_per_kwh, first.traded_wh, first.delivered_wh) == (30, 100, 0)
    assert by_index(result, "change_units") == [0, 0]
    assert by_index(result, "released_units") == [0, 5]


def test_later_posting_replaces_entries_from_its_first_interval_and_cancels_the_tail() -> None:
    postings = (
        Posting(1, K0, plan([buy(100, 50)] * 4)),
        Posting(3, K0 + 1, plan([sell(200, 10)])),
    )
    assert [entry_at(postings, k) for k in range(K0, K0 + 4)] == [
        buy(100, 50),
        sell(200, 10),
        Entry(Side.NONE, 0, 0),
        Entry(Side.NONE, 0, 0),
    ]
    flows = [(100, 200)] * 4
    result = settle(
        rules(),
        GRID,
        PERIOD,
        [
            HouseholdInput(
                address(7), Window(0), postings, (MeterInput(Window(0), encode_deltas(flows)),)
            )
        ],
    )
    assert [i.book.sides for i in result.intervals] == [(2,), (1,), (0,), (0,)]
    # Every posting's lock is released: ceil(400 * 50 / 1000) + 0 = 20.
    assert by_index(result, "released_units") == [20]


def test_index_is_the_address_order_whatever_order_households_come_in() -> None:
    given = [
        household(0xBB, [buy(100, 50)], [(100, 0)]),
        HouseholdInput("0x" + "A" * 40, Window(0), (Posting(1, K0, plan([sell(100, 30)])),), ()),
        household(0x0A, [sell(100, 20)], [(0, 100)]),
    ]
    result = settle(rules(), GRID, PERIOD, given)
    assert [s.address for s in result.households] == [address(0x0A), address(0xBB), "0x" + "A" * 40]
    assert result == settle(rules(), GRID, PERIOD, given[::-1])
    # h0 = 0x0a sells 100 Wh first (ask 20 < 30) at (20 + 50) // 2 = 35: 3.5 units.
    assert by_index(result, "change_units") == [3, -4, 0]
    assert result.household("0x" + "a" * 40).index == 2


def test_no_household_settles_to_nothing() -> None:
    result = settle(rules(), GRID, PERIOD, [])
    assert result.households == ()
    assert result.hints == bytes(4)
    assert result.cleared_intervals == bytes(64)
    assert result.rounding_units == 0


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_a_household_alone_on_both_sides_of_different_intervals_trades_nothing(
    mechanism: Mechanism,
) -> None:
    result = settle(
        rules(mechanism),
        GRID,
        PERIOD,
        [household(1, [sell(100, 10), buy(100, 90)], [(100, 100)] * 2)],
    )
    assert [i.traded_wh for i in result.intervals] == [0, 0, 0, 0]
    assert by_index(result, "change_units") == [0]

"""Hand-computed clearings: the documented price, tie, bound and self-trade rules."""

from __future__ import annotations

import pytest

from api.matching import (
    ClearingResult,
    InvalidOrderError,
    Mechanism,
    Order,
    PriceBounds,
    Side,
    Trade,
    clear,
)

SELL, BUY = Side.SELL, Side.BUY


def test_pay_as_clear_prices_at_the_midpoint_of_the_marginal_ask_and_bid() -> None:
    orders = [
        Order("s1", "h1", SELL, 500, 10),
        Order("s2", "h2", SELL, 500, 30),
        Order("b1", "h3", BUY, 700, 40),
        Order("b2", "h4", BUY, 700, 20),
    ]
    # Supply 500 Wh at 10 then 500 at 30; demand 700 at 40 then 700 at 20: they cross at
    # 700 Wh, marginal ask 30 (s2), marginal bid 40 (b1) -> (30 + 40) // 2 = 35.
    assert clear(orders) == ClearingResult(
        35, (Trade("s1", "b1", 500, 35), Trade("s2", "b1", 200, 35))
    )


def test_the_midpoint_rounds_down() -> None:
    orders = [Order("s", "h1", SELL, 100, 10), Order("b", "h2", BUY, 100, 15)]
    assert clear(orders).clearing_price_per_kwh == 12


def test_pay_as_bid_prices_each_trade_at_the_buyers_bid() -> None:
    orders = [
        Order("s1", "h1", SELL, 300, 5),
        Order("b1", "h2", BUY, 100, 50),
        Order("b2", "h3", BUY, 100, 40),
        Order("b3", "h4", BUY, 500, 4),
    ]
    assert clear(orders, Mechanism.PAY_AS_BID) == ClearingResult(
        None, (Trade("s1", "b1", 100, 50), Trade("s1", "b2", 100, 40))
    )


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_books_that_do_not_cross_make_no_trade(mechanism: Mechanism) -> None:
    orders = [Order("s", "h1", SELL, 100, 30), Order("b", "h2", BUY, 100, 29)]
    assert clear(orders, mechanism) == ClearingResult(None, ())
    assert clear([], mechanism) == ClearingResult(None, ())


def test_equal_prices_are_ranked_by_id() -> None:
    orders = [
        Order("s-b", "h1", SELL, 100, 20),
        Order("s-a", "h2", SELL, 100, 20),
        Order("b-2", "h3", BUY, 1, 20),
        Order("b-1", "h4", BUY, 1, 20),
    ]
    assert clear(orders).trades == (Trade("s-a", "b-1", 1, 20), Trade("s-a", "b-2", 1, 20))


def test_a_sell_passes_over_its_own_households_buy_which_keeps_its_place() -> None:
    orders = [
        Order("s1", "h1", SELL, 5, 10),
        Order("s2", "h2", SELL, 5, 12),
        Order("b1", "h1", BUY, 5, 50),
        Order("b2", "h3", BUY, 5, 40),
    ]
    # Intersection 10 Wh, marginal ask 12, marginal bid 40 -> 26. s1 may not buy-from-itself
    # b1, so it takes b2; b1 then goes to s2.
    assert clear(orders) == ClearingResult(26, (Trade("s1", "b2", 5, 26), Trade("s2", "b1", 5, 26)))


def test_self_trade_avoidance_can_leave_pay_as_clear_volume_unmatched() -> None:
    orders = [
        Order("s1", "h1", SELL, 5, 10),
        Order("b1", "h1", BUY, 5, 50),
        Order("b2", "h2", BUY, 5, 20),
    ]
    # The intersection is s1-b1 at (10 + 50) // 2 = 30, a self-trade; b2 (20) is not
    # eligible at 30, so pay-as-clear trades nothing while pay-as-bid sells to b2.
    assert clear(orders) == ClearingResult(None, ())
    assert clear(orders, Mechanism.PAY_AS_BID).trades == (Trade("s1", "b2", 5, 20),)


def test_limits_beyond_the_bounds_are_clamped_towards_the_market() -> None:
    bounds = PriceBounds(feed_in_per_kwh=50, retail_per_kwh=300)
    orders = [Order("s", "h1", SELL, 1_000, 0), Order("b", "h2", BUY, 1_000, 999)]
    # The ask counts as 50 and the bid as 300: (50 + 300) // 2 = 175.
    assert clear(orders, bounds=bounds) == ClearingResult(175, (Trade("s", "b", 1_000, 175),))
    assert clear(orders, Mechanism.PAY_AS_BID, bounds).trades == (Trade("s", "b", 1_000, 300),)


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_an_ask_above_retail_or_a_bid_below_feed_in_never_trades(mechanism: Mechanism) -> None:
    bounds = PriceBounds(feed_in_per_kwh=50, retail_per_kwh=300)
    ask_too_high = [Order("s", "h1", SELL, 10, 301), Order("b", "h2", BUY, 10, 1_000)]
    bid_too_low = [Order("s", "h1", SELL, 10, 0), Order("b", "h2", BUY, 10, 49)]
    assert clear(ask_too_high, mechanism, bounds).trades == ()
    assert clear(bid_too_low, mechanism, bounds).trades == ()
    # Without bounds the same books do trade: the bounds are what stops them.
    assert clear(ask_too_high, mechanism).trades
    assert clear(bid_too_low, mechanism).trades


def test_duplicate_ids_are_refused() -> None:
    orders = [Order("x", "h1", SELL, 10, 1), Order("x", "h2", BUY, 10, 5)]
    with pytest.raises(InvalidOrderError, match="duplicate order id 'x'"):
        clear(orders)


@pytest.mark.parametrize(
    ("energy_wh", "price_per_kwh", "field"),
    [(0, 10, "energy_wh"), (-5, 10, "energy_wh"), (True, 10, "energy_wh"), (10, -1, "price")],
)
def test_invalid_orders_are_refused(energy_wh: int, price_per_kwh: int, field: str) -> None:
    with pytest.raises(InvalidOrderError, match=field):
        Order("o", "h1", SELL, energy_wh, price_per_kwh)


def test_bounds_must_be_ordered() -> None:
    with pytest.raises(InvalidOrderError, match="retail"):
        PriceBounds(feed_in_per_kwh=10, retail_per_kwh=9)

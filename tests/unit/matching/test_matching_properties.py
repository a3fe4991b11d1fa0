"""Properties of the clearing engine, checked on generated books."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from matching_strategies import books, bounds_or_none

from api.matching import ClearingResult, Mechanism, Order, PriceBounds, clear, intersection
from api.matching.reference import reference_clear, reference_intersection

mechanisms = st.sampled_from(Mechanism)


def _filled_wh(result: ClearingResult) -> Counter[str]:
    filled: Counter[str] = Counter()
    for trade in result.trades:
        filled[trade.sell_id] += trade.energy_wh
        filled[trade.buy_id] += trade.energy_wh
    return filled


@given(books(), mechanisms, bounds_or_none())
def test_volume_never_above_either_order(
    orders: list[Order], mechanism: Mechanism, bounds: PriceBounds | None
) -> None:
    by_id = {order.id: order for order in orders}
    result = clear(orders, mechanism, bounds)
    for trade in result.trades:
        assert trade.energy_wh > 0
        assert by_id[trade.sell_id].side.value == "sell"
        assert by_id[trade.buy_id].side.value == "buy"
    for order_id, filled_wh in _filled_wh(result).items():
        assert filled_wh <= by_id[order_id].energy_wh


@given(books(), mechanisms, bounds_or_none())
def test_every_trade_within_both_limits_and_the_bounds(
    orders: list[Order], mechanism: Mechanism, bounds: PriceBounds | None
) -> None:
    by_id = {order.id: order for order in orders}
    for trade in clear(orders, mechanism, bounds).trades:
        assert by_id[trade.sell_id].price_per_kwh <= trade.price_per_kwh
        assert trade.price_per_kwh <= by_id[trade.buy_id].price_per_kwh
        if bounds is not None:
            assert bounds.feed_in_per_kwh <= trade.price_per_kwh <= bounds.retail_per_kwh


@given(books(), mechanisms, bounds_or_none())
def test_no_self_trade(
    orders: list[Order], mechanism: Mechanism, bounds: PriceBounds | None
) -> None:
    by_id = {order.id: order for order in orders}
    for trade in clear(orders, mechanism, bounds).trades:
        assert by_id[trade.sell_id].household != by_id[trade.buy_id].household


@given(books(), bounds_or_none())
def test_pay_as_clear_has_one_price_iff_it_trades(
    orders: list[Order], bounds: PriceBounds | None
) -> None:
    result = clear(orders, Mechanism.PAY_AS_CLEAR, bounds)
    assert (result.clearing_price_per_kwh is None) == (not result.trades)
    assert {trade.price_per_kwh for trade in result.trades} <= {result.clearing_price_per_kwh}


@given(books(one_side_per_household=True), mechanisms, bounds_or_none())
def test_volume_equals_the_intersection_without_self_trades(
    orders: list[Order], mechanism: Mechanism, bounds: PriceBounds | None
) -> None:
    volume_wh, _, _ = reference_intersection(orders, bounds)
    assert clear(orders, mechanism, bounds).volume_wh == volume_wh


@given(books(), bounds_or_none())
def test_pay_as_clear_volume_never_above_the_intersection(
    orders: list[Order], bounds: PriceBounds | None
) -> None:
    # Only for one uniform price: pay-as-bid pairs each trade on its own, and when it passes
    # over a self-trade it may pair extra-marginal orders (ask 0 with bid 0, ask 1 with bid
    # 1) beyond the intersection, each still within its limits.
    volume_wh, _, _ = reference_intersection(orders, bounds)
    assert clear(orders, Mechanism.PAY_AS_CLEAR, bounds).volume_wh <= volume_wh


@given(books(), bounds_or_none())
def test_fast_intersection_matches_the_price_grid_search(
    orders: list[Order], bounds: PriceBounds | None
) -> None:
    fast = intersection(orders, bounds)
    assert (
        fast.volume_wh,
        fast.marginal_ask_per_kwh,
        fast.marginal_bid_per_kwh,
    ) == reference_intersection(orders, bounds)


@given(books(), mechanisms, bounds_or_none())
def test_engine_matches_the_reference_implementation(
    orders: list[Order], mechanism: Mechanism, bounds: PriceBounds | None
) -> None:
    assert clear(orders, mechanism, bounds) == reference_clear(orders, mechanism, bounds)


@given(books(), mechanisms, bounds_or_none(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_the_order_of_the_book(
    orders: list[Order], mechanism: Mechanism, bounds: PriceBounds | None, rng: random.Random
) -> None:
    shuffled = list(orders)
    rng.shuffle(shuffled)
    assert clear(shuffled, mechanism, bounds) == clear(orders, mechanism, bounds)

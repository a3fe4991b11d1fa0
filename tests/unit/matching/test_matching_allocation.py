"""Allocation keys: exact integer shares, never above demand, leftovers re-distributed."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from matching_strategies import books

from api.matching import (
    Allocation,
    AllocationKey,
    EqualSplit,
    FixedShares,
    InvalidAllocationError,
    Order,
    ProRataConsumption,
    Side,
    allocate,
    clear_by_allocation_key,
)
from api.matching.allocation import split_largest_remainder

members = st.sampled_from([f"m{n:02d}" for n in range(8)])
demands = st.dictionaries(members, st.integers(min_value=0, max_value=5_000), max_size=8)
available = st.integers(min_value=0, max_value=30_000)
keys: st.SearchStrategy[AllocationKey] = st.one_of(
    st.just(EqualSplit()),
    st.just(ProRataConsumption()),
    st.dictionaries(members, st.integers(min_value=0, max_value=100)).map(FixedShares),
)


def _weighted(key: AllocationKey, member: str, demand_wh: int) -> bool:
    if isinstance(key, FixedShares):
        return key.weights.get(member, 0) > 0
    return demand_wh > 0


@given(available, demands, keys)
def test_allocation_conserves_energy_and_respects_demand(
    available_wh: int, demands_wh: dict[str, int], key: AllocationKey
) -> None:
    result = allocate(available_wh, demands_wh, key)
    assert result.total_allocated_wh + result.returned_wh == available_wh
    assert dict(result.allocated_wh).keys() == demands_wh.keys()
    for member, allocated_wh in result.allocated_wh:
        assert 0 <= allocated_wh <= demands_wh[member]
    # Leftovers are re-distributed: energy is returned only when every weighted member is full.
    wanted_wh = sum(d for m, d in demands_wh.items() if _weighted(key, m, d))
    assert result.total_allocated_wh == min(available_wh, wanted_wh)


@given(available, demands, keys, st.randoms(use_true_random=False))
def test_allocation_does_not_depend_on_member_order(
    available_wh: int, demands_wh: dict[str, int], key: AllocationKey, rng: random.Random
) -> None:
    items = list(demands_wh.items())
    rng.shuffle(items)
    assert allocate(available_wh, dict(items), key) == allocate(available_wh, demands_wh, key)


@given(available, demands)
def test_equal_split_is_max_min_fair(available_wh: int, demands_wh: dict[str, int]) -> None:
    allocated = dict(allocate(available_wh, demands_wh, EqualSplit()).allocated_wh)
    for member, got_wh in allocated.items():
        if got_wh < demands_wh[member]:  # still short: nobody got more than one Wh extra
            assert all(other_wh <= got_wh + 1 for other_wh in allocated.values())


@given(available, st.lists(st.integers(min_value=0, max_value=1_000), min_size=1, max_size=8))
def test_largest_remainder_split_is_exact_and_within_one_wh(
    pool_wh: int, raw_weights: list[int]
) -> None:
    weights = [(f"m{n}", w) for n, w in enumerate(raw_weights)]
    total = sum(raw_weights)
    if total == 0:
        return
    quotas = split_largest_remainder(pool_wh, weights)
    assert sum(quotas.values()) == pool_wh
    for member, weight in weights:
        # floor(exact) <= quota <= ceil(exact), exact = pool * w / W.
        assert quotas[member] * total - pool_wh * weight in range(-total + 1, total)


def test_pro_rata_split_gives_the_leftover_wh_to_the_largest_remainder() -> None:
    # 100 Wh over demands 10/50/100 (160): exact 6.25, 31.25, 62.5 -> 6, 31, 63.
    result = allocate(100, {"a": 10, "b": 50, "c": 100}, ProRataConsumption())
    assert result == Allocation((("a", 6), ("b", 31), ("c", 63)), 0)


def test_equal_split_redistributes_what_a_small_consumer_cannot_take() -> None:
    # 100 Wh over three: a can only take 10, the other 90 are split between b and c.
    result = allocate(100, {"a": 10, "b": 50, "c": 100}, EqualSplit())
    assert result == Allocation((("a", 10), ("b", 45), ("c", 45)), 0)


def test_equal_remainder_ties_go_to_the_smaller_member_id() -> None:
    assert allocate(7, {"c": 10, "a": 10, "b": 10}, EqualSplit()).allocated_wh == (
        ("a", 3),
        ("b", 2),
        ("c", 2),
    )


def test_fixed_shares_return_what_no_weighted_member_needs() -> None:
    result = allocate(1_000, {"a": 10, "b": 50, "c": 100}, FixedShares({"a": 50, "b": 30}))
    assert result == Allocation((("a", 10), ("b", 50), ("c", 0)), 940)


def test_negative_inputs_are_refused() -> None:
    with pytest.raises(InvalidAllocationError, match="available_wh"):
        allocate(-1, {"a": 1}, EqualSplit())
    with pytest.raises(InvalidAllocationError, match="'a'"):
        allocate(1, {"a": -1}, EqualSplit())
    with pytest.raises(InvalidAllocationError, match="'a'"):
        FixedShares({"a": -3})


@given(books(), keys, st.integers(min_value=0, max_value=60))
def test_allocation_clearing_respects_limits_volumes_and_households(
    orders: list[Order], key: AllocationKey, price: int
) -> None:
    by_id = {order.id: order for order in orders}
    result = clear_by_allocation_key(orders, key, price)
    filled: dict[str, int] = {}
    for trade in result.trades:
        sell, buy = by_id[trade.sell_id], by_id[trade.buy_id]
        assert trade.price_per_kwh == price == result.clearing_price_per_kwh
        assert sell.price_per_kwh <= price <= buy.price_per_kwh
        assert sell.household != buy.household
        filled[sell.id] = filled.get(sell.id, 0) + trade.energy_wh
        filled[buy.id] = filled.get(buy.id, 0) + trade.energy_wh
    assert all(wh <= by_id[order_id].energy_wh for order_id, wh in filled.items())


def test_allocation_clearing_shares_the_pool_by_key() -> None:
    orders = [
        Order("s1", "prod", Side.SELL, 90, 10),
        Order("b1", "h1", Side.BUY, 100, 20),
        Order("b2", "h2", Side.BUY, 20, 20),
        Order("b3", "h3", Side.BUY, 100, 5),  # bids below the community price: left out
    ]
    result = clear_by_allocation_key(orders, EqualSplit(), 15)
    # 90 Wh between h1 and h2 equally: 45 each, but h2 takes only 20, so h1 gets 70.
    assert {(t.buy_id, t.energy_wh) for t in result.trades} == {("b1", 70), ("b2", 20)}
    assert result.clearing_price_per_kwh == 15

"""CWaPE allocation keys (ledger.dso.keys): worked examples and the properties every
quarter-hour must keep, whatever the volumes (Hypothesis)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.dso.errors import KeyConfigError
from ledger.dso.keys import AllocationKey, KeyRule, allocate, key_in_force

DAY = date(2027, 1, 1)


def key(*rules: KeyRule, shares: tuple[int, ...] = ()) -> AllocationKey:
    return AllocationKey(DAY, None, rules, shares)


def test_equal_key_splits_a_producers_injection_among_the_others() -> None:
    # Alice injects 1,000 Wh; Bruno and Chloé each need plenty: 500 each, Alice none.
    result = allocate(key(KeyRule.EQUAL), [0, 2_000, 2_000], [1_000, 0, 0])
    assert result.received_wh == (0, 500, 500)
    assert result.shared_injection_wh == (1_000, 0, 0)


def test_rounding_gives_the_left_over_wh_to_the_largest_remainders_then_member_order() -> None:
    result = allocate(key(KeyRule.EQUAL), [5, 5, 5, 0], [0, 0, 0, 10])
    # 10 / 3 = 3 r 1: one Wh left, all remainders equal: the first member gets it.
    assert result.received_wh == (4, 3, 3, 0)
    assert sum(result.received_wh) == 10


def test_a_capped_share_is_left_to_the_next_iteration() -> None:
    offtake = [100, 2_000, 0]
    injection = [0, 0, 1_000]
    single = allocate(key(KeyRule.EQUAL), offtake, injection)
    # Alice is capped at 100 of her 500; the rest of her share is not shared in one iteration.
    assert single.received_wh == (100, 500, 0)
    cascade = allocate(key(KeyRule.EQUAL, KeyRule.EQUAL), offtake, injection)
    # the second iteration gives the 400 left to the only member still short: Bruno.
    assert cascade.received_wh == (100, 900, 0)
    assert cascade.shared_injection_wh == (0, 0, 1_000)


def test_fixed_shares_in_basis_points_then_pro_rata() -> None:
    shares = (6_000, 4_000, 0)  # 60 %, 40 %, the producer 0 %
    fixed = key(KeyRule.FIXED, shares=shares)
    assert allocate(fixed, [1_000, 1_000, 0], [0, 0, 1_000]).received_wh == (600, 400, 0)
    cascade = key(KeyRule.FIXED, KeyRule.PRO_RATA, shares=shares)
    # Alice needs only 200: her 400 left go pro rata to who is still short (Bruno only).
    assert allocate(cascade, [200, 1_000, 0], [0, 0, 1_000]).received_wh == (200, 800, 0)


def test_pro_rata_follows_the_offtake() -> None:
    result = allocate(key(KeyRule.PRO_RATA), [300, 100, 0], [0, 0, 200])
    assert result.received_wh == (150, 50, 0)


def test_nobody_shares_with_itself_even_when_it_also_draws() -> None:
    # A prosumer injecting and drawing in the same quarter-hour gets nothing of its own.
    result = allocate(key(KeyRule.PRO_RATA), [500, 0], [500, 0])
    assert result.received_wh == (0, 0)
    assert result.shared_injection_wh == (0, 0)


def test_keys_are_chosen_by_their_validity_dates() -> None:
    winter = AllocationKey(date(2027, 1, 1), date(2027, 3, 31), (KeyRule.EQUAL,))
    spring = AllocationKey(date(2027, 4, 1), None, (KeyRule.PRO_RATA,))
    assert key_in_force([winter, spring], date(2027, 3, 31)) is winter
    assert key_in_force([winter, spring], date(2027, 4, 1)) is spring
    with pytest.raises(KeyConfigError, match="no allocation key is in force on 2026-12-31"):
        key_in_force([winter, spring], date(2026, 12, 31))


def test_malformed_keys_are_refused() -> None:
    with pytest.raises(KeyConfigError, match="1 to 3 iterations"):
        key(KeyRule.EQUAL, KeyRule.EQUAL, KeyRule.EQUAL, KeyRule.EQUAL)
    with pytest.raises(KeyConfigError, match="add up to 100"):
        key(KeyRule.FIXED, shares=(5_000, 4_999))


volumes = st.lists(st.integers(0, 5_000), min_size=1, max_size=12)


@st.composite
def quarter_hours(draw: st.DrawFn) -> tuple[AllocationKey, list[int], list[int]]:
    offtake = draw(volumes)
    count = len(offtake)
    injection = draw(st.lists(st.integers(0, 5_000), min_size=count, max_size=count))
    rules = draw(st.lists(st.sampled_from(list(KeyRule)), min_size=1, max_size=3))
    shares: tuple[int, ...] = ()
    if KeyRule.FIXED in rules:
        cuts = sorted(
            draw(st.lists(st.integers(0, 10_000), min_size=count - 1, max_size=count - 1))
        )
        bounds = [0, *cuts, 10_000]
        shares = tuple(bounds[i + 1] - bounds[i] for i in range(count))
    return AllocationKey(DAY, None, tuple(rules), shares), offtake, injection


@given(quarter_hours())
def test_shared_energy_is_conserved_and_never_over_allocated(
    case: tuple[AllocationKey, list[int], list[int]],
) -> None:
    allocation_key, offtake, injection = case
    result = allocate(allocation_key, offtake, injection)
    assert sum(result.received_wh) == sum(result.shared_injection_wh)
    assert sum(result.received_wh) <= min(sum(offtake), sum(injection))
    for member in range(len(offtake)):
        assert 0 <= result.received_wh[member] <= offtake[member]
        assert 0 <= result.shared_injection_wh[member] <= injection[member]
    flows_in = [0] * len(offtake)
    flows_out = [0] * len(offtake)
    for producer, consumer, wh in result.flows:
        assert producer != consumer
        assert wh > 0
        flows_in[consumer] += wh
        flows_out[producer] += wh
    assert tuple(flows_in) == result.received_wh
    assert tuple(flows_out) == result.shared_injection_wh


@given(
    st.integers(2, 12), st.integers(0, 5_000), st.sampled_from([KeyRule.EQUAL, KeyRule.PRO_RATA])
)
def test_a_producers_whole_injection_is_shared_when_the_others_need_more(
    members: int, injected: int, rule: KeyRule
) -> None:
    offtake = [0] + [injected + 1] * (members - 1)
    injection = [injected] + [0] * (members - 1)
    result = allocate(AllocationKey(DAY, None, (rule,)), offtake, injection)
    assert result.shared_injection_wh[0] == injected
    assert max(result.received_wh) - min(result.received_wh[1:]) <= 1  # fair to 1 Wh

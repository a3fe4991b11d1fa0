"""Parity: the CWaPE rule of ledger.dso.keys and QuartierSharingKeys.allocate on a real Anvil
node give the same integer Wh for random keys and volumes, for every rule and cascades of 1 to
3 iterations (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deploy_v2 import deploy_community_v2
from ledger.dso.keys import FULL_SHARE_BP, KeyRule, allocate
from ledger.sharing_keys import NO_END, ChainKey, SharingKeysClient, deploy_sharing_keys

RULES = (KeyRule.EQUAL, KeyRule.FIXED, KeyRule.PRO_RATA)


@pytest.fixture(scope="module")
def sharing_keys() -> Iterator[SharingKeysClient]:
    # Its own node: the view is pure, so one deployment serves every example.
    with AnvilNode() as node:
        w3 = connect(node.url)
        sender = Sender(w3, default_deployer(w3.eth.chain_id, None))
        community = deploy_community_v2(sender).address("QuartierCommunity")
        address, _ = deploy_sharing_keys(sender, community, [])
        yield SharingKeysClient(sender, address)


@st.composite
def shares(draw: st.DrawFn, count: int) -> tuple[int, ...]:
    """`count` basis-point shares adding up to 100 %, zeros and ties included."""
    cuts = sorted(draw(st.lists(st.integers(0, FULL_SHARE_BP), min_size=count - 1,
                                max_size=count - 1)))  # fmt: skip
    bounds = [0, *cuts, FULL_SHARE_BP]
    return tuple(bounds[i + 1] - bounds[i] for i in range(count))


@st.composite
def cases(
    draw: st.DrawFn, first: KeyRule, depth: int, fewest: int = 1, most: int = 12
) -> tuple[ChainKey, list[int], list[int]]:
    count = draw(st.integers(fewest, most))
    cascade = (first, *draw(st.lists(st.sampled_from(RULES), min_size=depth - 1,
                                     max_size=depth - 1)))  # fmt: skip
    share = draw(shares(count)) if KeyRule.FIXED in cascade else ()
    volume = st.one_of(st.just(0), st.integers(0, 60), st.integers(0, 5_000),
                       st.integers(0, 2**40))  # fmt: skip
    production = draw(st.lists(volume, min_size=count, max_size=count))
    consumption = draw(st.lists(volume, min_size=count, max_size=count))
    members = tuple(f"0x{0x1000 + i:040x}" for i in range(count))
    return ChainKey(0, NO_END, cascade, members, share), production, consumption


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("first", RULES, ids=[rule.value for rule in RULES])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engine_and_contract_share_the_same_wh(
    sharing_keys: SharingKeysClient, first: KeyRule, depth: int, data: st.DataObject
) -> None:
    key, production, consumption = data.draw(cases(first, depth))
    expected = allocate(key.rule(), consumption, production)
    received, shared = sharing_keys.allocate(key, production, consumption)
    assert received == list(expected.received_wh)
    assert shared == list(expected.shared_injection_wh)
    # The rule's own promises, so a defect shared by both sides still fails.
    assert sum(received) == sum(shared)
    assert all(r <= c for r, c in zip(received, consumption, strict=True))
    assert all(s <= p for s, p in zip(shared, production, strict=True))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_hundred_members_share_the_same_wh(
    sharing_keys: SharingKeysClient, data: st.DataObject
) -> None:
    first = data.draw(st.sampled_from(RULES))
    key, production, consumption = data.draw(cases(first, 3, fewest=60, most=100))
    expected = allocate(key.rule(), consumption, production)
    assert sharing_keys.allocate(key, production, consumption) == (
        list(expected.received_wh),
        list(expected.shared_injection_wh),
    )

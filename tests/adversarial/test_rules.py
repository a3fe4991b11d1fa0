"""Property 1, community rules on-chain, attacked: the manager cannot make a change apply to a
period that can already hold schedules, nobody else can change a rule, and a settler (or the
relayer) that clears under other rules than the chain's either is refused or gets the
chain's outcome anyway."""

from __future__ import annotations

from dataclasses import replace

import pytest
from attack_support import Period, assert_audit_clean, engine_outcome
from v2_support import RULES, World

from api.relayer.context import V2Chain
from ledger.community import CommunityClient
from ledger.rules import Mechanism
from ledger.schedules import Entry, EntrySide

pytestmark = pytest.mark.integration

CHANGED = replace(
    RULES, mechanism=Mechanism.PAY_AS_BID, price_floor_per_kwh=90_000, min_entry_wh=100
)


def test_a_managers_change_applies_only_after_the_delay(world: World) -> None:
    period = Period.open(world, households=2)
    seller, buyer = period.members
    current = world.community.current_period()
    assert period.period_id == current + 1  # the last period schedules may be posted for
    # The manager tries to make a change bite now: it is scheduled after the delay, by event.
    scheduled = world.community.schedule_rules(CHANGED)
    assert (scheduled.effective_from_period_id, scheduled.rules) == (current + 2, CHANGED)
    # ... and again, later in the same period: it replaces the change, never moves it closer.
    again = world.community.schedule_rules(replace(CHANGED, price_floor_per_kwh=95_000))
    assert again.effective_from_period_id == current + 2
    assert world.community.rules_at(current) == RULES
    assert world.community.rules_at(period.period_id) == RULES
    assert world.community.rules_at(current + 2).price_floor_per_kwh == 95_000
    assert [p for p, _ in world.community.rules_history()] == [0, current + 2, current + 2]

    # The period already open for posting clears under the rules it was posted under: an
    # entry of 50 Wh (under the new minimum of 100) is still taken, at pay-as-clear.
    period.post(seller, [Entry(EntrySide.SELL, 50, 60_000)])
    period.post(buyer, [Entry(EntrySide.BUY, 50, 300_000)])
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, [(0, 50), (0, 0), (0, 0), (0, 0)])
    period.sign(buyer, [(50, 0), (0, 0), (0, 0), (0, 0)])
    result, _ = period.settle()
    first = result.cleared.cleared()[0]
    assert (first.price_per_kwh, first.delivered_wh) == ((60_000 + 300_000) // 2, 50)
    assert_audit_clean(world)


def test_nobody_but_the_manager_changes_rules(world: World) -> None:
    period = Period.open(world, households=1)
    (member,) = period.members
    outsider = period.outsider()
    history = world.community.rules_history()
    for attacker in (member, outsider):
        as_attacker = CommunityClient(attacker.sender, world.community.address)
        refusal = period.refused(
            "CommunityNotManager", lambda c=as_attacker: c.schedule_rules(CHANGED)
        )
        assert refusal.arguments == {"caller": attacker.address}
        period.refused(
            "CommunityNotManager",
            lambda c=as_attacker, a=attacker: c.transfer_management(a.address),
        )
    assert world.community.rules_history() == history
    assert world.community.manager() == world.manager.address
    assert_audit_clean(world)


def test_the_relayer_reads_the_rules_from_the_chain(world: World) -> None:
    period = Period.open(world)
    relayer = period.outsider()
    current = world.community.current_period()
    world.community.schedule_rules(CHANGED)
    chain = V2Chain.of(relayer.sender, world.deployment)
    assert chain.grid == world.grid
    assert chain.rules(current + 1) == RULES
    assert chain.rules(current + 2) == CHANGED
    # Not cached while it can still change: a replacement is seen at once.
    world.community.schedule_rules(replace(CHANGED, price_ceiling_per_kwh=400_000))
    assert chain.rules(current + 2).price_ceiling_per_kwh == 400_000


def test_a_settler_clearing_under_other_rules_is_refused_or_gets_the_chains_outcome(
    world: World,
) -> None:
    period = Period.open(world, households=3)
    low, high, buyer = period.members
    # Both asks are under the chain's floor (50_000): on chain they tie at the floor and the
    # tie rotates with the interval; under a floor of 0 the lower ask would always go first.
    period.post(low, [Entry(EntrySide.SELL, 300, 10_000)] * 4)
    period.post(high, [Entry(EntrySide.SELL, 300, 40_000)] * 4)
    period.post(buyer, [Entry(EntrySide.BUY, 400, 200_000)] * 4)
    world.warp(world.grid.period_end(period.period_id))
    for seller in (low, high):
        period.sign(seller, [(0, 300)] * 4)
    period.sign(buyer, [(400, 0)] * 4)
    households = period.households()
    honest = engine_outcome(world, period.period_id, households)

    other_rules = {
        # Under a floor of 0 the lower ask always goes first and the marginal ask is unclamped.
        "no floor": replace(RULES, price_floor_per_kwh=0),
        # The community price needs no hints at all.
        "community price": replace(RULES, mechanism=Mechanism.COMMUNITY_PRICE),
        "a higher floor": replace(RULES, price_floor_per_kwh=70_000),
    }
    refused = {
        name
        for name, rules in other_rules.items()
        if period.refuses_hints(
            households, engine_outcome(world, period.period_id, households, rules).hints
        )
    }
    # Whatever the hint format, these two are other bytes than the chain's rules give.
    assert {"no floor", "community price"} <= refused

    # Pay-as-bid's hints may be the same bytes: then they are taken, but the contract prices
    # by the chain's mechanism, never the settler's.
    pay_as_bid = engine_outcome(
        world, period.period_id, households, replace(RULES, mechanism=Mechanism.PAY_AS_BID)
    )
    if period.refuses_hints(households, pay_as_bid.hints):
        result, _ = period.settle()
    else:
        result = world.exchange.settle_period(period.period_id, households, pay_as_bid.hints)
    assert result.cleared.intervals == honest.cleared_intervals
    assert result.cleared.intervals != pay_as_bid.cleared_intervals
    assert_audit_clean(world)

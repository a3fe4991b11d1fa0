"""Property 6, time in the registry, attacked by the manager and a meter owner: a meter admitted
after an interval began does not count for it (nor for a period already over), a removed
member's entries stop counting and it can post no more, and a settled period never changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from attack_support import Period, assert_audit_clean, engine_outcome
from v2_support import World

from ledger.community import Window
from ledger.exchange import MeterData
from ledger.schedules import Entry, EntrySide

pytestmark = pytest.mark.integration

SELL = Entry(EntrySide.SELL, 500, 70_000)
BUY = Entry(EntrySide.BUY, 500, 230_000)


def test_a_meter_admitted_during_an_interval_counts_from_the_next_one(world: World) -> None:
    period = Period.open(world, households=1)
    (buyer,) = period.members
    seller = period.member(funds_units=10**9, meters=0)  # no meter yet
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    grid = world.grid
    first = grid.first_interval(period.period_id)
    # The manager admits the seller's meter in the middle of interval 1 of the period.
    world.warp(grid.interval_start(first + 1) + 30)
    seller.meters.append(world.admit_meter(seller))
    world.warp(grid.period_end(period.period_id))
    # The meter claims its export for every interval, the two before it counted too.
    period.sign(seller, [(0, 500)] * 4)
    period.sign(buyer, [(500, 0)] * 4)
    result, expected = period.settle()
    assert [c.delivered_wh for c in result.cleared.cleared()] == [0, 0, 500, 500]
    assert expected.household(seller.address).delivered_wh == 1_000
    assert_audit_clean(world)


def test_a_meter_admitted_after_the_period_cannot_settle_it(world: World) -> None:
    # v1's flaw: a meter admitted after the interval was used to settle it (a seller paid
    # for energy no counting meter measured).
    period = Period.open(world, households=1)
    (buyer,) = period.members
    seller = period.member(funds_units=10**9, meters=0)
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    world.warp(world.grid.period_end(period.period_id) + 1)
    seller.meters.append(world.admit_meter(seller))
    late = period.sign(seller, [(0, 500)] * 4)
    period.sign(buyer, [(500, 0)] * 4)
    meter_id = seller.meters[0].meter_id
    refusal = period.refused(
        "ExchangeMeterOutsidePeriod", lambda: world.exchange.post_meter_batches([late])
    )
    assert refusal.arguments == {"meterId": meter_id, "periodId": period.period_id}
    households = period.households()
    hints = period.expected(households).hints
    period.refused(
        "ExchangeMeterOutsidePeriod",
        lambda: world.exchange.settle_period(period.period_id, households, hints),
    )
    # Settled with the meter as None: the seller measured nothing, nobody paid.
    del period.batches[meter_id]
    result, expected = period.settle()
    assert result.settled.delivered_wh == 0
    assert expected.household(buyer.address).change_units == 0
    assert_audit_clean(world)


def test_a_removed_members_entries_stop_counting(world: World) -> None:
    period = Period.open(world, households=3)
    seller, buyer, backup = period.members
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    period.post(backup, [Entry(EntrySide.BUY, 500, 120_000)] * 4)
    grid = world.grid
    first = grid.first_interval(period.period_id)
    # The buyer is removed in the middle of interval 1: only interval 0 counts for it.
    world.warp(grid.interval_start(first + 1) + 20)
    world.community.remove_household(buyer.address)
    late = period.schedule(buyer, [BUY] * 2, offset=2)
    refusal = period.refused("ExchangeNotMember", lambda: buyer.exchange.post_schedules([late]))
    assert refusal.arguments == {"index": 0, "household": buyer.address}
    world.warp(grid.period_end(period.period_id))
    period.sign(seller, [(0, 500)] * 4)
    period.sign(buyer, [(500, 0)] * 4)  # its meter was revoked with it: counts for interval 0
    period.sign(backup, [(500, 0)] * 4)
    result, expected = period.settle()
    assert expected.household(buyer.address).received_wh == 500
    assert expected.household(backup.address).received_wh == 1_500
    assert [c.price_per_kwh for c in result.cleared.cleared()] == [150_000] + [95_000] * 3
    assert world.exchange.escrow_of(buyer.address).locked_units == 0
    assert_audit_clean(world)


def test_a_settled_period_never_changes(world: World) -> None:
    period = Period.open(world, households=2)
    seller, buyer = period.members
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, [(0, 500)] * 4)
    signed = period.sign(buyer, [(500, 0)] * 4)
    households = period.households()
    hints = period.expected(households).hints
    period.settle()
    # Settle again (same input, or one where the buyer measured nothing).
    period.refused(
        "ExchangeAlreadySettled",
        lambda: world.exchange.settle_period(period.period_id, households, hints),
    )
    meter_id = buyer.meters[0].meter_id
    zero = [
        h if h.household != buyer.address else replace(h, meters=(MeterData.none(),))
        for h in households
    ]
    period.refused(
        "ExchangeAlreadySettled",
        lambda: world.exchange.settle_period(period.period_id, zero, hints),
    )
    # Its batch, accepted inline, cannot be posted again; nor a schedule for it be added.
    refusal = period.refused(
        "ExchangeBatchExists", lambda: world.exchange.post_meter_batches([signed])
    )
    assert refusal.arguments == {"meterId": meter_id, "periodId": period.period_id}
    again = period.schedule(buyer, [BUY] * 4)
    period.refused("ExchangeGateClosed", lambda: world.exchange.post_schedules([again]))
    assert_audit_clean(world)


def test_a_settler_cannot_make_a_late_meter_or_a_removed_member_count(world: World) -> None:
    # The settler's view of the registry does not enter: the hints carry no window, and the
    # contract reads every admission and removal time itself.
    period = Period.open(world, households=2)
    buyer, backup = period.members
    seller = period.member(funds_units=10**9, meters=0)
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    period.post(backup, [Entry(EntrySide.BUY, 500, 120_000)] * 4)
    grid = world.grid
    first = grid.first_interval(period.period_id)
    world.warp(grid.interval_start(first + 2) + 5)
    seller.meters.append(world.admit_meter(seller))  # counts for interval 3 only
    world.community.remove_household(buyer.address)  # counted for intervals 0 and 1
    world.warp(grid.period_end(period.period_id))
    period.sign(seller, [(0, 500)] * 4)
    period.sign(buyer, [(500, 0)] * 4)
    period.sign(backup, [(500, 0)] * 4)
    households = period.households()
    honest = period.expected(households)
    always = Window(1, 0)
    lies = {
        "the late meter always counted": {seller.meters[0].meter_id: always},
        "the removed buyer never left": {
            buyer.address: always,
            buyer.meters[0].meter_id: always,
        },
    }
    for windows in lies.values():
        claimed = engine_outcome(world, period.period_id, households, windows=windows)
        assert claimed.cleared_intervals != honest.cleared_intervals
        if not period.refuses_hints(households, claimed.hints):
            # Same hints: the contract still derives the outcome from the chain's registry.
            snapshot = world.manager.w3.provider.make_request("evm_snapshot", [])  # type: ignore[arg-type]
            result = world.exchange.settle_period(period.period_id, households, claimed.hints)
            assert result.cleared.intervals == honest.cleared_intervals
            world.manager.w3.provider.make_request("evm_revert", [snapshot["result"]])  # type: ignore[arg-type]
    result, expected = period.settle()
    assert [c.delivered_wh for c in result.cleared.cleared()] == [0, 0, 0, 500]
    assert expected.household(buyer.address).received_wh == 0
    assert_audit_clean(world)


def test_a_member_removed_before_the_period_freezes_nothing(world: World) -> None:
    period = Period.open(world, households=2)
    seller, buyer = period.members
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    locked = world.exchange.escrow_of(buyer.address).locked_units
    assert locked == 4 * 500 * 230_000 // 1000
    # Removed while its posting waits for the period: none of its entries will count.
    world.community.remove_household(buyer.address)
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, [(0, 500)] * 4)
    # Its revoked meter counts for no interval: it needs no data, even before the deadline;
    # data for it is refused by name.
    stale = period.sign(buyer, [(500, 0)] * 4)
    refusal = period.refused(
        "ExchangeMeterOutsidePeriod", lambda: world.exchange.post_meter_batches([stale])
    )
    assert refusal.arguments["meterId"] == buyer.meters[0].meter_id
    del period.batches[stale.period.meter_id]
    result, expected = period.settle(period.outsider())
    assert result.settled.delivered_wh == 0
    assert expected.household(buyer.address).released_units == locked
    escrow = world.exchange.escrow_of(buyer.address)
    assert (escrow.free_units, escrow.locked_units) == (10**9, 0)
    # A removed member still takes its money out.
    buyer.exchange.withdraw(10**9)
    period.assert_conserved()
    assert_audit_clean(world)


def test_the_manager_cannot_void_a_period_by_removing_after_it(world: World) -> None:
    # The manager removes the seller and revokes the buyer's meter once the period is over,
    # before anyone settles: both counted for every interval, so the trades stand.
    period = Period.open(world, households=2)
    seller, buyer = period.members
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    world.warp(world.grid.period_end(period.period_id))
    world.community.remove_household(seller.address)
    world.community.revoke_meter(buyer.meters[0].meter_id)
    period.sign(seller, [(0, 500)] * 4)
    period.sign(buyer, [(500, 0)] * 4)
    # The buyer's revoked meter still counts for P: leaving its data out is refused.
    without = period.households()
    n = next(i for i, h in enumerate(without) if h.household == buyer.address)
    without[n] = replace(without[n], meters=(MeterData.none(),))
    refusal = period.refused(
        "ExchangeMeterDataMissing",
        lambda: world.exchange.settle_period(period.period_id, without, period.expected().hints),
    )
    assert refusal.arguments["meterId"] == buyer.meters[0].meter_id
    result, expected = period.settle()
    assert result.settled.delivered_wh == 2_000
    assert expected.household(seller.address).change_units == 4 * 500 * 150_000 // 1000
    assert_audit_clean(world)

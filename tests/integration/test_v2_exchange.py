"""QuartierExchange's escrow and posting rules through ledger.exchange on a real Anvil node:
each refusal comes back as its named error with the facts a client needs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from v2_support import GRID, RULES, Member, World

from ledger.chain import Sender
from ledger.errors import revert_class
from ledger.schedules import (
    NO_ENTRY,
    Entry,
    EntrySide,
    Schedule,
    first_small_entry,
    sign_schedule,
)

pytestmark = pytest.mark.integration

BUY = Entry(EntrySide.BUY, 1_000, 200_000)  # locks 200_000 units


@pytest.fixture
def world(manager: Sender) -> World:
    return World.deploy(manager)


@pytest.fixture
def member(world: World) -> Member:
    return world.member(funds_units=500_000)


def test_deposit_lock_and_withdraw(world: World, member: Member) -> None:
    period_id = world.open_period()
    member.exchange.post_schedules([world.schedule(member, period_id, [BUY])])
    escrow = world.exchange.escrow_of(member.address)
    assert (escrow.free_units, escrow.locked_units) == (300_000, 200_000)
    with pytest.raises(revert_class("ExchangeInsufficientFree")) as refused:
        member.exchange.withdraw(300_001)
    assert refused.value.arguments == {
        "household": member.address,
        "freeUnits": 300_000,
        "neededUnits": 300_001,
    }
    withdrawn = member.exchange.withdraw(300_000)
    assert (withdrawn.household, withdrawn.amount_units) == (member.address, 300_000)
    assert member.token.balance_of(member.address) == 300_000
    assert world.token.balance_of(world.exchange.address) == 200_000
    with pytest.raises(revert_class("ExchangeZeroAmount")):
        member.exchange.deposit(0)


def test_a_posting_needs_free_escrow_for_its_lock(world: World, member: Member) -> None:
    period_id = world.open_period()
    big = Entry(EntrySide.BUY, 2_000, 300_000)  # 600_000 units > 500_000 free
    with pytest.raises(revert_class("ExchangeInsufficientFree")) as refused:
        world.exchange.post_schedules([world.schedule(member, period_id, [big])])
    assert refused.value.arguments["neededUnits"] == 600_000


def test_versions_only_go_up(world: World, member: Member) -> None:
    period_id = world.open_period()
    world.exchange.post_schedules([world.schedule(member, period_id, [NO_ENTRY], version=5)])
    with pytest.raises(revert_class("ExchangeStaleVersion")) as refused:
        world.exchange.post_schedules([world.schedule(member, period_id, [NO_ENTRY], version=5)])
    assert refused.value.arguments == {"index": 0, "version": 5, "lastVersion": 5}
    world.exchange.post_schedules([world.schedule(member, period_id, [BUY], version=6)])
    assert world.exchange.schedule_record(member.address, period_id).postings == 2


def test_timing_rules_are_named(world: World, member: Member) -> None:
    period_id = world.open_period()
    with pytest.raises(revert_class("ExchangePeriodBeyondHorizon")) as beyond:
        world.exchange.post_schedules([world.schedule(member, period_id + 1, [BUY])])
    assert beyond.value.arguments == {
        "index": 0,
        "periodId": period_id + 1,
        "lastOpenPeriodId": period_id,
    }
    outside = Schedule(member.address, period_id, 1, GRID.first_interval(period_id) + 3, (BUY, BUY))
    signed = sign_schedule(member.account.key, outside, world.chain_id, world.exchange.address)
    with pytest.raises(revert_class("ExchangeIntervalOutsidePeriod")) as spills:
        world.exchange.post_schedules([signed])
    assert spills.value.arguments["intervalId"] == GRID.first_interval(period_id) + 4
    # Once interval k has started its gate is closed (gate lead 0 in these rules).
    world.warp(GRID.interval_start(GRID.first_interval(period_id) + 1))
    with pytest.raises(revert_class("ExchangeGateClosed")) as closed:
        world.exchange.post_schedules([world.schedule(member, period_id, [BUY])])
    assert closed.value.arguments["gateClosedAt"] == GRID.period_start(period_id)


def test_entries_below_the_communitys_minimum_are_refused(manager: Sender) -> None:
    world = World.deploy(manager, rules=replace(RULES, min_entry_wh=100))
    member = world.member(funds_units=500_000)
    period_id = world.open_period()
    entries = [BUY, NO_ENTRY, Entry(EntrySide.SELL, 99, 1)]
    assert first_small_entry(entries, 100) == 2
    with pytest.raises(revert_class("ExchangeBadEntries")) as refused:
        world.exchange.post_schedules(
            [
                world.schedule(member, period_id, [BUY]),
                world.schedule(member, period_id, entries, version=2),
            ]
        )
    assert refused.value.arguments == {"index": 1, "entryIndex": 2}


def test_only_members_post(world: World) -> None:
    period_id = world.open_period()
    stranger = Account.create()
    schedule = Schedule(stranger.address, period_id, 1, GRID.first_interval(period_id), (BUY,))
    signed = sign_schedule(stranger.key, schedule, world.chain_id, world.exchange.address)
    with pytest.raises(revert_class("ExchangeNotMember")) as refused:
        world.exchange.post_schedules([signed])
    assert refused.value.arguments == {"index": 0, "household": stranger.address}

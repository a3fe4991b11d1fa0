"""The CWaPE allocation keys on chain (issue 15), attacked: nobody but the community's manager
changes a key, the manager's change never reaches the current, the next or a past period,
and the key of a settled period never changes, whatever the manager does afterwards."""

from __future__ import annotations

import pytest
from attack_support import Period
from v2_support import Member, World

from ledger.dso.keys import KeyRule
from ledger.errors import revert_class
from ledger.schedules import Entry, EntrySide
from ledger.sharing_keys import ChainKey, SharingKeysClient, deploy_sharing_keys

pytestmark = pytest.mark.integration

VOLUMES = ([700, 0, 0], [0, 500, 500])  # production, consumption of three members


def _keys(world: World, members: list[Member]) -> SharingKeysClient:
    """A keys contract bound to the world's community: a fixed key from period 0 on."""
    key = ChainKey(
        0, None, (KeyRule.FIXED, KeyRule.PRO_RATA), tuple(m.address for m in members),
        (2000, 5000, 3000),
    )  # fmt: skip
    address, _ = deploy_sharing_keys(world.manager, world.community.address, [key])
    return SharingKeysClient(world.manager, address)


def _held(keys: SharingKeysClient, period: int) -> tuple[object, ...]:
    """What `period` is shared by: the key's id and its rule over its members (its end may
    move later on, by the rule delay, never to or before `period`)."""
    key_id, key = keys.key_at(period)
    return key_id, key.valid_from_period, key.cascade, key.members, key.shares_bp


def _as(client: SharingKeysClient, member: Member) -> SharingKeysClient:
    return SharingKeysClient(member.sender, client.address)


def test_nobody_but_the_manager_changes_a_key(world: World) -> None:
    period = Period.open(world, households=3)
    keys = _keys(world, period.members)
    history = keys.history()
    earliest = keys.earliest_change_period()
    new = ChainKey(earliest + 5, None, (KeyRule.EQUAL,), history[0].members)
    for attacker in (period.members[0], period.outsider()):
        theirs = _as(keys, attacker)
        with pytest.raises(revert_class("SharingKeysNotManager")) as refusal:
            theirs.end_key_from(0, earliest)
        assert refusal.value.arguments["caller"] == attacker.address
        with pytest.raises(revert_class("SharingKeysNotManager")):
            theirs.schedule_key(new)
    # The community's old manager is no manager of the keys once management moved on.
    successor = period.members[1]
    world.community.transfer_management(successor.address)
    with pytest.raises(revert_class("SharingKeysNotManager")):
        keys.end_key_from(0, earliest)
    assert keys.history() == history
    assert _as(keys, successor).end_key_from(0, earliest) == earliest - 1


def test_a_managers_change_never_reaches_the_current_next_or_a_past_period(
    world: World,
) -> None:
    period = Period.open(world, households=3)
    keys = _keys(world, period.members)
    current = world.community.current_period()
    earliest = keys.earliest_change_period()
    assert earliest == current + world.community.rule_change_delay_periods()
    members = keys.key_by_id(0).members
    for too_early in (0, current - 1, current, current + 1, earliest - 1):
        with pytest.raises(revert_class("SharingKeysChangeTooEarly")) as refusal:
            keys.end_key_from(0, too_early)
        assert refusal.value.arguments == {"period": too_early, "earliestPeriod": earliest}
    # Ended from the earliest period, the gap before it cannot be filled either.
    keys.end_key_from(0, earliest)
    for too_early in (current, earliest - 1):
        with pytest.raises(revert_class("SharingKeysChangeTooEarly")):
            keys.schedule_key(ChainKey(too_early, None, (KeyRule.EQUAL,), members))
    # Nor can the end be moved later again, into a period already final.
    with pytest.raises(revert_class("SharingKeysEndNotEarlier")):
        keys.end_key_from(0, earliest + 10)
    for final in (current - 1, current, current + 1, earliest - 1):
        assert keys.key_at(final)[0] == 0
    assert keys.schedule_key(ChainKey(earliest, None, (KeyRule.EQUAL,), members)) == 1
    assert keys.key_at(earliest)[0] == 1


def test_a_settled_periods_key_never_changes(world: World) -> None:
    period = Period.open(world, households=3)
    seller, buyer, _ = period.members
    keys = _keys(world, period.members)
    period.post(seller, [Entry(EntrySide.SELL, 50, 60_000)])
    period.post(buyer, [Entry(EntrySide.BUY, 50, 300_000)])
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, [(0, 50), (0, 0), (0, 0), (0, 0)])
    period.sign(buyer, [(50, 0), (0, 0), (0, 0), (0, 0)])
    period.settle()
    settled = period.period_id
    assert world.exchange.is_settled(settled)
    before = _held(keys, settled), keys.allocate_at(settled, *VOLUMES)
    members = keys.key_by_id(0).members
    # Everything the manager may still try: end the key at the settled period or just after
    # it, set another key over it, and then every change the contract does accept.
    for attempt in (settled, settled + 1):
        with pytest.raises(revert_class("SharingKeysChangeTooEarly")):
            keys.end_key_from(0, attempt)
        with pytest.raises(revert_class("SharingKeysChangeTooEarly")):
            keys.schedule_key(ChainKey(attempt, attempt, (KeyRule.EQUAL,), members))
    earliest = keys.earliest_change_period()
    keys.end_key_from(0, earliest)
    keys.schedule_key(ChainKey(earliest, None, (KeyRule.EQUAL,), members))
    assert (_held(keys, settled), keys.allocate_at(settled, *VOLUMES)) == before
    assert keys.key_at(settled)[1].holds_for(settled)
    assert keys.allocate_at(earliest, *VOLUMES) != before[1]  # the change did change later

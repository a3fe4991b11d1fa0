"""Property 2, the chain is the order book, attacked by a relayer and a settler: a schedule the
relayer will not post still counts, and nobody can leave a household, a posting or an entry
out, add one late, replay an old version, forge a signature or reorder postings."""

from __future__ import annotations

from dataclasses import replace

import pytest
from attack_support import Period, assert_audit_clean, engine_outcome
from eth_account import Account
from v2_support import World

from api.settlement import SettlementError
from ledger.chain import Sender
from ledger.exchange import HouseholdPeriod
from ledger.schedules import Entry, EntrySide, SignedSchedule, schedule_digest, sign_schedule

pytestmark = pytest.mark.integration

SELL = Entry(EntrySide.SELL, 800, 80_000)
BUY = Entry(EntrySide.BUY, 500, 220_000)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _traded(world: World) -> Period:
    """A seller (one posting), a buyer (two postings) and an idle bidder, meters signed,
    the period over: ready to settle."""
    period = Period.open(world, households=3)
    seller, buyer, idle = period.members
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    period.post(buyer, [Entry(EntrySide.BUY, 300, 250_000)], offset=2)
    period.post(idle, [Entry(EntrySide.BUY, 100, 55_000)] * 2)
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, [(0, 800)] * 4)
    period.sign(buyer, [(500, 0)] * 4)
    period.sign(idle, [(100, 0)] * 4)
    return period


def test_a_schedule_the_relayer_will_not_post_is_posted_by_its_household_and_counts(
    world: World,
) -> None:
    period = Period.open(world, households=2)
    seller, buyer = period.members
    relayer = period.outsider()
    period.post(seller, [SELL], by=relayer)
    # The relayer refuses the buyer's schedule: the buyer posts it itself (forced inclusion).
    period.post(buyer, [BUY], by=buyer)
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, [(0, 800), (0, 0), (0, 0), (0, 0)])
    period.sign(buyer, [(500, 0), (0, 0), (0, 0), (0, 0)])
    # The relayer settles from the chain's postings: the buyer's is in the book.
    result, expected = period.settle(relayer)
    bought = expected.household(buyer.address)
    assert (bought.received_wh, bought.change_units) == (500, -75_000)
    assert result.settled.delivered_wh == 500
    assert world.exchange.escrow_of(buyer.address).locked_units == 0
    assert_audit_clean(world)


def test_a_settler_cannot_leave_a_household_out(world: World) -> None:
    period = _traded(world)
    households = period.households()
    for left_out in range(len(households)):
        fewer = households[:left_out] + households[left_out + 1 :]
        hints = engine_outcome(world, period.period_id, fewer).hints
        refusal = period.refused(
            "ExchangeHouseholdsIncomplete",
            lambda f=fewer, h=hints: world.exchange.settle_period(period.period_id, f, h),
        )
        assert refusal.arguments == {"periodId": period.period_id, "given": 2, "posted": 3}
    # Nor add one that never posted (a household of its own making).
    stranger = period.member(meters=0)
    extra = sorted(
        [*households, HouseholdPeriod(stranger.address, households[0].postings, ())],
        key=lambda h: int(h.household, 16),
    )
    refusal = period.refused(
        "ExchangeHouseholdsIncomplete",
        lambda: world.exchange.settle_period(period.period_id, extra, b""),
    )
    assert refusal.arguments["given"] == 4
    period.settle()
    assert_audit_clean(world)


def test_a_settler_cannot_leave_out_change_or_reorder_a_posting(world: World) -> None:
    period = _traded(world)
    households = period.households()
    buyer = period.members[1]
    h = next(n for n, hh in enumerate(households) if hh.household == buyer.address)
    first, second = households[h].postings
    tampered = {
        "the revision left out": (first,),
        "the first posting left out": (second,),
        "postings reordered": (second, first),
        "an entry left out": (replace(first, entries=first.entries[:3]), second),
        "an entry changed": (
            replace(first, entries=(Entry(EntrySide.BUY, 5, 220_000),) * 4),
            second,
        ),
    }
    record = world.exchange.schedule_record(buyer.address, period.period_id)
    for postings in tampered.values():
        forged = [*households]
        forged[h] = replace(households[h], postings=postings)
        try:
            hints = engine_outcome(world, period.period_id, forged).hints
        except SettlementError:  # the engine refuses versions out of order: honest hints
            hints = period.expected(households).hints
        refusal = period.refused(
            "ExchangePostingsMismatch",
            lambda f=forged, hh=hints: world.exchange.settle_period(period.period_id, f, hh),
        )
        assert refusal.arguments["household"] == buyer.address
        assert refusal.arguments["head"] == record.head
    period.settle()
    assert_audit_clean(world)


def test_households_out_of_address_order_are_refused(world: World) -> None:
    period = _traded(world)
    households = period.households()
    hints = period.expected(households).hints
    for forged, index in (
        ([households[1], households[0], households[2]], 1),
        ([households[0], households[2], households[1]], 2),
        ([households[0], households[0], households[2]], 1),
    ):
        refusal = period.refused(
            "ExchangeHouseholdsNotSorted",
            lambda f=forged: world.exchange.settle_period(period.period_id, f, hints),
        )
        assert refusal.arguments == {"index": index}
    period.settle()


def test_nothing_is_added_after_its_gate(world: World) -> None:
    period = Period.open(world, households=2)
    seller, buyer = period.members
    period.post(seller, [SELL] * 4)
    grid = world.grid
    first = grid.first_interval(period.period_id)
    world.warp(grid.interval_start(first + 1) + 10)
    # Interval 0 has begun, interval 1 too: neither can get an entry any more.
    for offset in (0, 1):
        late = period.schedule(buyer, [BUY] * (4 - offset), offset=offset)
        refusal = period.refused(
            "ExchangeGateClosed", lambda s=late: buyer.exchange.post_schedules([s])
        )
        assert refusal.arguments["intervalId"] == first + offset
        assert refusal.arguments["gateClosedAt"] == grid.interval_start(first + offset)
    # A revision of the seller's, from interval 1 (gate passed): refused as well.
    revision = period.schedule(seller, [], offset=1)
    period.refused("ExchangeGateClosed", lambda: seller.exchange.post_schedules([revision]))
    # From interval 2 on the gate is open: the buyer's posting there is taken.
    period.post(buyer, [BUY, BUY], offset=2, by=buyer)
    world.warp(grid.period_end(period.period_id))
    period.sign(seller, [(0, 800)] * 4)
    period.sign(buyer, [(500, 0)] * 4)
    result, _ = period.settle()
    # The late buyer traded in intervals 2 and 3 only; the settler could not slip it in earlier.
    assert [i.delivered_wh for i in result.cleared.cleared()] == [0, 0, 500, 500]
    assert_audit_clean(world)


def test_an_old_version_cannot_be_replayed(world: World) -> None:
    period = Period.open(world, households=1)
    (buyer,) = period.members
    v1 = period.post(buyer, [BUY] * 4)
    v2 = period.post(buyer, [], offset=0)  # withdraws every entry
    for replayed in (v1, v2):
        refusal = period.refused(
            "ExchangeStaleVersion", lambda s=replayed: world.exchange.post_schedules([s])
        )
        assert refusal.arguments == {
            "index": 0,
            "version": replayed.schedule.version,
            "lastVersion": 2,
        }
    # The relayer cannot reorder either: a later version posted first makes the earlier stale.
    v4 = period.schedule(buyer, [BUY], version=4)
    v3 = period.schedule(buyer, [BUY, BUY], version=3)
    refusal = period.refused(
        "ExchangeStaleVersion", lambda: world.exchange.post_schedules([v4, v3])
    )
    assert refusal.arguments == {"index": 1, "version": 3, "lastVersion": 4}
    # In order, both are taken.
    world.exchange.post_schedules([v3, v4])
    assert world.exchange.schedule_record(buyer.address, period.period_id).postings == 4
    assert_audit_clean(world)


def test_forged_malleated_and_foreign_signatures_are_refused(world: World, manager: Sender) -> None:
    period = Period.open(world, households=1)
    (victim,) = period.members
    honest = period.schedule(victim, [BUY] * 4)
    schedule = honest.schedule
    attacker = Account.create()
    other = World.deploy(manager)
    forgeries = {
        "signed by another key": SignedSchedule(
            schedule,
            Account.unsafe_sign_hash(
                schedule_digest(schedule, world.chain_id, world.exchange.address), attacker.key
            ).signature,
        ),
        "signed for another exchange": sign_schedule(
            victim.account.key, schedule, world.chain_id, other.exchange.address
        ),
        "signed for another chain": sign_schedule(
            victim.account.key, schedule, world.chain_id + 1, world.exchange.address
        ),
        "entries changed after signing": SignedSchedule(
            replace(schedule, entries=(Entry(EntrySide.BUY, 1, 220_000),) * 4), honest.signature
        ),
    }
    for forged in forgeries.values():
        refusal = period.refused(
            "ExchangeBadSignature", lambda s=forged: world.exchange.post_schedules([s])
        )
        assert refusal.arguments["household"] == victim.address
        assert refusal.arguments["signer"] != victim.address
    assert refusal.arguments["index"] == 0
    # The high-s twin recovers the victim's address, but OpenZeppelin's ECDSA refuses it.
    s = int.from_bytes(honest.signature[32:64], "big")
    twin = SignedSchedule(
        schedule,
        honest.signature[:32]
        + (SECP256K1_N - s).to_bytes(32, "big")
        + bytes([55 - honest.signature[64]]),
    )
    digest = schedule_digest(schedule, world.chain_id, world.exchange.address)
    assert Account._recover_hash(digest, signature=twin.signature) == victim.address
    # Unrecoverable forms: the high-s twin, a raw v of 0 or 1 (a 64-byte signature cannot
    # even be built: ledger.schedules refuses it).
    raw_v = [SignedSchedule(schedule, honest.signature[:64] + bytes([v])) for v in (0, 1)]
    for unrecoverable in (twin, *raw_v):
        refusal = period.refused(
            "ExchangeBadSignature", lambda u=unrecoverable: world.exchange.post_schedules([u])
        )
        assert refusal.arguments["signer"] == "0x" + "00" * 20
    # Forged for a household that is no member: membership is checked first.
    stranger = replace(schedule, household=attacker.address)
    refusal = period.refused(
        "ExchangeNotMember",
        lambda: world.exchange.post_schedules(
            [sign_schedule(attacker.key, stranger, world.chain_id, world.exchange.address)]
        ),
    )
    assert refusal.arguments == {"index": 0, "household": attacker.address}
    world.exchange.post_schedules([honest])
    assert world.exchange.escrow_of(victim.address).locked_units == schedule.lock_units
    assert_audit_clean(world)

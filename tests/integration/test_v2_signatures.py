"""Python's v2 signing against QuartierExchange on a real Anvil node: the same digests, and
the contract takes exactly the signatures ledger.schedules / metering.period produce."""

from __future__ import annotations

import pytest
from v2_support import GRID, Member, World

from ledger.chain import Sender
from ledger.errors import revert_class
from ledger.schedules import (
    NO_ENTRY,
    Entry,
    EntrySide,
    Schedule,
    SignedSchedule,
    posting_chain_head,
    schedule_digest,
    schedule_struct_hash,
    verify_schedule,
)
from metering.period import (
    MeterPeriod,
    SignedMeterPeriod,
    domain_separator_v2,
    meter_period_digest,
    struct_hash,
    verify_meter_period,
)
from metering.reading import P256_ORDER

pytestmark = pytest.mark.integration

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture
def world(manager: Sender) -> World:
    return World.deploy(manager)


@pytest.fixture
def buyer(world: World) -> Member:
    return world.member(funds_units=10_000_000)


ENTRIES = [
    Entry(EntrySide.BUY, 1_500, 300_000),
    NO_ENTRY,
    Entry(EntrySide.SELL, 2**24 - 1, 2**32 - 1),
    Entry(EntrySide.BUY, 1, 1),
]


def test_digests_equal_the_contracts(world: World, buyer: Member) -> None:
    exchange = world.exchange
    assert exchange.community() == world.community.address
    assert exchange.token() == world.token.address
    assert exchange.domain_separator() == domain_separator_v2(world.chain_id, exchange.address)
    for entries in (ENTRIES, [], [NO_ENTRY] * 4):
        schedule = Schedule(buyer.address, 7, 3, GRID.first_interval(7) + 1, tuple(entries[:3]))
        expected = schedule_digest(schedule, world.chain_id, exchange.address)
        assert exchange.schedule_digest(schedule) == expected
    meter = buyer.meters[0]
    for start, deltas in (((0, 0), [(0, 0)] * 4), ((2**40, 17), [(2**32 - 1, 5), (1, 2)])):
        period = MeterPeriod(meter.meter_id, 2**63, start[0], start[1], tuple(deltas))
        expected = meter_period_digest(period, world.chain_id, exchange.address)
        assert exchange.meter_batch_digest(period) == expected


def _twin(signed: SignedSchedule, *, high_s: bool = False, v: int | None = None) -> SignedSchedule:
    r, s, v_byte = (
        signed.signature[:32],
        int.from_bytes(signed.signature[32:64], "big"),
        signed.signature[64],
    )
    if high_s:
        # (r, n - s) with v flipped recovers the very same address: only the low-s rule refuses it.
        s, v_byte = SECP256K1_N - s, 55 - v_byte
    signature = r + s.to_bytes(32, "big") + bytes([v_byte if v is None else v])
    return SignedSchedule(signed.schedule, signature)


def test_a_python_signed_schedule_is_accepted(world: World, buyer: Member) -> None:
    period_id = world.open_period()
    signed = world.schedule(buyer, period_id, [*ENTRIES[:2], NO_ENTRY, ENTRIES[3]])
    result = buyer.exchange.post_schedules([signed])
    (posted,) = result.posted
    assert (posted.household, posted.period_id, posted.version) == (buyer.address, period_id, 1)
    assert posted.schedule_hash == schedule_struct_hash(signed.schedule)
    assert posted.locked_units == signed.schedule.lock_units == 450_001
    record = world.exchange.schedule_record(buyer.address, period_id)
    assert record.head == posting_chain_head([signed.schedule])
    assert (record.last_version, record.postings) == (1, 1)
    assert world.exchange.posting_households(period_id) == 1
    escrow = world.exchange.escrow_of(buyer.address)
    assert (escrow.free_units, escrow.locked_units) == (10_000_000 - 450_001, 450_001)


@pytest.mark.parametrize("twin", ["high-s", "v=0", "v=1"])
def test_malleated_or_raw_v_twins_are_refused(world: World, buyer: Member, twin: str) -> None:
    period_id = world.open_period()
    signed = world.schedule(buyer, period_id, ENTRIES[:2])
    bad = _twin(signed, high_s=True) if twin == "high-s" else _twin(signed, v=int(twin[-1]))
    if twin == "high-s":
        from eth_account import Account

        # The twin is a valid secp256k1 signature of the household (ecrecover alone takes it).
        digest = schedule_digest(signed.schedule, world.chain_id, world.exchange.address)
        assert Account._recover_hash(digest, signature=bad.signature) == buyer.address
    # Python's verdict is the contract's.
    assert verify_schedule(signed, world.chain_id, world.exchange.address)
    assert not verify_schedule(bad, world.chain_id, world.exchange.address)
    with pytest.raises(revert_class("ExchangeBadSignature")) as refused:
        world.exchange.post_schedules([signed, bad])
    assert refused.value.arguments["index"] == 1
    assert refused.value.arguments["household"] == buyer.address
    # All or nothing: the good first item was not recorded either.
    assert world.exchange.schedule_record(buyer.address, period_id).postings == 0
    world.exchange.post_schedules([signed])
    assert world.exchange.schedule_record(buyer.address, period_id).postings == 1


def test_a_python_signed_meter_batch_verifies_on_chain(world: World, buyer: Member) -> None:
    period_id = world.open_period()
    world.warp(GRID.period_end(period_id))
    meter = buyer.meters[0]
    signed = world.batch(meter, period_id, (5_000, 40), [(10, 0), (0, 3), (250, 0), (1, 1)])
    assert verify_meter_period(signed, meter.public_key, world.chain_id, world.exchange.address)
    high = SignedMeterPeriod(signed.period, signed.r, P256_ORDER - signed.s)
    assert not verify_meter_period(high, meter.public_key, world.chain_id, world.exchange.address)
    # P256VERIFY alone accepts the high-s twin; OpenZeppelin's P256 (and Python) refuse it.
    with pytest.raises(revert_class("ExchangeBadMeterSignature")) as refused:
        world.exchange.post_meter_batches([high])
    assert refused.value.arguments == {"meterId": meter.meter_id, "periodId": period_id}

    (accepted,) = world.exchange.post_meter_batches([signed]).accepted
    assert (accepted.end_import_wh, accepted.end_export_wh) == (5_261, 44)
    chain = world.exchange.meter_chain(meter.meter_id)
    assert (chain.next_period_id, chain.end_import_wh, chain.end_export_wh) == (
        period_id + 1,
        5_261,
        44,
    )
    assert world.exchange.posted_batch_hash(meter.meter_id, period_id) == struct_hash(signed.period)
    with pytest.raises(revert_class("ExchangeBatchExists")):
        world.exchange.post_meter_batches([signed])


def test_meter_batches_chain_on_their_end_registers(world: World, buyer: Member) -> None:
    period_id = world.open_period()
    world.warp(GRID.period_end(period_id + 2))
    meter = buyer.meters[0]
    first = world.batch(meter, period_id, (100, 0), [(1, 0)] * 4)
    world.exchange.post_meter_batches([first])
    broken = world.batch(meter, period_id + 1, (103, 0), [(0, 0)] * 4)
    with pytest.raises(revert_class("ExchangeBatchNotChained")) as refused:
        world.exchange.post_meter_batches([broken])
    assert refused.value.arguments["lastPeriodId"] == period_id
    # After a gap the start may only be at or above the last end.
    gap = world.batch(meter, period_id + 2, (110, 0), [(0, 0)] * 4)
    world.exchange.post_meter_batches([gap])
    assert world.exchange.meter_chain(meter.meter_id).next_period_id == period_id + 3
    short = world.batch(meter, period_id + 3, (110, 0), [(0, 0)] * 3)
    world.warp(GRID.period_end(period_id + 3))
    with pytest.raises(revert_class("ExchangeBadDeltas")) as bad:
        world.exchange.post_meter_batches([short])
    assert bad.value.arguments == {"meterId": meter.meter_id, "length": 24, "expectedLength": 32}

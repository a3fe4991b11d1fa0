"""Property 4, meters sign the period, attacked by a meter owner: a forged or tampered batch,
another meter's key, a high-s twin, a batch not chained, a replay, a batch before the period
ends or for a key never admitted are refused by name, posted or inline; a buyer who withholds
its meter's batch cannot freeze anyone's escrow: past the deadline it settles at 0 Wh."""

from __future__ import annotations

from dataclasses import replace

import pytest
from attack_support import START, Period, assert_audit_clean, engine_outcome
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from v2_support import World

from ledger.exchange import HouseholdPeriod, MeterData
from ledger.schedules import Entry, EntrySide
from metering.period import (
    MeterPeriod,
    SignedMeterPeriod,
    low_s,
    meter_period_digest,
)
from metering.reading import P256_ORDER, PublicKey, meter_id_of

pytestmark = pytest.mark.integration

SELL = Entry(EntrySide.SELL, 600, 80_000)
BUY = Entry(EntrySide.BUY, 600, 220_000)  # locks 132_000 units
SELLER_FLOW = [(0, 600)] * 4
BUYER_FLOW = [(600, 0)] * 4


def _signed_by(
    key: ec.EllipticCurvePrivateKey, world: World, period: MeterPeriod
) -> SignedMeterPeriod:
    """`period` signed with any P-256 key (metering.period signs only with the meter's own)."""
    digest = meter_period_digest(period, world.chain_id, world.exchange.address)
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    return SignedMeterPeriod(period, r, low_s(s))


def _traded(world: World, buyer_meters: int = 1) -> Period:
    period = Period.open(world, households=1)
    buyer = period.member(funds_units=10**9, meters=buyer_meters)
    (seller,) = period.members[:1]
    period.post(seller, [SELL] * 4)
    period.post(buyer, [BUY] * 4)
    return period


def _with(period: Period, meter_id: bytes, data: MeterData) -> list[HouseholdPeriod]:
    """The honest input with one meter's data replaced (hints from the engine on it, or the
    honest ones where the engine cannot read it)."""
    forged = []
    for household in period.households():
        meters = period.world.community.meters_of(household.household)
        forged.append(
            replace(
                household,
                meters=tuple(
                    data if m == meter_id else d
                    for m, d in zip(meters, household.meters, strict=True)
                ),
            )
        )
    return forged


def _settle(period: Period, households: list[HouseholdPeriod]) -> object:
    hints = period.expected().hints
    return period.world.exchange.settle_period(period.period_id, households, hints)


def test_forged_batches_are_refused_posted_and_inline(world: World) -> None:
    period = _traded(world, buyer_meters=2)
    seller, buyer = period.members
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, SELLER_FLOW)
    honest = period.sign(buyer, BUYER_FLOW)
    meter = buyer.meters[0]
    # The buyer lowers its import after signing; its other meter's key signs for this meter;
    # a fresh key signs; the high-s twin of the honest signature.
    tampered = SignedMeterPeriod(replace(honest.period, deltas=((0, 0),) * 4), honest.r, honest.s)
    forgeries = {
        "tampered deltas": tampered,
        "another meter's key": _signed_by(
            buyer.meters[1].key, world, replace(honest.period, deltas=((0, 0),) * 4)
        ),
        "a stranger's key": _signed_by(
            ec.generate_private_key(ec.SECP256R1()), world, honest.period
        ),
        "high-s twin": SignedMeterPeriod(honest.period, honest.r, P256_ORDER - honest.s),
    }
    for forged in forgeries.values():
        refusal = period.refused(
            "ExchangeBadMeterSignature", lambda f=forged: world.exchange.post_meter_batches([f])
        )
        assert refusal.arguments == {"meterId": meter.meter_id, "periodId": period.period_id}
        inline = _with(period, meter.meter_id, MeterData.inline(forged))
        period.refused("ExchangeBadMeterSignature", lambda h=inline: _settle(period, h))
    # A key never admitted as a meter.
    stranger = ec.generate_private_key(ec.SECP256R1())
    unknown_id = meter_id_of(PublicKey.from_cryptography(stranger.public_key()))
    unknown = _signed_by(stranger, world, replace(honest.period, meter_id=unknown_id))
    refusal = period.refused(
        "ExchangeUnknownMeter", lambda: world.exchange.post_meter_batches([unknown])
    )
    assert refusal.arguments == {"meterId": unknown_id}
    period.sign(buyer, [(0, 0)] * 4, meter=1)
    result, _ = period.settle()
    assert result.settled.delivered_wh == 2_400
    assert_audit_clean(world)


def test_a_batch_before_the_period_ends_is_refused(world: World) -> None:
    period = _traded(world)
    seller = period.members[0]
    world.warp(world.grid.period_end(period.period_id) - 5)
    early = period.sign(seller, SELLER_FLOW)
    refusal = period.refused(
        "ExchangePeriodNotOver", lambda: world.exchange.post_meter_batches([early])
    )
    assert refusal.arguments == {
        "periodId": period.period_id,
        "endsAt": world.grid.period_end(period.period_id),
    }


def test_replayed_and_unchained_batches_are_refused(world: World) -> None:
    period = _traded(world)
    seller, buyer = period.members
    world.warp(world.grid.period_end(period.period_id + 2))
    period.sign(seller, SELLER_FLOW)
    signed = period.sign(buyer, BUYER_FLOW)
    period.post_batch(buyer)
    meter_id = buyer.meters[0].meter_id
    refusal = period.refused(
        "ExchangeBatchExists", lambda: world.exchange.post_meter_batches([signed])
    )
    assert refusal.arguments == {"meterId": meter_id, "periodId": period.period_id}
    # A posted batch must be the one used: not again inline, not omitted, not altered.
    for data in (
        MeterData.inline(signed),
        MeterData.none(),
        MeterData.posted(replace(signed.period, deltas=((0, 0),) * 4)),
    ):
        households = _with(period, meter_id, data)
        refusal = period.refused(
            "ExchangePostedBatchMismatch", lambda h=households: _settle(period, h)
        )
        assert refusal.arguments == {"meterId": meter_id, "periodId": period.period_id}
    result, _ = period.settle()
    assert result.settled.delivered_wh == 2_400
    # The next period must start where this one ended (P + 1), at or above it after a gap.
    end = (START[0] + 2_400, START[1])
    for later, start in (
        (1, (end[0] - 1, end[1])),
        (1, (end[0] + 1, end[1])),
        (2, (end[0] - 1, end[1])),
    ):
        batch = world.batch(buyer.meters[0], period.period_id + later, start, [(0, 0)] * 4)
        refusal = period.refused(
            "ExchangeBatchNotChained", lambda b=batch: world.exchange.post_meter_batches([b])
        )
        assert refusal.arguments == {
            "meterId": meter_id,
            "periodId": period.period_id + later,
            "lastPeriodId": period.period_id,
        }
    # The meter's old period replayed after settlement.
    period.refused("ExchangeBatchExists", lambda: world.exchange.post_meter_batches([signed]))
    assert_audit_clean(world)


def test_a_withheld_buyer_batch_cannot_freeze_escrow(world: World) -> None:
    period = _traded(world)
    seller, buyer = period.members
    grid = world.grid
    rules = world.community.rules_at(period.period_id)
    deadline = grid.settlement_deadline(period.period_id, rules)
    world.warp(grid.period_end(period.period_id))
    period.sign(seller, SELLER_FLOW)
    period.post_batch(seller)
    # The buyer withholds its batch: before the deadline nobody may settle without it.
    meter_id = buyer.meters[0].meter_id
    refusal = period.refused(
        "ExchangeMeterDataMissing", lambda: _settle(period, period.households())
    )
    assert refusal.arguments == {
        "meterId": meter_id,
        "periodId": period.period_id,
        "deadline": deadline,
    }
    assert (
        world.exchange.escrow_of(buyer.address).locked_units
        == BUY.energy_wh * BUY.price_per_kwh * 4 // 1000
    )
    world.warp(deadline - 1)
    period.refused("ExchangeMeterDataMissing", lambda: _settle(period, period.households()))
    # From the deadline on, anyone settles: the buyer's meter measures 0 Wh.
    world.warp(deadline)
    settler = period.outsider()
    result, expected = period.settle(settler)
    bought = expected.household(buyer.address)
    assert (bought.received_wh, bought.change_units, bought.released_units) == (0, 0, 528_000)
    assert result.settled.delivered_wh == 0
    for member in period.members:
        assert world.exchange.escrow_of(member.address).locked_units == 0
    assert world.exchange.escrow_of(buyer.address).free_units == 10**9
    period.assert_conserved()
    # The withheld batch, brought now, changes nothing of the settled period.
    late = period.sign(buyer, BUYER_FLOW)
    before = {m.address: world.exchange.escrow_of(m.address) for m in period.members}
    world.exchange.post_meter_batches([late])
    assert {m.address: world.exchange.escrow_of(m.address) for m in period.members} == before
    households = period.households()
    period.refused(
        "ExchangeAlreadySettled",
        lambda: world.exchange.settle_period(
            period.period_id, households, engine_outcome(world, period.period_id, households).hints
        ),
    )
    assert_audit_clean(world)


def test_a_later_batch_cannot_erase_a_buyers_open_period(world: World) -> None:
    # With P still open, the buyer gets a batch of P + 1 accepted first (its meter's first
    # batch), so that its batch of P could never chain in and P would settle with 0 Wh for it
    # past the deadline: a purchase paid with nothing. Refused by name while P is open.
    period = _traded(world)
    seller, buyer = period.members
    meter_id = buyer.meters[0].meter_id
    world.warp(world.grid.period_end(period.period_id + 1))
    skipping = world.batch(
        buyer.meters[0], period.period_id + 1, (START[0] + 2_400, START[1]), [(0, 0)] * 4
    )
    refusal = period.refused(
        "ExchangeEarlierPeriodOpen", lambda: buyer.exchange.post_meter_batches([skipping])
    )
    assert refusal.arguments == {"meterId": meter_id, "openPeriodId": period.period_id}
    # P then settles with the buyer's real data.
    period.sign(seller, SELLER_FLOW)
    period.sign(buyer, BUYER_FLOW)
    result, expected = period.settle()
    bought = expected.household(buyer.address)
    assert (bought.received_wh, bought.change_units) == (2_400, -360_000)
    assert result.settled.delivered_wh == 2_400
    # P settled: the later batch now chains from P's end registers.
    buyer.exchange.post_meter_batches([skipping])
    assert world.exchange.meter_chain(meter_id).next_period_id == period.period_id + 2
    assert_audit_clean(world)


def test_posting_the_batches_of_a_waiting_period_keeps_them_in(world: World) -> None:
    # A household's meter batches of P, posted as soon as P ends, cannot be dropped by a
    # settler (Posted must be supplied) nor skipped by a later batch.
    period = _traded(world)
    seller, buyer = period.members
    world.warp(world.grid.period_end(period.period_id))
    period.sign(seller, SELLER_FLOW)
    period.sign(buyer, BUYER_FLOW)
    period.post_batch(seller)
    period.post_batch(buyer)
    world.warp(world.grid.period_end(period.period_id + 1))
    end_import = START[0] + 2_400
    skipping = world.batch(
        buyer.meters[0], period.period_id + 1, (end_import - 1, START[1]), [(0, 0)] * 4
    )
    period.refused("ExchangeBatchNotChained", lambda: buyer.exchange.post_meter_batches([skipping]))
    # Past the deadline, a settler who would rather drop the buyer's posted batch cannot.
    world.warp(
        world.grid.settlement_deadline(period.period_id, world.community.rules_at(period.period_id))
    )
    dropped = _with(period, buyer.meters[0].meter_id, MeterData.none())
    period.refused("ExchangePostedBatchMismatch", lambda: _settle(period, dropped))
    _, expected = period.settle(period.outsider())
    assert expected.household(buyer.address).received_wh == 2_400
    assert_audit_clean(world)

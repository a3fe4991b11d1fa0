"""Property 5, settlement per period, attacked: an outsider settles (and only gets the rounding
remainder), nobody settles early or with a meter left out, nothing stays locked past the
deadline, and the money is conserved: Σ free + Σ locked == the exchange's tokens, Σ change
+ rounding == 0."""

from __future__ import annotations

from dataclasses import replace

import pytest
from attack_support import Period, assert_audit_clean
from v2_support import World

from ledger.schedules import Entry, EntrySide

pytestmark = pytest.mark.integration


def _odd_book(world: World) -> Period:
    """Two sellers, two buyers, odd prices and energies: pro-rata and rounding remainders."""
    period = Period.open(world, households=4)
    first, second, third, fourth = period.members
    period.post(first, [Entry(EntrySide.SELL, 333, 70_001)] * 4)
    period.post(second, [Entry(EntrySide.SELL, 271, 90_007)] * 4)
    period.post(third, [Entry(EntrySide.BUY, 419, 210_013)] * 4)
    period.post(fourth, [Entry(EntrySide.BUY, 157, 301_009)] * 4)
    world.warp(world.grid.period_end(period.period_id))
    period.sign(first, [(0, 301)] * 4)
    period.sign(second, [(0, 271)] * 4)
    period.sign(third, [(400, 0)] * 4)
    period.sign(fourth, [(157, 0)] * 4)
    return period


def test_an_outsider_settles_and_only_gains_the_rounding(world: World) -> None:
    period = _odd_book(world)
    outsider = period.outsider()
    assert world.community.membership(outsider.address).admitted_at == 0
    period.assert_conserved()
    result, expected = period.settle(outsider)
    rounding = result.settled.rounding_units
    assert rounding == expected.rounding_units
    assert 0 < rounding < len(expected.households)
    assert sum(e.change_units for e in result.households) + rounding == 0
    assert world.exchange.escrow_of(outsider.address).free_units == rounding
    assert world.exchange.escrow_of(outsider.address).locked_units == 0
    for member in period.members[:4]:
        assert world.exchange.escrow_of(member.address).locked_units == 0
    period.assert_conserved()
    # The outsider takes its rounding out like anyone.
    outsider.exchange.withdraw(rounding)
    period.assert_conserved()
    assert_audit_clean(world)


def test_nobody_settles_early_or_leaves_a_meter_out(world: World) -> None:
    period = Period.open(world, households=2)
    seller, buyer = period.members
    seller.meters.append(world.admit_meter(seller))  # a second meter: settlement must carry both
    period.post(seller, [Entry(EntrySide.SELL, 500, 60_000)] * 4)
    period.post(buyer, [Entry(EntrySide.BUY, 500, 260_000)] * 4)
    grid = world.grid
    world.warp(grid.period_end(period.period_id) - 2)
    period.sign(seller, [(0, 300)] * 4)
    period.sign(seller, [(0, 200)] * 4, meter=1)
    period.sign(buyer, [(500, 0)] * 4)
    households = period.households()
    hints = period.expected(households).hints
    refusal = period.refused(
        "ExchangePeriodNotOver",
        lambda: world.exchange.settle_period(period.period_id, households, hints),
    )
    assert refusal.arguments == {
        "periodId": period.period_id,
        "endsAt": grid.period_end(period.period_id),
    }
    world.warp(grid.period_end(period.period_id))
    n = next(i for i, h in enumerate(households) if h.household == seller.address)
    for meters in (households[n].meters[:1], households[n].meters[::-1][:1], ()):
        forged = [*households]
        forged[n] = replace(households[n], meters=meters)
        refusal = period.refused(
            "ExchangeMetersMismatch",
            lambda f=forged: world.exchange.settle_period(period.period_id, f, hints),
        )
        assert refusal.arguments == {
            "household": seller.address,
            "given": len(meters),
            "registered": 2,
        }
    result, _ = period.settle()
    assert result.settled.delivered_wh == 2_000
    assert_audit_clean(world)


def test_nothing_stays_locked_past_the_deadline_even_with_no_meter_data(world: World) -> None:
    period = _odd_book(world)
    period.batches.clear()  # every meter withholds
    deadline = world.grid.settlement_deadline(
        period.period_id, world.community.rules_at(period.period_id)
    )
    locked = {m.address: world.exchange.escrow_of(m.address).locked_units for m in period.members}
    assert sum(locked.values()) > 0
    world.warp(deadline)
    result, _ = period.settle(period.outsider())
    assert result.settled.delivered_wh == 0
    for event in result.households:
        assert (event.change_units, event.released_units) == (0, locked[event.household])
    for member in period.members:
        escrow = world.exchange.escrow_of(member.address)
        assert (escrow.free_units, escrow.locked_units) == (
            10**9 if member.address in locked else 0,
            0,
        )
    period.assert_conserved()
    assert_audit_clean(world)

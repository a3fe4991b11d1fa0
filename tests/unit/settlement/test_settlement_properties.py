"""Properties of the settlement rule, on generated periods (depth: the project's profile)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from settlement_reference import reference_settle
from settlement_strategies import GRID, PERIOD, address, periods

from api.settlement import (
    Entry,
    HouseholdInput,
    Mechanism,
    MeterInput,
    PeriodSettlement,
    Posting,
    Rules,
    Side,
    TimeGrid,
    Window,
    decode_deltas,
    decode_hints,
    encode_deltas,
    encode_entries,
    encode_hints,
    entry_at,
    hints_for,
    settle_period,
    unpack_cleared_intervals,
)

Period = tuple[Rules, list[HouseholdInput]]


def _settle(period: Period) -> tuple[list[HouseholdInput], PeriodSettlement]:
    rules, households = period
    ordered = sorted(households, key=lambda hh: int(hh.address, 16))
    return ordered, settle_period(rules, GRID, PERIOD, households)


def _community_flows(ordered: list[HouseholdInput], offset: int) -> tuple[int, int]:
    """(Σ import, Σ export) of every meter that counts for the interval, any household."""
    k = GRID.intervals(PERIOD)[offset]
    total_import = total_export = 0
    for household in ordered:
        for meter in household.meters:
            if meter.deltas is not None and meter.window.counts_for(
                GRID.interval_start(k), GRID.interval_end(k)
            ):
                imports, exports = decode_deltas(meter.deltas, GRID.period_intervals)
                total_import += imports[offset]
                total_export += exports[offset]
    return total_import, total_export


@given(st.one_of(periods(max_energy_wh=6), periods(max_energy_wh=60)))
def test_same_as_the_literal_reference(period: Period) -> None:
    # Tiny energies make exact coincidences (an entry left with 1 Wh, o_h == t_h == m_h,
    # floors without remainder) common; larger ones exercise the pro-rata shares.
    rules, households = period
    result = settle_period(rules, GRID, PERIOD, households)
    ref = reference_settle(rules, GRID, PERIOD, households)
    assert [s.address for s in result.households] == ref.addresses
    for got, want in zip(result.intervals, ref.intervals, strict=True):
        assert (got.price_per_kwh, got.traded_wh, got.delivered_wh) == (
            want.price,
            want.traded,
            want.delivered,
        )
        if rules.mechanism is not Mechanism.COMMUNITY_PRICE:
            assert (list(got.clearing.sell_ranking), list(got.clearing.buy_ranking)) == (
                want.sells,
                want.buys,
            )
        for h, traded in enumerate(got.clearing.traded_wh):
            assert traded == want.t.get(h, 0)
            assert got.netting.delivered_wh[h] == want.d.get(h, 0)
            assert got.netting.money_milli[h] == want.money.get(h, 0)
    assert [s.change_units for s in result.households] == ref.change
    assert [s.delivered_wh for s in result.households] == ref.delivered
    assert [s.received_wh for s in result.households] == ref.received
    assert [s.released_units for s in result.households] == ref.released
    assert result.rounding_units == ref.rounding


@given(periods())
def test_delivery_balances_and_stays_within_trades_meters_and_the_community(
    period: Period,
) -> None:
    ordered, result = _settle(period)
    for offset, interval in enumerate(result.intervals):
        sides = interval.book.sides
        delivered = interval.netting.delivered_wh
        sold = sum(d for d, side in zip(delivered, sides, strict=True) if side == Side.SELL)
        bought = sum(d for d, side in zip(delivered, sides, strict=True) if side == Side.BUY)
        community_import, community_export = _community_flows(ordered, offset)
        assert sold == bought == interval.delivered_wh <= min(community_import, community_export)
        assert interval.delivered_wh <= interval.traded_wh
        for h, d in enumerate(delivered):
            t = interval.clearing.traded_wh[h]
            assert 0 <= d <= min(t, interval.netting.metered_wh[h])
            assert t <= interval.book.energies_wh[h]
    assert result.delivered_wh == sum(i.delivered_wh for i in result.intervals)
    assert sum(s.delivered_wh for s in result.households) == result.delivered_wh
    assert sum(s.received_wh for s in result.households) == result.delivered_wh


@given(periods())
def test_money_is_conserved_and_rounding_goes_to_the_settler(period: Period) -> None:
    ordered, result = _settle(period)
    assert sum(s.net_milli for s in result.households) == 0
    for interval in result.intervals:
        assert sum(interval.netting.money_milli) == 0
    changes = [s.change_units for s in result.households]
    for settled in result.households:
        assert settled.change_units * 1000 <= settled.net_milli < settled.change_units * 1000 + 1000
    assert sum(changes) + result.rounding_units == 0
    assert 0 <= result.rounding_units < max(len(ordered), 1)


@given(periods())
def test_no_one_pays_more_than_its_lock_or_trades_outside_its_limit(period: Period) -> None:
    rules, _ = period
    _, result = _settle(period)
    for settled in result.households:
        assert -settled.change_units <= settled.released_units
    for interval in result.intervals:
        clearing, netting, book = interval.clearing, interval.netting, interval.book
        if interval.traded_wh and rules.mechanism is not Mechanism.PAY_AS_BID:
            p = interval.price_per_kwh
            assert rules.price_floor_per_kwh <= p <= rules.price_ceiling_per_kwh
        for h, side in enumerate(book.sides):
            t, d, money = clearing.traded_wh[h], netting.delivered_wh[h], netting.money_milli[h]
            signed = book.prices_per_kwh[h]
            limit = clearing.limits_per_kwh[h]
            if side == Side.SELL:
                # At least the ask' (>= the signed ask) for every Wh delivered.
                assert money >= d * limit >= d * signed
                if t and rules.mechanism is not Mechanism.PAY_AS_BID:
                    assert limit <= interval.price_per_kwh
            elif side == Side.BUY:
                # At most bid' (<= the signed bid) per Wh, and no more than the entry locked.
                assert -money <= d * limit <= d * signed <= book.energies_wh[h] * signed
                if t and rules.mechanism is not Mechanism.PAY_AS_BID:
                    assert limit >= interval.price_per_kwh
            else:
                assert t == d == money == 0


@given(periods(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_the_order_households_come_in(
    period: Period, rng: random.Random
) -> None:
    rules, households = period
    shuffled = list(households)
    rng.shuffle(shuffled)
    result = settle_period(rules, GRID, PERIOD, households)
    assert settle_period(rules, GRID, PERIOD, shuffled) == result
    assert settle_period(rules, GRID, PERIOD, households) == result


@given(periods())
def test_hints_round_trip_and_claim_the_reference_walks_last_wh(period: Period) -> None:
    rules, households = period
    _, result = _settle(period)
    books = [interval.book for interval in result.intervals]
    assert hints_for(rules, books) == result.hints
    if rules.mechanism is Mechanism.COMMUNITY_PRICE:
        assert result.hints == b""
        return
    decoded = decode_hints(result.hints, GRID.period_intervals)
    assert encode_hints(decoded) == result.hints
    ref = reference_settle(rules, GRID, PERIOD, households)
    assert list(decoded) == [want.marginal for want in ref.intervals]
    rows = unpack_cleared_intervals(result.cleared_intervals)
    assert rows == tuple((i.price_per_kwh, i.traded_wh, i.delivered_wh) for i in result.intervals)


@given(periods())
def test_books_are_the_entries_in_force_for_counting_members(period: Period) -> None:
    ordered, result = _settle(period)
    for interval in result.intervals:
        k = interval.interval_id
        for h, household in enumerate(ordered):
            entry = entry_at(household.postings, k)
            if not household.membership.counts_for(GRID.interval_start(k), GRID.interval_end(k)):
                entry = Entry(Side.NONE, 0, 0)
            got = (interval.book.sides[h], interval.book.energies_wh[h])
            assert got == (entry.side, entry.energy_wh)
            assert interval.book.prices_per_kwh[h] == entry.price_per_kwh


def test_a_day_of_a_hundred_households_settles_with_money_conserved() -> None:
    # Speed is a benchmark figure (scripts/bench: clearing), never a timed unit test.
    rng = random.Random(7)
    grid = TimeGrid(900, 96)
    first = grid.first_interval(20_000)
    households = []
    for _ in range(100):
        plan = [
            Entry(side, rng.randint(1, 3000), rng.randint(0, 400))
            if (side := rng.choice([Side.SELL, Side.BUY, Side.NONE])) is not Side.NONE
            else Entry(Side.NONE, 0, 0)
            for _ in range(96)
        ]
        postings = (
            Posting(1, first, encode_entries(plan)),
            Posting(2, first + 40, encode_entries(plan[40:])),
        )
        flows = [(rng.randint(0, 3000), rng.randint(0, 3000)) for _ in range(96)]
        meters = (MeterInput(Window(0), encode_deltas(flows)),)
        households.append(
            HouseholdInput(address(rng.getrandbits(160)), Window(0), postings, meters)
        )
    for mechanism in Mechanism:
        rules = Rules(mechanism, 300, 3600, 1, 50, 300, 150)
        result = settle_period(rules, grid, 20_000, households)
        assert result.delivered_wh > 0
        # One balance change per household; with the settler's rounding they sum to zero.
        assert len(result.households) == 100
        changes = sum(h.change_units for h in result.households)
        assert changes + result.rounding_units == 0

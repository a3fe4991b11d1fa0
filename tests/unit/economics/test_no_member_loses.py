"""Property: with the agents' own limits, the market never leaves a member worse off.

Random tariffs (energy, network, taxes, VAT, injection prices, negative ones included),
random contracts and meters over a few quarter-hours of a random 2026 day, the chain's rules
under each mechanism: every household posts what the demo's agent would post (its limits
from `api.economics.limits`), `api.settlement` settles the period bit for bit as the
contract does, and every member's saving under the Walloon bill rule is >= 0, in exact
integer units. A second property: the bill rule itself, with no trade, saves exactly 0.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from api import settlement
from api.economics.bill import IntervalFlows, member_bill
from api.economics.limits import highest_bid_per_kwh, lowest_ask_per_kwh
from api.economics.tariff import Member, Network, Offer, Tariff, tariff_of

SHIPPED = tariff_of("wallonia", 2026)
GRID = settlement.TimeGrid(900, 96)
MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    def offer(name: str, band_set: str, low: int, high: int) -> Offer:
        bands = SHIPPED.band_sets[band_set]
        per_kwh = {
            month: {band: draw(st.integers(low, high)) for band in bands.bands} for month in MONTHS
        }
        return Offer(name, bands, per_kwh)

    supplies = {f"s-{name}": offer(f"s-{name}", name, 0, 400_000) for name in SHIPPED.band_sets}
    injections = {
        "i-single": offer("i-single", "single", -150_000, 250_000),
        "i-day_night": offer("i-day_night", "day_night", -150_000, 250_000),
    }
    distribution = {
        name: {band: draw(st.integers(0, 200_000)) for band in bands.bands}
        for name, bands in SHIPPED.band_sets.items()
    }
    network = Network("DSO", draw(st.integers(0, 60_000)), distribution)
    taxes = {key: draw(st.integers(0, 60_000)) for key in SHIPPED.taxes_per_kwh}
    return replace(
        SHIPPED,
        vat_percent=draw(st.integers(0, 21)),
        in_building_discount_percent=draw(st.integers(0, 100)),
        taxes_per_kwh=taxes,
        networks={"DSO": network},
        supplies=supplies,
        injections=injections,
    )


@st.composite
def days(draw: st.DrawFn) -> tuple[Tariff, list[Member], settlement.Rules, int, int, list]:  # type: ignore[type-arg]
    tariff = draw(tariffs())
    count = draw(st.integers(2, 6))
    members = [
        Member(
            "DSO",
            draw(st.sampled_from(sorted(tariff.supplies))),
            draw(st.sampled_from(sorted(tariff.injections))),
            draw(st.booleans()),
        )
        for _ in range(count)
    ]
    floor = draw(st.integers(0, 150_000))
    ceiling = draw(st.integers(floor, 500_000))
    rules = settlement.Rules(
        draw(st.sampled_from(list(settlement.Mechanism))),
        900,
        86_400,
        1,
        floor,
        ceiling,
        draw(st.integers(floor, ceiling)),
    )
    day = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 364)))
    period_id = int(day.timestamp()) // 86_400
    first = draw(st.integers(0, 96 - 8))
    span = draw(st.integers(1, 8))
    # per household, per interval of the span: (imported, exported, forecast factor %)
    meters = [
        [
            (draw(st.integers(0, 2_000)), draw(st.integers(0, 2_000)), draw(st.integers(50, 150)))
            for _ in range(span)
        ]
        for _ in range(count)
    ]
    return tariff, members, rules, period_id, first, meters


def _address(h: int) -> str:
    return "0x" + f"{h + 1:040x}"


@settings(max_examples=150, deadline=None)
@given(days())
def test_every_members_saving_is_at_least_zero(day: tuple) -> None:  # type: ignore[type-arg]
    tariff, members, rules, period_id, first, meters = day
    start_id = period_id * 96 + first
    inputs = []
    for h, member in enumerate(members):
        entries = []
        for offset, (imported, exported, factor) in enumerate(meters[h]):
            prices = tariff.prices(member, (start_id + offset) * 900)
            ask = lowest_ask_per_kwh(prices, rules.price_floor_per_kwh, rules.price_ceiling_per_kwh)
            bid = highest_bid_per_kwh(
                prices, rules.price_floor_per_kwh, rules.price_ceiling_per_kwh
            )
            # the agent's rule: sell a forecast surplus, else buy a forecast need
            if exported * factor // 100 >= 1 and ask is not None:
                entries.append(
                    settlement.Entry(settlement.Side.SELL, exported * factor // 100, ask)
                )
            elif imported * factor // 100 >= 1 and bid is not None:
                entries.append(settlement.Entry(settlement.Side.BUY, imported * factor // 100, bid))
            else:
                entries.append(settlement.NO_ENTRY)
        deltas = [(0, 0)] * 96
        for offset, (imported, exported, _factor) in enumerate(meters[h]):
            deltas[first + offset] = (imported, exported)
        inputs.append(
            settlement.HouseholdInput(
                _address(h),
                settlement.Window(0),
                [settlement.Posting(1, start_id, settlement.encode_entries(entries))],
                [settlement.MeterInput(settlement.Window(0), settlement.encode_deltas(deltas))],
            )
        )
    settled = settlement.settle_period(rules, GRID, period_id, inputs)
    shares: dict[tuple[int, int], tuple[int, int]] = {}
    for interval in settled.intervals:
        for h, delivered in enumerate(interval.netting.delivered_wh):
            buy = interval.book.sides[h] == int(settlement.Side.BUY)
            index = int(settled.households[h].address, 16) - 1
            shares[index, interval.interval_id] = (delivered if buy else 0, 0 if buy else delivered)
    for h, member in enumerate(members):
        flows = [
            IntervalFlows(
                (start_id + offset) * 900,
                imported,
                exported,
                *shares.get((h, start_id + offset), (0, 0)),
            )
            for offset, (imported, exported, _factor) in enumerate(meters[h])
        ]
        change = settled.household(_address(h)).change_units
        bill = member_bill(tariff, member, flows, change)
        assert bill.savings_units >= 0, (h, member, bill, change)


@settings(max_examples=100, deadline=None)
@given(
    tariffs(),
    st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 5_000)), min_size=1, max_size=96),
    st.integers(0, 364),
)
def test_without_a_trade_both_bills_are_the_same(
    tariff: Tariff, flows: list[tuple[int, int]], day: int
) -> None:
    start = int((datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)).timestamp())
    member = Member("DSO", "s-day_night", "i-single", in_building=True)
    intervals = [IntervalFlows(start + 900 * k, i, e) for k, (i, e) in enumerate(flows)]
    bill = member_bill(tariff, member, intervals, 0)
    assert bill.savings_units == 0
    # exactly the rule, recomputed here: ceil of Σ at scale 10^7
    exact = 0
    for flow in intervals:
        p = tariff.prices(member, flow.start)
        exact += (
            flow.offtake_wh
            * (p.energy_per_kwh + p.network_per_kwh + p.taxes_per_kwh)
            * (100 + p.vat_percent)
            * 100
            - flow.injection_wh * p.injection_per_kwh * 10_000
        )
    assert bill.without_units == -(-exact // 10_000_000)

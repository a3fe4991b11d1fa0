"""What the demo's report shows people, beyond the summary: each household's energy by
source (own PV, neighbours, grid) and where its surplus went, who shared with whom, one
interval's order book, one household's day. Computed only when a report is asked for.

Behind the meter (own PV used at home, the load) comes from the simulated fleet's flows of
the same seed and settings (`SimulatedFleet.year_flows`: a meter never sees it); what was
shared is the settlement replayed with `api.settlement` from the chain's postings and the
meters' signed deltas (as `api.demo.shares` does, which checks it against HouseholdSettled);
who with whom is the pro rata split of `api.statements.sharing`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from api import settlement
from api.demo.run import DayRun
from api.statements.sharing import interval_pairs
from metering.adapters.simulated import SimulatedFleet
from metering.reading import INTERVAL_SECONDS

_SELL, _BUY = int(settlement.Side.SELL), int(settlement.Side.BUY)


@dataclass(frozen=True)
class HouseholdEnergy:
    """One household over the traded window, Wh."""

    name: str
    load_wh: int
    pv_wh: int
    own_pv_wh: int  # PV used at home (behind the meter)
    from_neighbours_wh: int
    from_grid_wh: int
    to_neighbours_wh: int
    to_grid_wh: int


@dataclass(frozen=True)
class Offer:
    """One entry of an interval's book: who, its volume and its limit (after the clamp)."""

    name: str
    side: int
    energy_wh: int
    price_per_kwh: int


@dataclass(frozen=True)
class IntervalBook:
    """The interval with the most energy delivered: its book and clearing."""

    interval_id: int
    offers: tuple[Offer, ...]
    price_per_kwh: int
    traded_wh: int
    delivered_wh: int


@dataclass(frozen=True)
class ProfileRow:
    """One quarter-hour of one household, Wh."""

    interval_id: int
    load_wh: int
    pv_wh: int
    imported_wh: int
    exported_wh: int
    bought_wh: int
    sold_wh: int


@dataclass(frozen=True)
class ReportData:
    households: tuple[HouseholdEnergy, ...]
    #: (seller name, buyer name) -> (Wh, milli-units the buyer paid), exact.
    pairs: dict[tuple[str, str], tuple[Fraction, Fraction]]
    book: IntervalBook | None
    profile_name: str
    profile: tuple[ProfileRow, ...]


def _replay(run: DayRun) -> list[settlement.PeriodSettlement]:
    sim = run.simulation
    index = {h.account.address.lower(): n for n, h in enumerate(run.households)}
    postings: dict[int, dict[str, list[settlement.Posting]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for posted in run.facts.postings:
        postings[posted.period_id][posted.household.lower()].append(
            settlement.Posting(posted.version, posted.first_interval_id, posted.entries)
        )
    replayed = []
    for period_id in sorted({e.period_id for e in run.facts.settled_periods}):
        inputs = []
        for address, posts in postings[period_id].items():
            h = index[address]
            deltas = [sim.metered(h, k) for k in run.grid.intervals(period_id)]
            meter = settlement.MeterInput(settlement.Window(0), settlement.encode_deltas(deltas))
            inputs.append(
                settlement.HouseholdInput(
                    run.households[h].account.address, settlement.Window(0), posts, [meter]
                )
            )
        replayed.append(
            settlement.settle_period(
                settlement.Rules.of(run.rules), settlement.TimeGrid.of(run.grid), period_id, inputs
            )
        )
    return replayed


def report_data(run: DayRun) -> ReportData:
    """The report's figures for `run` (a few seconds: one simulated year of flows)."""
    sim = run.simulation
    names = {h.account.address.lower(): h.name for h in run.households}
    window = set(sim.interval_ids())
    shared: dict[tuple[str, int], tuple[int, int]] = {}
    pairs: dict[tuple[str, str], list[Fraction]] = defaultdict(lambda: [Fraction(0), Fraction(0)])
    best: IntervalBook | None = None
    for period in _replay(run):
        addresses = tuple(h.address for h in period.households)
        for interval in period.intervals:
            if interval.interval_id not in window:
                continue
            sides, delivered = interval.book.sides, interval.netting.delivered_wh
            for h, address in enumerate(addresses):
                if delivered[h]:
                    bought = delivered[h] if sides[h] == _BUY else 0
                    shared[(address.lower(), interval.interval_id)] = (
                        bought,
                        delivered[h] - bought,
                    )
            for pair in interval_pairs(interval, addresses):
                row = pairs[(names[pair.seller.lower()], names[pair.buyer.lower()])]
                row[0] += pair.energy_wh
                row[1] += pair.paid_milli
            if interval.delivered_wh and (
                best is None or interval.delivered_wh > best.delivered_wh
            ):
                best = IntervalBook(
                    interval.interval_id,
                    tuple(
                        Offer(
                            names[a.lower()],
                            sides[h],
                            interval.book.energies_wh[h],
                            interval.clearing.limits_per_kwh[h],
                        )
                        for h, a in enumerate(addresses)
                        if sides[h] in (_SELL, _BUY)
                    ),
                    interval.price_per_kwh,
                    interval.traded_wh,
                    interval.delivered_wh,
                )
    # Behind the meter: the fleet's own flows of the simulated calendar's quarter-hours.
    fleet = SimulatedFleet(sim.households, run.config.seed, run.config.fleet)
    first = datetime.fromtimestamp(sim.calendar_start(sim.first_interval_id), tz=UTC)
    flows = fleet.year_flows(first.year)
    year_start = int(datetime(first.year, 1, 1, tzinfo=UTC).timestamp())

    def slot(k: int) -> int:
        return (sim.calendar_start(k) - year_start) // INTERVAL_SECONDS

    households, profiles = [], {}
    for h, household in enumerate(run.households):
        rows = []
        for k in sim.interval_ids():
            imported, exported = sim.metered(h, k)
            bought, sold = shared.get((household.account.address.lower(), k), (0, 0))
            rows.append(
                ProfileRow(
                    k,
                    int(flows.load_wh[h, slot(k)]),
                    int(flows.pv_wh[h, slot(k)]),
                    imported,
                    exported,
                    bought,
                    sold,
                )
            )
        profiles[h] = rows
        pv = sum(r.pv_wh for r in rows)
        exported = sum(r.exported_wh for r in rows)
        bought = sum(r.bought_wh for r in rows)
        sold = sum(r.sold_wh for r in rows)
        households.append(
            HouseholdEnergy(
                household.name,
                sum(r.load_wh for r in rows),
                pv,
                max(0, pv - exported),
                bought,
                sum(r.imported_wh for r in rows) - bought,
                sold,
                exported - sold,
            )
        )
    # The day profile of the household that shared the most.
    chosen = max(
        range(len(households)),
        key=lambda h: (
            households[h].to_neighbours_wh + households[h].from_neighbours_wh,
            households[h].pv_wh,
        ),
    )
    return ReportData(
        tuple(households),
        {key: (value[0], value[1]) for key, value in pairs.items()},
        best,
        households[chosen].name,
        tuple(profiles[chosen]),
    )

"""Who bought and sold how much in each quarter-hour: the bills need it per band.

HouseholdSettled gives per-period totals only, but a member's energy price depends on the
quarter-hour's band, so the bill needs each interval's delivered Wh. They are replayed with
`api.settlement` (the contract's rule in Python) from the postings as the chain emitted them
(SchedulePosted carries the signed entries) and the meters' deltas the demo's meters signed,
then checked against every HouseholdSettled event: any difference is a DemoError, never a
silently wrong bill.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from api import settlement
from api.demo.chain_facts import ChainFacts
from api.demo.errors import DemoError
from api.demo.simulation import DaySimulation
from ledger.rules import Rules, TimeGrid


def interval_shares(
    facts: ChainFacts,
    simulation: DaySimulation,
    households: Sequence[str],
    rules: Rules,
    grid: TimeGrid,
) -> dict[str, dict[int, tuple[int, int]]]:
    """Per household address (as in `households`, the simulation's order): interval id ->
    (bought Wh, sold Wh), for every interval in which it received or delivered energy."""
    index = {address.lower(): h for h, address in enumerate(households)}
    shares: dict[str, dict[int, tuple[int, int]]] = {address: {} for address in households}
    postings: dict[int, dict[str, list[settlement.Posting]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for posted in facts.postings:
        postings[posted.period_id][posted.household.lower()].append(
            settlement.Posting(posted.version, posted.first_interval_id, posted.entries)
        )
    expected = {(e.period_id, e.household.lower()): e for e in facts.settled_households}
    for period_id in sorted({e.period_id for e in facts.settled_periods}):
        inputs = []
        for address, posts in postings[period_id].items():
            h = index[address]
            deltas = [simulation.metered(h, k) for k in grid.intervals(period_id)]
            meter = settlement.MeterInput(settlement.Window(0), settlement.encode_deltas(deltas))
            inputs.append(
                settlement.HouseholdInput(households[h], settlement.Window(0), posts, [meter])
            )
        settled = settlement.settle_period(
            settlement.Rules.of(rules), settlement.TimeGrid.of(grid), period_id, inputs
        )
        for household in settled.households:
            event = expected.get((period_id, household.address.lower()))
            replayed = (household.delivered_wh, household.received_wh, household.change_units)
            on_chain = (
                None
                if event is None
                else (event.delivered_wh, event.received_wh, event.change_units)
            )
            if replayed != on_chain:
                raise DemoError(
                    f"period {period_id}: the replayed settlement of {household.address} "
                    f"(delivered, received, change) = {replayed} is not the chain's {on_chain}"
                )
        for interval in settled.intervals:
            sides, delivered = interval.book.sides, interval.netting.delivered_wh
            for h, household in enumerate(settled.households):
                if delivered[h]:
                    address = households[index[household.address.lower()]]
                    bought = delivered[h] if sides[h] == int(settlement.Side.BUY) else 0
                    shares[address][interval.interval_id] = (bought, delivered[h] - bought)
    return shares

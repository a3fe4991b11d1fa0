"""The day's figures: trades, energy, prices, bills with and without the community.

Energy and money are integers (Wh, token base units); only ratios are floats. Meters see net
flows, so the neighbourhood's figures are at the meter: `exported_wh` is the PV surplus fed
into the grid, `imported_wh` what households took from it.

- self-consumption: share of the neighbourhood's PV surplus consumed by neighbours
  (settled_wh / exported_wh);
- self-sufficiency: share of the neighbourhood's imports met locally
  (settled_wh / imported_wh);
- a bill without the community: imports at retail minus exports at feed-in; with it: the
  same for what the grid still carried, plus payments to neighbours minus payments from them.
  Bills are rounded once per household and day (imports up, exports down).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from api.demo.chain_facts import ChainFacts
from api.demo.run import DayRun


@dataclass(frozen=True)
class HouseholdBill:
    """One household's day."""

    name: str
    address: str
    pv_kwp: float
    imported_wh: int
    exported_wh: int
    bought_wh: int
    sold_wh: int
    paid_units: int
    received_units: int
    bill_without_units: int
    bill_with_units: int

    @property
    def savings_units(self) -> int:
        return self.bill_without_units - self.bill_with_units


@dataclass(frozen=True)
class IntervalFigures:
    """One quarter-hour of the community (for the report's plots)."""

    interval_id: int
    imported_wh: int
    exported_wh: int
    traded_wh: int
    settled_wh: int
    clearing_price_per_kwh: int | None


@dataclass(frozen=True)
class Summary:
    """What `quartier demo` prints (`as_json` is the --json contract)."""

    households: int
    intervals: int
    orders: int
    readings: int
    trades: int
    traded_wh: int
    settled_wh: int
    imported_wh: int
    exported_wh: int
    average_price_per_kwh: int | None
    retail_per_kwh: int
    feed_in_per_kwh: int
    self_consumption: float
    self_sufficiency: float
    savings_units: int
    gas_per_trade: int
    gas_per_reading: int
    audit_ok: bool
    audit_source: str
    audit_problems: tuple[str, ...]
    wall_seconds: float
    timings: dict[str, float]
    bills: tuple[HouseholdBill, ...]
    series: tuple[IntervalFigures, ...]

    def as_json(self) -> dict[str, Any]:
        """The summary as JSON-ready values (integers for energy and money)."""
        data = asdict(self)
        data["bills"] = [
            {**asdict(bill), "savings_units": bill.savings_units} for bill in self.bills
        ]
        data["audit_problems"] = list(self.audit_problems)
        del data["series"]
        return data


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def bill_units(
    imported_wh: int, exported_wh: int, retail_per_kwh: int, feed_in_per_kwh: int
) -> int:
    """Grid bill: imports at retail (rounded up) minus exports at feed-in (rounded down)."""
    return _ceil_div(imported_wh * retail_per_kwh, 1000) - exported_wh * feed_in_per_kwh // 1000


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _bills(run: DayRun, facts: ChainFacts) -> tuple[HouseholdBill, ...]:
    sim, prices = run.simulation, run.config.prices
    bought: dict[str, int] = defaultdict(int)
    sold: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    for trade in facts.settled:
        bought[trade.buyer] += trade.delivered_wh
        sold[trade.seller] += trade.delivered_wh
        paid[trade.buyer] += trade.payment_units
        received[trade.seller] += trade.payment_units
    bills = []
    for index, household in enumerate(run.households):
        address = household.account.address
        imported = sim.import_wh[index][-1] - sim.import_wh[index][0]
        exported = sim.export_wh[index][-1] - sim.export_wh[index][0]
        retail, feed_in = prices.retail_per_kwh, prices.feed_in_per_kwh
        grid_bill = bill_units(
            imported - bought[address], exported - sold[address], retail, feed_in
        )
        bills.append(
            HouseholdBill(
                name=household.name,
                address=address,
                pv_kwp=round(sim.pv_kwp[index], 1),
                imported_wh=imported,
                exported_wh=exported,
                bought_wh=bought[address],
                sold_wh=sold[address],
                paid_units=paid[address],
                received_units=received[address],
                bill_without_units=bill_units(imported, exported, retail, feed_in),
                bill_with_units=grid_bill + paid[address] - received[address],
            )
        )
    return tuple(bills)


def _series(run: DayRun, facts: ChainFacts) -> tuple[IntervalFigures, ...]:
    sim = run.simulation
    traded: dict[int, int] = defaultdict(int)
    settled: dict[int, int] = defaultdict(int)
    price: dict[int, int] = {}
    for committed in facts.committed:
        traded[committed.interval_id] += committed.energy_wh
        price[committed.interval_id] = committed.price_per_kwh
    for done in facts.settled:
        settled[done.interval_id] += done.delivered_wh
    rows = []
    for interval_id in sim.interval_ids():
        flows = [sim.metered(h, interval_id) for h in range(sim.households)]
        rows.append(
            IntervalFigures(
                interval_id=interval_id,
                imported_wh=sum(f[0] for f in flows),
                exported_wh=sum(f[1] for f in flows),
                traded_wh=traded[interval_id],
                settled_wh=settled[interval_id],
                clearing_price_per_kwh=price.get(interval_id),
            )
        )
    return tuple(rows)


def summarise(
    run: DayRun,
    audit_ok: bool,
    audit_source: str,
    audit_problems: tuple[str, ...],
    wall_seconds: float,
) -> Summary:
    """The day's summary from the chain facts and the simulated meters."""
    facts = run.facts
    bills = _bills(run, facts)
    series = _series(run, facts)
    traded_wh = sum(t.energy_wh for t in facts.committed)
    settled_wh = sum(t.delivered_wh for t in facts.settled)
    imported_wh = sum(b.imported_wh for b in bills)
    exported_wh = sum(b.exported_wh for b in bills)
    value_milli = sum(t.energy_wh * t.price_per_kwh for t in facts.committed)
    trades = len(facts.committed)
    readings = len(facts.readings)
    return Summary(
        households=len(run.households),
        intervals=run.config.intervals,
        orders=run.orders_posted,
        readings=run.readings_posted,
        trades=trades,
        traded_wh=traded_wh,
        settled_wh=settled_wh,
        imported_wh=imported_wh,
        exported_wh=exported_wh,
        average_price_per_kwh=value_milli // traded_wh if traded_wh else None,
        retail_per_kwh=run.config.prices.retail_per_kwh,
        feed_in_per_kwh=run.config.prices.feed_in_per_kwh,
        self_consumption=_ratio(settled_wh, exported_wh),
        self_sufficiency=_ratio(settled_wh, imported_wh),
        savings_units=sum(b.savings_units for b in bills),
        gas_per_trade=(facts.commit_gas + facts.settle_gas) // trades if trades else 0,
        gas_per_reading=facts.readings_gas // readings if readings else 0,
        audit_ok=audit_ok,
        audit_source=audit_source,
        audit_problems=audit_problems,
        wall_seconds=round(wall_seconds, 3),
        timings=run.timings.as_dict(),
        bills=bills,
        series=series,
    )

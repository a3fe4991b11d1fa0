"""The day's figures: trades, energy, prices, gas, bills with and without the community.

Energy and money are integers (Wh, token base units); only ratios are floats. Meters see net
flows, so the neighbourhood's figures are at the meter over the traded window: `exported_wh`
is the PV surplus fed into the grid, `imported_wh` what households took from it. The grid's
prices are the community's on-chain floor (feed-in) and ceiling (retail).

- trades: schedule entries that traded in clearing (a household's sell or buy of one
  interval); settled_wh: energy delivered after netting against the meters;
- delivered_share: settled_wh / Σ over traded intervals of min(community export, import),
  the energy neighbours could have exchanged at all;
- self-consumption: settled_wh / exported_wh; self-sufficiency: settled_wh / imported_wh;
- gas: every transaction of the trading day (schedules, meter batches, settlements;
  onboarding excluded). gas_per_household_day = that / households / days traded (a day =
  a period of 96 quarter-hours; a shorter window counts as one day);
  gas_per_trade = that / trades; gas_per_reading = postMeterBatches of the day's batches
  (estimated just before settlement, where they go inline) / boundary values signed;
- bills (`api.economics.bill`, the Walloon rule), per household over the traded window,
  with its own contract from the region's tariff file: without the community (offtake at
  energy + network + taxes with VAT, injection at its injection price) and with it (a kWh
  bought from a neighbour displaces the energy component only, a kWh sold replaces its
  injection price, the chain's settlement change is what neighbours paid or were paid);
  network_and_taxes_units is the part no sharing changes. The interval split of shared
  energy is replayed and checked against the chain (`api.demo.shares`);
- pv_share: homes with PV / households. The grid's `retail_per_kwh` / `feed_in_per_kwh` are
  the community's on-chain ceiling and floor, which bound every member's limits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from api.demo.chain_facts import ChainFacts
from api.demo.neighbourhood import REGION, TIMEZONE, member_contracts
from api.demo.run import DayRun
from api.demo.shares import interval_shares
from api.economics.bill import IntervalFlows, member_bill
from api.economics.tariff import tariff_of


@dataclass(frozen=True)
class HouseholdBill:
    """One household's day."""

    name: str
    address: str
    pv_kwp: float
    #: The member's contract: DSO, supply offer and injection offer of the tariff file.
    dso: str
    supply: str
    injection: str
    imported_wh: int
    exported_wh: int
    bought_wh: int
    sold_wh: int
    change_units: int
    bill_without_units: int
    bill_with_units: int
    network_and_taxes_units: int

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
    pv_share: float
    intervals: int
    periods: tuple[int, ...]
    periods_settled: tuple[int, ...]
    mechanism: str
    gate_lead_seconds: int
    schedules: int
    entries: int
    readings: int
    meter_batches: int
    trades: int
    traded_wh: int
    settled_wh: int
    possible_wh: int
    delivered_share: float
    imported_wh: int
    exported_wh: int
    average_price_per_kwh: int | None
    retail_per_kwh: int
    feed_in_per_kwh: int
    self_consumption: float
    self_sufficiency: float
    savings_units: int
    gas_total: int
    gas: dict[str, int]
    gas_per_household_day: int
    gas_per_trade: int
    gas_per_reading: int
    audit_ok: bool
    audit_source: str
    audit_problems: tuple[str, ...]
    wall_seconds: float
    timings: dict[str, float]
    bills: tuple[HouseholdBill, ...]
    series: tuple[IntervalFigures, ...]
    rpc_url: str | None = None
    deployment_file: str | None = None
    #: The day itself, for the report's figures (`api.demo.report_data`); not in the JSON.
    run: DayRun | None = field(default=None, compare=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        """The summary as JSON-ready values (integers for energy and money)."""
        data = asdict(replace(self, run=None))
        del data["run"]
        data["bills"] = [
            {**asdict(bill), "savings_units": bill.savings_units} for bill in self.bills
        ]
        data["audit_problems"] = list(self.audit_problems)
        data["periods"] = list(self.periods)
        data["periods_settled"] = list(self.periods_settled)
        del data["series"]
        if self.rpc_url is None:
            del data["rpc_url"], data["deployment_file"]
        return data


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _bills(run: DayRun, facts: ChainFacts) -> tuple[HouseholdBill, ...]:
    sim = run.simulation
    addresses = [household.account.address for household in run.households]
    shares = interval_shares(facts, sim, addresses, run.rules, run.grid)
    change: dict[str, int] = defaultdict(int)
    for settled in facts.settled_households:
        change[settled.household.lower()] += settled.change_units
    contracts = member_contracts(len(run.households), run.config.seed)
    bills = []
    for index, household in enumerate(run.households):
        address = household.account.address
        flows = []
        for k in sim.interval_ids():
            imported, exported = sim.metered(index, k)
            bought, sold = shares[address].get(k, (0, 0))
            start = sim.calendar_start(k)
            flows.append(IntervalFlows(start, imported, exported, bought, sold))
        tariff = tariff_of(REGION, _local_year(sim.calendar_start(sim.first_interval_id)))
        bill = member_bill(tariff, contracts[index], flows, change[address.lower()])
        imported, exported = sim.window_metered(index)
        bills.append(
            HouseholdBill(
                name=household.name,
                address=address,
                pv_kwp=round(sim.pv_kwp[index], 1),
                dso=contracts[index].dso,
                supply=contracts[index].supply,
                injection=contracts[index].injection,
                imported_wh=imported,
                exported_wh=exported,
                bought_wh=sum(f.bought_wh for f in flows),
                sold_wh=sum(f.sold_wh for f in flows),
                change_units=change[address.lower()],
                bill_without_units=bill.without_units,
                bill_with_units=bill.with_units,
                network_and_taxes_units=bill.network_and_taxes_units,
            )
        )
    return tuple(bills)


def _local_year(unix_seconds: int) -> int:
    return datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(TIMEZONE).year


def _series(run: DayRun, facts: ChainFacts) -> tuple[IntervalFigures, ...]:
    sim = run.simulation
    rows = []
    for interval_id in sim.interval_ids():
        flows = [sim.metered(h, interval_id) for h in range(sim.households)]
        line = facts.cleared.get(interval_id)
        rows.append(
            IntervalFigures(
                interval_id=interval_id,
                imported_wh=sum(f[0] for f in flows),
                exported_wh=sum(f[1] for f in flows),
                traded_wh=0 if line is None else line.traded_wh,
                settled_wh=0 if line is None else line.delivered_wh,
                clearing_price_per_kwh=(
                    line.price_per_kwh if line is not None and line.traded_wh else None
                ),
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
    traded_wh = sum(row.traded_wh for row in series)
    settled_wh = sum(row.settled_wh for row in series)
    possible_wh = sum(min(row.exported_wh, row.imported_wh) for row in series)
    priced = [row for row in series if row.clearing_price_per_kwh is not None]
    value_milli = sum(row.traded_wh * (row.clearing_price_per_kwh or 0) for row in priced)
    priced_wh = sum(row.traded_wh for row in priced)
    readings = len(facts.batches) * (run.grid.period_intervals + 1)
    gas_total = facts.gas.total
    households = len(run.households)
    days = max(1, -(-run.config.intervals // run.grid.period_intervals))
    return Summary(
        households=households,
        pv_share=_ratio(sum(1 for kwp in run.simulation.pv_kwp if kwp > 0), households),
        intervals=run.config.intervals,
        periods=run.periods,
        periods_settled=tuple(sorted(p.period_id for p in facts.settled_periods)),
        mechanism=run.rules.mechanism.name.lower(),
        gate_lead_seconds=run.rules.gate_lead_seconds,
        schedules=len(facts.postings),
        entries=facts.entries,
        readings=readings,
        meter_batches=len(facts.batches),
        trades=facts.fills,
        traded_wh=traded_wh,
        settled_wh=settled_wh,
        possible_wh=possible_wh,
        delivered_share=_ratio(settled_wh, possible_wh),
        imported_wh=sum(b.imported_wh for b in bills),
        exported_wh=sum(b.exported_wh for b in bills),
        average_price_per_kwh=value_milli // priced_wh if priced_wh else None,
        retail_per_kwh=run.rules.price_ceiling_per_kwh,
        feed_in_per_kwh=run.rules.price_floor_per_kwh,
        self_consumption=_ratio(settled_wh, sum(b.exported_wh for b in bills)),
        self_sufficiency=_ratio(settled_wh, sum(b.imported_wh for b in bills)),
        savings_units=sum(b.savings_units for b in bills),
        gas_total=gas_total,
        gas={
            "schedules": facts.gas.schedules,
            "schedule_transactions": facts.gas.schedule_transactions,
            "meter_batches": facts.gas.meter_batches,
            "settlement": facts.gas.settlement,
            "settlement_transactions": facts.gas.settlement_transactions,
            "meter_batches_estimate": run.batch_gas_estimate,
            # Onboarding, not in gas_total: the deposits (each also prepares the storage its
            # trading days rewrite).
            "onboarding_deposits": facts.gas.onboarding_deposits,
            "onboarding_deposits_per_household": facts.gas.onboarding_deposits // households,
        },
        gas_per_household_day=gas_total // (households * days),
        gas_per_trade=gas_total // facts.fills if facts.fills else 0,
        gas_per_reading=run.batch_gas_estimate // readings if readings else 0,
        audit_ok=audit_ok,
        audit_source=audit_source,
        audit_problems=audit_problems,
        wall_seconds=round(wall_seconds, 3),
        timings=run.timings.as_dict(),
        bills=bills,
        series=series,
        rpc_url=run.rpc_url,
        deployment_file=None if run.deployment_file is None else str(run.deployment_file),
        run=run,
    )

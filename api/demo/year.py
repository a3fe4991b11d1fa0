"""`quartier demo --days N`: a run of days (a year: 365) on the fast path, off-chain.

Off-chain, the same everything else: the simulated fleet's meters (`SimulatedFleet`), the
households' day-ahead schedules from the demo's own agent rule (`api.demo.agents`: limits
from each member's contract in the region's tariff file, sizes from noisy forecasts), and
each day settled as one period by `api.settlement.settle_period`, the Python mirror of
IQuartierExchange's rule (the audit checks the chain against it bit for bit), under the
demo's rules (`ledger.deploy_v2.DEFAULT_RULES`) and grid (quarter-hours, a UTC day per
period). No chain, no signatures, no API: those cost the day demo its wall time and change
no figure of a period's settlement.

What comes out: per month (UTC calendar months, the periods being UTC days; shared energy
and PV are zero in the night hours by which they differ from local months) the community's
consumption, PV, offtake, injection and shared energy, and the indicators of
`api.demo.year_indicators`, beside the published pilots'.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from api import settlement
from api.demo.agents import Limits, draw_limits, household_schedule
from api.demo.errors import DemoError
from api.demo.neighbourhood import REGION, TIMEZONE, Household, make_households, member_contracts
from api.demo.simulation import FORECAST_ERROR, DaySimulation, Forecast, sun_is_up
from api.demo.year_indicators import PILOTS, MonthTotals, year_total
from api.economics.tariff import tariff_of
from ledger.deploy_v2 import DEFAULT_RULES
from ledger.entries import encode_entries
from ledger.rules import Rules
from metering.adapters.simulated import FleetSettings, SimulatedFleet
from metering.adapters.simulated_battery import SELL_FROM_HOUR, SELL_UNTIL_HOUR

IntArray = npt.NDArray[np.int64]
SLOTS_PER_DAY = 96
INTERVAL_SECONDS = 900
#: The demo's grid (api.demo.run.GRID): quarter-hours, one UTC day per settlement period.
GRID = settlement.TimeGrid(interval_seconds=INTERVAL_SECONDS, period_intervals=SLOTS_PER_DAY)
MAX_DAYS = 366
FAST_PATH = (
    "fast path: off-chain; the demo's fleet, agents, tariffs and rules, each day settled "
    "by api.settlement (the exchange's rule in Python), no chain, no signatures"
)


@dataclass(frozen=True)
class FleetFlows:
    """Per household (rows) and UTC quarter-hour (columns) of the run, integer Wh.

    `load_wh` is what the home used (behind the meter included), `pv_wh` what its panels
    made; `import_wh` / `export_wh` what its meter saw (a battery sits between the two).
    """

    first_interval_id: int
    pv_kwp: tuple[float, ...]
    annual_load_kwh: tuple[float, ...]
    battery_wh: tuple[int, ...]
    load_wh: IntArray
    pv_wh: IntArray
    import_wh: IntArray
    export_wh: IntArray


def fleet_flows(
    households: int, seed: int, first_day: date, days: int, settings: FleetSettings | None = None
) -> FleetFlows:
    """The fleet's flows over `days` UTC days from `first_day` (each year computed once)."""
    fleet = SimulatedFleet(households, seed, settings)
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    end = start + timedelta(days=days)
    parts: list[tuple[IntArray, ...]] = []
    for year in range(start.year, (end - timedelta(seconds=1)).year + 1):
        year_start = datetime(year, 1, 1, tzinfo=UTC)
        first = max(0, int((start - year_start).total_seconds()) // INTERVAL_SECONDS)
        stop = int((min(end, datetime(year + 1, 1, 1, tzinfo=UTC)) - year_start).total_seconds())
        flows = fleet.year_flows(year)
        arrays = (flows.load_wh, flows.pv_wh, flows.import_wh, flows.export_wh)
        parts.append(tuple(a[:, first : stop // INTERVAL_SECONDS] for a in arrays))
    load, pv, imported, exported = (np.concatenate([p[i] for p in parts], axis=1) for i in range(4))
    return FleetFlows(
        first_interval_id=int(start.timestamp()) // INTERVAL_SECONDS,
        pv_kwp=tuple(m.pv_kwp for m in fleet.members),
        annual_load_kwh=tuple(m.annual_load_kwh for m in fleet.members),
        battery_wh=tuple(m.battery_wh for m in fleet.members),
        load_wh=load,
        pv_wh=pv,
        import_wh=imported,
        export_wh=exported,
    )


def _forecast(truth: IntArray, rng: np.random.Generator) -> list[list[int]]:
    # The day demo's forecast model (api.demo.simulation): the truth off by up to
    # FORECAST_ERROR either way, drawn per value (here in one numpy draw per day).
    factor = 1.0 + rng.uniform(-FORECAST_ERROR, FORECAST_ERROR, size=truth.shape)
    noisy: list[list[int]] = np.rint(truth * factor).clip(min=0).astype(np.int64).tolist()
    return noisy


def _battery_selling(interval_id: int) -> bool:
    # The batteries' evening selling window (api.demo.simulation, simulated_battery's rule).
    local = datetime.fromtimestamp(interval_id * INTERVAL_SECONDS, tz=UTC).astimezone(TIMEZONE)
    return SELL_FROM_HOUR <= local.hour < SELL_UNTIL_HOUR


def day_simulation(flows: FleetFlows, day_index: int, seed: int) -> DaySimulation:
    """Day `day_index` of the run as the demo's agents see a day (registers from 0)."""
    columns = slice(day_index * SLOTS_PER_DAY, (day_index + 1) * SLOTS_PER_DAY)
    imported = flows.import_wh[:, columns]
    exported = flows.export_wh[:, columns]
    zeros = np.zeros((imported.shape[0], 1), dtype=np.int64)
    import_registers = np.concatenate([zeros, imported.cumsum(axis=1)], axis=1).tolist()
    export_registers = np.concatenate([zeros, exported.cumsum(axis=1)], axis=1).tolist()
    first = flows.first_interval_id + day_index * SLOTS_PER_DAY
    rng = np.random.default_rng([seed, first])
    forecast_exports, forecast_imports = _forecast(exported, rng), _forecast(imported, rng)
    forecasts = tuple(
        tuple(Forecast(e, i) for e, i in zip(exports, imports, strict=True))
        for exports, imports in zip(forecast_exports, forecast_imports, strict=True)
    )
    window = range(first, first + SLOTS_PER_DAY)
    return DaySimulation(
        first_interval_id=first,
        intervals=SLOTS_PER_DAY,
        base_interval_id=first,
        pv_kwp=flows.pv_kwp,
        annual_load_kwh=flows.annual_load_kwh,
        import_wh=tuple(tuple(row) for row in import_registers),
        export_wh=tuple(tuple(row) for row in export_registers),
        forecasts=forecasts,
        daylight=tuple(sun_is_up(k) for k in window),
        battery_wh=flows.battery_wh,
        battery_selling=tuple(_battery_selling(k) for k in window) if any(flows.battery_wh) else (),
    )


@dataclass(frozen=True)
class QuarterHourLimits(Limits):
    """A member's limits (the agents' own rule), remembered per local quarter-hour of a month.

    A tariff's prices depend on the local month and the quarter-hour of the local day only
    (`Tariff.prices`: a monthly price per band, bands by quarter-hour of the day), so the
    year asks the tariff once per (month, quarter-hour) instead of 35,000 times.
    """

    _asks: dict[tuple[int, int, int], int | None] = field(default_factory=dict, compare=False)
    _bids: dict[tuple[int, int, int], int | None] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, limits: Limits) -> QuarterHourLimits:
        return cls(limits.member, limits.floor_per_kwh, limits.ceiling_per_kwh)

    def ask_at(self, unix_seconds: int) -> int | None:
        key = _local_quarter_hour(unix_seconds)
        if key not in self._asks:
            self._asks[key] = super().ask_at(unix_seconds)
        return self._asks[key]

    def bid_at(self, unix_seconds: int) -> int | None:
        key = _local_quarter_hour(unix_seconds)
        if key not in self._bids:
            self._bids[key] = super().bid_at(unix_seconds)
        return self._bids[key]


def _local_quarter_hour(unix_seconds: int) -> tuple[int, int, int]:
    local = datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(TIMEZONE)
    return local.year, local.month, local.hour * 4 + local.minute // 15


def settle_day(
    day: DaySimulation,
    metered: tuple[IntArray, IntArray],
    members: list[Household],
    limits: list[Limits],
    rules: settlement.Rules,
) -> list[int]:
    """Shared Wh of each quarter-hour of the day: the period settled by api.settlement.
    `metered` is the day's (import, export) Wh per household and quarter-hour."""
    period_id = day.first_interval_id // SLOTS_PER_DAY
    metered_imports, metered_exports = metered[0].tolist(), metered[1].tolist()
    inputs = []
    for h, member in enumerate(members):
        address = member.account.address
        schedule = household_schedule(member, h, limits[h], day, period_id, day.interval_ids())
        if schedule is None:
            continue
        posting = settlement.Posting(
            1, schedule.first_interval_id, encode_entries(schedule.entries)
        )
        deltas = list(zip(metered_imports[h], metered_exports[h], strict=True))
        meter = settlement.MeterInput(settlement.Window(0), settlement.encode_deltas(deltas))
        inputs.append(settlement.HouseholdInput(address, settlement.Window(0), [posting], [meter]))
    if not inputs:
        return [0] * SLOTS_PER_DAY
    settled = settlement.settle_period(rules, GRID, period_id, inputs)
    return [interval.delivered_wh for interval in settled.intervals]


def monthly_totals(flows: FleetFlows, shared_wh: IntArray) -> list[MonthTotals]:
    """The run's totals per UTC calendar month (see the module docstring)."""
    starts = (flows.first_interval_id + np.arange(flows.load_wh.shape[1])) * INTERVAL_SECONDS
    labels = [datetime.fromtimestamp(int(t), tz=UTC).strftime("%Y-%m") for t in starts[::4]]
    month_of_slot = np.repeat(np.array(labels), 4)[: len(starts)]
    possible = np.minimum(flows.import_wh.sum(axis=0), flows.export_wh.sum(axis=0))
    months = []
    for label in dict.fromkeys(labels):
        mask = month_of_slot == label
        months.append(
            MonthTotals(
                label,
                int(flows.load_wh[:, mask].sum()),
                int(flows.pv_wh[:, mask].sum()),
                int(flows.import_wh[:, mask].sum()),
                int(flows.export_wh[:, mask].sum()),
                int(shared_wh[mask].sum()),
                int(possible[mask].sum()),
                int(flows.import_wh[:, mask].max(axis=1).sum() * 4 // len(flows.import_wh)),
            )
        )
    return months


@dataclass(frozen=True)
class YearRun:
    """What `quartier demo --days N` reports."""

    households: int
    pv_homes: int
    days: int
    first_day: date
    seed: int
    months: tuple[MonthTotals, ...]
    wall_seconds: float
    #: The rules the days were settled under and the tariff files the members priced from.
    rules: Rules = DEFAULT_RULES
    tariffs: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """What ran, stated in the output: the fast path, its rules and tariffs."""
        rules = self.rules
        return (
            f"{FAST_PATH}; rules {rules.mechanism.name} within "
            f"{rules.price_floor_per_kwh}-{rules.price_ceiling_per_kwh} units/kWh; "
            f"tariffs {', '.join(self.tariffs)} (each member's own contract)"
        )

    @property
    def total(self) -> MonthTotals:
        return year_total(self.months)

    def as_json(self) -> dict[str, Any]:
        return {
            "households": self.households,
            "pv_share": self.pv_homes / self.households,
            "days": self.days,
            "first_day": self.first_day.isoformat(),
            "seed": self.seed,
            "path": self.path,
            "months": [month.as_json() for month in self.months],
            "total": self.total.as_json(),
            "pilots": PILOTS,
            "wall_seconds": round(self.wall_seconds, 1),
        }


def run_year(
    households: int,
    days: int,
    seed: int,
    first_day: date,
    rules: Rules = DEFAULT_RULES,
    settings: FleetSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> YearRun:
    """Simulate and settle `days` days from `first_day` (see the module docstring)."""
    if not 1 <= days <= MAX_DAYS:
        raise DemoError(f"--days must be 1..{MAX_DAYS}, got {days}")
    started = time.perf_counter()
    # Refuse a year without tariff data at once (one line, exit 2), not after the fleet ran.
    for tariff_year in _tariff_years(first_day, days):
        tariff = tariff_of(REGION, tariff_year)
        for member in member_contracts(households, seed):
            tariff.check_member(member)
    flows = fleet_flows(households, seed, first_day, days, settings)
    members = make_households(households, seed)
    limits: list[Limits] = [QuarterHourLimits.of(x) for x in draw_limits(households, rules, seed)]
    engine_rules = settlement.Rules.of(rules)
    shared = np.zeros(days * SLOTS_PER_DAY, dtype=np.int64)
    for d in range(days):
        columns = slice(d * SLOTS_PER_DAY, (d + 1) * SLOTS_PER_DAY)
        metered = (flows.import_wh[:, columns], flows.export_wh[:, columns])
        day = day_simulation(flows, d, seed)
        shared[columns] = settle_day(day, metered, members, limits, engine_rules)
        if progress is not None:
            progress(d + 1, days)
    return YearRun(
        households=households,
        pv_homes=sum(1 for kwp in flows.pv_kwp if kwp > 0),
        days=days,
        first_day=first_day,
        seed=seed,
        months=tuple(monthly_totals(flows, shared)),
        wall_seconds=time.perf_counter() - started,
        rules=rules,
        tariffs=tuple(f"{REGION}-{y}.toml" for y in _tariff_years(first_day, days)),
    )


def _tariff_years(first_day: date, days: int) -> list[int]:
    """The local years the run's days price in (its first and last days; the hour past
    midnight of 1 January that a UTC day reaches is dark: nobody trades in it)."""
    return sorted({first_day.year, (first_day + timedelta(days=days - 1)).year})


def _kwh(wh: int) -> str:
    return f"{wh / 1000:,.0f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def print_year(console: Console, run: YearRun) -> None:
    """The run's months, its total and the pilots' figures, for people."""
    table = Table(
        title=f"{run.households} households ({run.pv_homes} with PV), {run.days} days from "
        f"{run.first_day.isoformat()}: energy in kWh per month (UTC)"
    )
    columns = ("month", "used", "PV", "taken", "fed in", "shared", "possible", "peak kW")
    for column in (*columns, "shared/taken", "self-consumption", "self-sufficiency"):
        table.add_column(column, justify="right", no_wrap=True)

    def row(month: MonthTotals, label: str) -> list[str]:
        energies = (
            month.consumption_wh,
            month.generation_wh,
            month.offtake_wh,
            month.injection_wh,
            month.shared_wh,
        )
        possible = "-" if month.possible_wh is None else _kwh(month.possible_wh)
        peak = "-" if month.mean_peak_w is None else f"{month.mean_peak_w / 1000:.1f}"
        ratios = (month.shared_share_of_offtake, month.self_consumption, month.self_sufficiency)
        return [label, *(_kwh(wh) for wh in energies), possible, peak, *(_pct(r) for r in ratios)]

    for month in run.months:
        table.add_row(*row(month, month.month))
    table.add_row(*row(run.total, "total"), style="bold")
    console.print(table)
    total = run.total
    lines = [
        "shared/taken: the grid operator's shared share of gross offtake; self-consumption "
        "and self-sufficiency: Quartierstrom's, behind the meter included "
        "(api/demo/year_indicators.py); possible: per quarter-hour the lesser of what "
        "the homes fed in and took, the most any market could share; peak: the homes' mean "
        "monthly 15-minute peak from the grid (a capacity tariff's basis)",
        f"this neighbourhood: self-consumption {_pct(total.self_consumption)}, "
        f"self-sufficiency {_pct(total.self_sufficiency)}",
        *(
            f"{pilot['name']}: self-consumption {pilot['self_consumption_percent']:.0f} %, "
            f"self-sufficiency {pilot['self_sufficiency_percent']:.0f} %"
            for pilot in PILOTS.values()
        ),
        run.path,
        f"wall time {run.wall_seconds:.1f} s",
    ]
    console.print("\n".join(lines))


def year_command(
    households: int,
    days: int,
    seed: int,
    year: int,
    settings: FleetSettings,
    as_json: bool,
) -> None:
    """`quartier demo --days N`: N days from 1 January of `year`, printed or as JSON."""
    console = Console(stderr=as_json)
    console.width = max(console.width, 140)  # the months table, even when piped
    run = run_year(households, days, seed, date(year, 1, 1), settings=settings)
    if as_json:
        console.file.flush()
        print(json.dumps(run.as_json(), indent=2))
    else:
        print_year(console, run)

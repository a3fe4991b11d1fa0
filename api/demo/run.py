"""Run a neighbourhood day on protocol v2 end to end: a node, the API in-process, the
households' and meters' agents, the relayer, then the audit.

Time. The demo replays a day, so nothing waits for real quarter-hours: one simulated clock
drives the API (its `clock`), the relayer (which reads the chain's time) and the chain
(evm_setNextBlockTimestamp + evm_mine, only ever forward). In order:

- for each settlement period P the traded window touches, POST_LEAD_SECONDS before the gate
  of its first traded interval: every household signs its day-ahead schedule of P and POSTs
  it to /schedules; the relayer posts them (postSchedules) before the gate;
- at the end of every traded interval the clock moves on (live per-interval readings: the
  v2 service has no POST /readings yet, so none are sent);
- BATCH_DELAY_SECONDS after the end of each period P, past the window's end if the demo is
  shorter than a period: every meter POSTs its signed batch of P to /meter-batches, and the
  relayer settles P (the batches go inline into settlePeriod).

The rules (mechanism, prices, gate lead) are read back from the chain after deployment; the
demo's only copy is what it passes to `deploy_community_v2` for the community it creates.
With `rpc_url` the day runs on an already running node (it must answer Anvil's evm_* time
methods) in a community of its own, and the node is left running.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from web3 import Web3
from web3.exceptions import ContractLogicError

from api.app import create_app, relayer_of
from api.audit_cli import settlement_rule
from api.demo.agents import (
    draw_limits,
    household_schedule,
    meter_batch,
    meter_batch_json,
    schedule_json,
)
from api.demo.chain_facts import ChainFacts, collect_chain_facts, token_totals
from api.demo.errors import DemoError
from api.demo.neighbourhood import (
    Household,
    make_households,
    make_relayer_account,
    onboard_households,
)
from api.demo.simulation import SLOTS_PER_DAY, DaySimulation, simulate_day
from api.relayer.context import V2Chain
from api.relayer.service import PassReport, Relayer
from api.settings import Settings
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.audit import AuditReport, run_audit
from ledger.chain import Sender, connect
from ledger.community import CommunityClient
from ledger.deploy_v2 import DEFAULT_RULES, deploy_community_v2
from ledger.deployment import Deployment, save_deployment
from ledger.exchange import ExchangeClient
from ledger.rules import Rules, TimeGrid
from metering.adapters.simulated import FleetSettings
from metering.period import SignedMeterPeriod

#: Households sign and POST a period's schedules this long before its first gate (the
#: service needs its relay margin, the relayer a pass).
POST_LEAD_SECONDS = 300
#: Meters POST a period's batch this long after the period ends; the relayer then settles.
BATCH_DELAY_SECONDS = 60
#: The chain starts (or the day is placed) at least this long before the first interval,
#: so onboarding happens "before" the day and members count from its first interval.
SETUP_LEAD_SECONDS = 3600
#: Block gas limit of the demo's own node: a 100-household day settles in one transaction.
BLOCK_GAS_LIMIT = 100_000_000
#: The relayer's gas limit per transaction (settlement grows with the households), capped
#: by the node's block gas limit (a --rpc node may keep Anvil's default 30 M).
RELAYER_GAS_LIMIT = 90_000_000
#: The demo's grid: quarter-hours, one UTC day per settlement period (the simulation's days).
GRID = TimeGrid(interval_seconds=900, period_intervals=SLOTS_PER_DAY)


@dataclass(frozen=True)
class DemoConfig:
    """What `quartier demo` was asked to run."""

    households: int = 20
    intervals: int = 96
    day: date = date(2026, 6, 21)
    seed: int = 7
    #: The first quarter-hour of the day to trade (0 = from midnight UTC).
    start_slot: int = 0
    #: What the neighbourhood looks like: PV and battery shares, the year's weather.
    fleet: FleetSettings = field(default_factory=FleetSettings)
    #: The rules given to deploy_community_v2 for the community the demo creates; everything
    #: afterwards reads them from the chain.
    rules: Rules = DEFAULT_RULES
    minted_units: int = 100_000_000
    deposit_units: int = 60_000_000
    #: An already running node to use (None: start a fresh Anvil and stop it afterwards).
    rpc_url: str | None = None
    #: Where the deployment file is written with `rpc_url` (None: a new temporary directory).
    deployment_dir: Path | None = None


@dataclass
class Timings:
    """Where the wall time went, in seconds (for the profile in the summary)."""

    simulate: float = 0.0
    setup: float = 0.0
    sign: float = 0.0
    http_schedules: float = 0.0
    http_batches: float = 0.0
    relayer: float = 0.0
    clock: float = 0.0
    collect: float = 0.0
    audit: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 3) for name, value in vars(self).items()}


@dataclass(frozen=True)
class DayRun:
    """Everything the summary and the report are computed from."""

    config: DemoConfig
    simulation: DaySimulation
    households: tuple[Household, ...]
    deployment: Deployment
    #: The rules of the traded periods and the grid, as the chain holds them.
    rules: Rules
    grid: TimeGrid
    periods: tuple[int, ...]
    facts: ChainFacts
    schedules_posted: int
    batches_posted: int
    #: Gas of postMeterBatches carrying the day's batches, estimated just before each
    #: settlement (the batches themselves go inline into settlePeriod).
    batch_gas_estimate: int
    relayer_reports: tuple[PassReport, ...]
    audit: AuditReport
    rpc_url: str | None
    deployment_file: Path | None
    timings: Timings


class SimulatedClock:
    """The demo's one notion of now (unix seconds), moved forward by the driver."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


#: Progress callback: (phase, steps done, steps in the phase). Phases: "simulating meters",
#: "deploying and funding", "trading" (steps = quarter-hours), "auditing".
Progress = Callable[[str, int, int], None]


def _silent(_phase: str, _done: int, _total: int) -> None:
    return None


def _latest_time(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def _move_chain_clock(w3: Web3, now: int) -> None:
    # Forward only; the mined block makes `now` the latest block's time, which calls and gas
    # estimation execute at.
    if now > _latest_time(w3):
        for method, params in (("evm_setNextBlockTimestamp", [now]), ("evm_mine", [])):
            answer = w3.provider.make_request(method, params)  # type: ignore[arg-type]
            if "error" in answer:
                raise DemoError(
                    f"the node does not let the demo move its clock ({method}: "
                    f"{answer['error']}): run the demo on an Anvil node"
                )


def _days_later(simulation: DaySimulation, node_time: int) -> int:
    """Whole days to move the simulated day so that it starts SETUP_LEAD_SECONDS after
    `node_time` at the earliest (chain time never goes back)."""
    start = GRID.interval_start(simulation.first_interval_id)
    late = node_time + SETUP_LEAD_SECONDS - start
    return max(0, -(-late // GRID.period_end(0)))


def run_day(config: DemoConfig, progress: Progress = _silent) -> DayRun:
    """Run the whole day; raises DemoError when a step fails."""
    timings = Timings()
    started = time.perf_counter()
    progress("simulating meters", 0, 1)
    simulation = simulate_day(
        config.households,
        config.day,
        config.intervals,
        config.seed,
        config.start_slot,
        config.fleet,
    )
    timings.simulate = time.perf_counter() - started
    if config.rpc_url is not None:
        w3 = connect(config.rpc_url)
        simulation = simulation.shifted(_days_later(simulation, _latest_time(w3)))
        return _run_on(w3, config, simulation, timings, progress)
    start = GRID.interval_start(simulation.first_interval_id)
    node = AnvilNode(
        extra_args=(
            "--timestamp",
            str(start - SETUP_LEAD_SECONDS),
            "--gas-limit",
            str(BLOCK_GAS_LIMIT),
        )
    )
    try:
        return _run_on(connect(node.start().url), config, simulation, timings, progress)
    finally:
        node.stop()
        if node.process is not None and node.process.stderr is not None:
            node.process.stderr.close()


@dataclass(frozen=True)
class _Community:
    """What the trading day runs on: the chain, the deployment, its members, the service."""

    w3: Web3
    deployment: Deployment
    households: list[Household]
    rules: Rules
    grid: TimeGrid
    app: Any
    chain: V2Chain
    relayer: Relayer
    clock: SimulatedClock


def _set_up(w3: Web3, config: DemoConfig, first_period: int) -> _Community:
    # The community's manager: QUARTIER_DEPLOYER_KEY, or Anvil's public dev key on Anvil.
    manager = Sender(w3, default_deployer(w3.eth.chain_id, os.environ.get("QUARTIER_DEPLOYER_KEY")))
    deployment = deploy_community_v2(manager, rules=config.rules, grid=GRID)
    community = CommunityClient(manager, deployment.address("QuartierCommunity"))
    grid = community.time_grid()
    if grid != GRID:
        raise DemoError(f"the community's grid is {grid}, the simulation's days need {GRID}")
    households = make_households(config.households, config.seed)
    relayer_account = make_relayer_account(config.seed)
    onboard_households(
        manager,
        deployment,
        households,
        config.minted_units,
        config.deposit_units,
        relayer_account.address,
    )
    rules = community.rules_at(first_period)
    rpc_url = str(getattr(w3.provider, "endpoint_uri", ""))
    settings = Settings(
        rpc_url=rpc_url,
        database_url="sqlite://",
        run_relayer=False,
        relayer_gas_limit=min(RELAYER_GAS_LIMIT, int(w3.eth.get_block("latest")["gasLimit"])),
        head_cache_milliseconds=0,
    )
    chain = V2Chain.of(Sender(w3, relayer_account), deployment, settings)
    clock = SimulatedClock(_latest_time(w3))
    app = create_app(settings, chain=chain, clock=clock)
    return _Community(w3, deployment, households, rules, grid, app, chain, relayer_of(app), clock)


@dataclass
class _Day:
    """What the trading day produced besides the chain's own record."""

    schedules: int = 0
    batches: int = 0
    batch_gas_estimate: int = 0
    reports: list[PassReport] = field(default_factory=list)


async def _post_all(client: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        response = await client.post(path, json=body)
        if response.status_code not in (200, 201):
            problem = response.json()
            raise DemoError(
                f"POST {path} refused ({response.status_code}): {problem.get('detail', problem)}"
            )


def _moments(community: _Community, simulation: DaySimulation) -> list[tuple[int, int, str, int]]:
    """The day's moments in order: (chain time, tie order, what, interval or period id)."""
    grid = community.grid
    window = simulation.interval_ids()
    periods = sorted({grid.period_of_interval(k) for k in window})
    moments: list[tuple[int, int, str, int]] = []
    for period_id in periods:
        first = max(window.start, grid.first_interval(period_id))
        # Rules of a period that gets schedules are final (IQuartierCommunity): read them.
        rules = community.chain.rules(period_id)
        moments.append((grid.gate(first, rules) - POST_LEAD_SECONDS, 0, "schedules", period_id))
        moments.append((grid.period_end(period_id) + BATCH_DELAY_SECONDS, 2, "settle", period_id))
    moments.extend((grid.interval_end(k), 1, "interval", k) for k in window)
    return sorted(moments)


def _batch_gas(community: _Community, batches: list[SignedMeterPeriod]) -> int:
    """What postMeterBatches of these batches would cost now (an estimate, no transaction)."""
    exchange = ExchangeClient(
        community.chain.sender, community.deployment.address("QuartierExchange")
    )
    fn = exchange.contract.functions.postMeterBatches([signed.as_abi() for signed in batches])
    try:
        return int(fn.estimate_gas({"from": community.chain.sender.address}))
    except ContractLogicError as error:
        # The same batches must then fail at settlement too: say which rule first.
        raise DemoError(f"the meter batches would not be accepted: {error}") from None


def _trade_day(
    community: _Community,
    config: DemoConfig,
    simulation: DaySimulation,
    timings: Timings,
    progress: Progress,
) -> _Day:
    """Tick through the day (see the module docstring)."""
    grid, households = community.grid, community.households
    window = simulation.interval_ids()
    limits = draw_limits(config.households, community.rules, config.seed)
    chain_id = community.deployment.chain_id
    exchange = community.deployment.address("QuartierExchange")
    day = _Day()

    def move_to(moment: int) -> None:
        mark = time.perf_counter()
        community.clock.now = moment
        _move_chain_clock(community.w3, moment)
        community.chain.forget_head()
        timings.clock += time.perf_counter() - mark

    def relay() -> PassReport:
        mark = time.perf_counter()
        report = community.relayer.run_once()
        timings.relayer += time.perf_counter() - mark
        day.reports.append(report)
        if report.posting_error or report.posting.refused or report.failed:
            raise DemoError(
                "the relayer failed: "
                f"{report.posting_error or report.posting.refused or report.failed}"
            )
        return report

    async def drive(client: httpx.AsyncClient) -> None:
        for moment, _order, what, ident in _moments(community, simulation):
            move_to(moment)
            if what == "interval":
                progress("trading", ident - window.start + 1, config.intervals)
                continue
            mark = time.perf_counter()
            if what == "schedules":
                intervals = range(
                    max(window.start, grid.first_interval(ident)),
                    min(window.stop, grid.intervals(ident).stop),
                )
                schedules = [
                    (
                        household,
                        household_schedule(household, i, limits[i], simulation, ident, intervals),
                    )
                    for i, household in enumerate(households)
                ]
                bodies = [
                    schedule_json(household, schedule, chain_id, exchange)
                    for household, schedule in schedules
                    if schedule is not None
                ]
                signed = time.perf_counter()
                timings.sign += signed - mark
                await _post_all(client, "/schedules", bodies)
                timings.http_schedules += time.perf_counter() - signed
                day.schedules += len(bodies)
                relay()
                continue
            batches = [
                meter_batch(household, i, simulation, grid, ident, chain_id, exchange)
                for i, household in enumerate(households)
            ]
            signed = time.perf_counter()
            timings.sign += signed - mark
            await _post_all(
                client,
                "/meter-batches",
                [meter_batch_json(h, b) for h, b in zip(households, batches, strict=True)],
            )
            timings.http_batches += time.perf_counter() - signed
            day.batches += len(batches)
            day.batch_gas_estimate += _batch_gas(community, batches)
            report = relay()
            exchange_client = community.chain.exchange
            if (
                ident not in report.settled
                and not exchange_client.is_settled(ident)
                and exchange_client.posting_households(ident)
            ):
                raise DemoError(f"period {ident} was not settled (waiting: {report.waiting})")

    async def main() -> None:
        # In-process HTTP through httpx's ASGI transport: ~0.7 ms a request, against ~2 ms
        # through Starlette's TestClient (a thread hop per request).
        transport = httpx.ASGITransport(app=community.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.invalid") as client:
            await drive(client)

    asyncio.run(main())
    return day


def _deployment_file(config: DemoConfig, deployment: Deployment) -> Path:
    directory = config.deployment_dir or Path(tempfile.mkdtemp(prefix="quartier-demo-"))
    return save_deployment(deployment, directory)


def _run_on(
    w3: Web3,
    config: DemoConfig,
    simulation: DaySimulation,
    timings: Timings,
    progress: Progress,
) -> DayRun:
    mark = time.perf_counter()
    progress("deploying and funding", 0, 1)
    community = _set_up(w3, config, GRID.period_of_interval(simulation.first_interval_id))
    deployment, households = community.deployment, community.households
    relayer_address = community.chain.sender.address
    before = token_totals(w3, deployment, households, relayer_address)
    deployment_file = None if config.rpc_url is None else _deployment_file(config, deployment)
    timings.setup = time.perf_counter() - mark
    day = _trade_day(community, config, simulation, timings, progress)
    mark = time.perf_counter()
    progress("auditing", 0, 1)
    facts = collect_chain_facts(w3, deployment, households, relayer_address, before)
    timings.collect = time.perf_counter() - mark
    mark = time.perf_counter()
    audit = run_audit(w3, deployment, settlement_rule)
    timings.audit = time.perf_counter() - mark
    return DayRun(
        config=config,
        simulation=simulation,
        households=tuple(households),
        deployment=deployment,
        rules=community.rules,
        grid=community.grid,
        periods=tuple(
            sorted({community.grid.period_of_interval(k) for k in simulation.interval_ids()})
        ),
        facts=facts,
        schedules_posted=day.schedules,
        batches_posted=day.batches,
        batch_gas_estimate=day.batch_gas_estimate,
        relayer_reports=tuple(day.reports),
        audit=audit,
        rpc_url=config.rpc_url,
        deployment_file=deployment_file,
        timings=timings,
    )

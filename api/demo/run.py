"""Run a neighbourhood day end to end: Anvil, the API in-process, agents, the worker.

Time. The demo replays a past day, so nothing waits for real quarter-hours: one simulated
clock drives the API (its `clock`), the worker (`WorkerContext.clock`) and Anvil (evm_setTime,
only ever forward). For each interval k, two moments, as they would happen live:

- gate closure of k, k*900 - GATE_LEAD_SECONDS: the worker clears k and commits it;
- k*900 + GRACE_SECONDS: the meters POST their readings of k-1 (available since k*900), the
  households POST their orders for k+1 (its gate is still 5 minutes away), and the worker
  relays the readings and settles k-1.

The contract checks the same rules against the block time: no commit before the gate, no
reading before its interval has ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from web3 import Web3

from api.app import create_app
from api.audit_cli import engine_rule
from api.demo.agents import Prices, draw_limits, household_orders, meter_readings
from api.demo.chain_facts import ChainFacts, collect_chain_facts, token_totals
from api.demo.errors import DemoError
from api.demo.neighbourhood import Household, make_households, onboard_households
from api.demo.simulation import DaySimulation, simulate_day
from api.ledger_gateway import LedgerGateway
from api.settings import Settings
from api.worker.service import WorkerContext, run_pass
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.audit import run_audit
from ledger.chain import Sender, connect
from ledger.deploy import deploy_community
from ledger.deployment import Deployment
from metering.reading import INTERVAL_SECONDS

#: Orders for k close this long before k starts (in the contract and in the API).
GATE_LEAD_SECONDS = 300
#: The worker settles k this long after k ends; readings of k are posted by then.
GRACE_SECONDS = 300
#: Anvil's genesis: an hour before the demo day, so setup happens "before" it.
SETUP_LEAD_SECONDS = 3600


@dataclass(frozen=True)
class DemoConfig:
    """What `quartier demo` was asked to run."""

    households: int = 20
    intervals: int = 96
    day: date = date(2026, 6, 21)
    seed: int = 7
    #: The first quarter-hour of the day to run (0 = from midnight UTC).
    start_slot: int = 0
    #: Retail 0.30 EUR/kWh and feed-in 0.04 EUR/kWh in base units of a 6-decimal token.
    prices: Prices = field(default_factory=lambda: Prices(40_000, 300_000))
    minted_units: int = 100_000_000
    deposit_units: int = 60_000_000


@dataclass
class Timings:
    """Where the wall time went, in seconds (for the profile in the summary)."""

    simulate: float = 0.0
    setup: float = 0.0
    sign: float = 0.0
    http_orders: float = 0.0
    http_readings: float = 0.0
    worker: float = 0.0
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
    facts: ChainFacts
    orders_posted: int
    readings_posted: int
    #: The worker's record of each interval (from the DB it keeps).
    intervals: dict[int, IntervalOutcome]
    #: The auditor's replay (ledger.audit): its problems, and how many signatures it checked.
    audit_problems: tuple[str, ...]
    audit_signatures: int
    timings: Timings


@dataclass(frozen=True)
class IntervalOutcome:
    """What the worker recorded for an interval (status, and the figures its events gave)."""

    status: str
    commitment: str | None
    delivered_wh: int | None
    paid_units: int | None


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


async def _post_all(client: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        response = await client.post(path, json=body)
        if response.status_code not in (200, 201):
            problem = response.json()
            raise DemoError(
                f"POST {path} refused ({response.status_code}): {problem.get('detail', problem)}"
            )


def _move_chain_clock(w3: Web3, now: int) -> None:
    # evm_setTime also moves time backwards, which would break block order: forward only.
    # The empty block makes `now` the latest block's time, which gas estimation executes at.
    latest = int(w3.eth.get_block("latest")["timestamp"])
    if now > latest:
        w3.provider.make_request("evm_setTime", [now])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def run_day(config: DemoConfig, progress: Progress = _silent) -> DayRun:
    """Run the whole day on a fresh Anvil node; raises DemoError when a step fails."""
    timings = Timings()
    started = time.perf_counter()
    progress("simulating meters", 0, 1)
    simulation = simulate_day(
        config.households, config.day, config.intervals, config.seed, config.start_slot
    )
    timings.simulate = time.perf_counter() - started
    start = simulation.first_interval_id * INTERVAL_SECONDS
    node = AnvilNode(extra_args=("--timestamp", str(start - SETUP_LEAD_SECONDS)))
    try:
        return _run_on(node.start(), config, simulation, timings, progress)
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
    settings: Settings
    ledger: LedgerGateway


def _set_up(node: AnvilNode, config: DemoConfig) -> _Community:
    w3 = connect(node.url)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    deployment = deploy_community(manager, gate_closure_lead_seconds=GATE_LEAD_SECONDS)
    households = make_households(config.households, config.seed)
    onboard_households(manager, deployment, households, config.minted_units, config.deposit_units)
    settings = Settings(
        rpc_url=node.url,
        database_url="sqlite://",
        gate_closure_seconds=GATE_LEAD_SECONDS,
        grace_seconds=GRACE_SECONDS,
        feed_in_per_kwh=config.prices.feed_in_per_kwh,
        retail_per_kwh=config.prices.retail_per_kwh,
        run_worker=False,  # the driver runs each pass at its simulated moment
    )
    return _Community(w3, deployment, households, settings, LedgerGateway(settings, deployment))


@dataclass
class _Counts:
    orders: int = 0
    readings: int = 0


def _trade_day(
    community: _Community,
    config: DemoConfig,
    simulation: DaySimulation,
    timings: Timings,
    progress: Progress,
) -> tuple[_Counts, dict[int, IntervalOutcome]]:
    """Tick through the day (see the module docstring); returns counts and interval states."""
    first = simulation.first_interval_id
    last = first + config.intervals - 1
    clock = SimulatedClock((first - 1) * INTERVAL_SECONDS)
    app = create_app(community.settings, ledger=community.ledger, clock=clock)
    worker = WorkerContext(community.settings, app.state.engine, community.ledger, clock)
    limits = draw_limits(config.households, config.prices, config.seed)
    households = community.households
    chain_id = community.deployment.chain_id
    market = community.deployment.address("QuartierMarket")
    counts = _Counts()

    def worker_pass(now: int) -> None:
        mark = time.perf_counter()
        clock.now = now
        _move_chain_clock(community.w3, now)
        run_pass(worker)
        timings.worker += time.perf_counter() - mark

    async def drive() -> None:
        # In-process HTTP through httpx's ASGI transport: ~0.7 ms a request, against ~2 ms
        # through Starlette's TestClient (a thread hop per request).
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.invalid") as client:
            for k in range(first - 1, last + 2):
                if first <= k <= last:
                    worker_pass(k * INTERVAL_SECONDS - GATE_LEAD_SECONDS)
                clock.now = k * INTERVAL_SECONDS + GRACE_SECONDS
                mark = time.perf_counter()
                readings = (
                    meter_readings(households, simulation, k - 1, chain_id, market)
                    if k >= first
                    else []
                )
                orders = (
                    household_orders(households, limits, simulation, k + 1, chain_id, market)
                    if k + 1 <= last
                    else []
                )
                signed = time.perf_counter()
                timings.sign += signed - mark
                await _post_all(client, "/readings", readings)
                posted = time.perf_counter()
                timings.http_readings += posted - signed
                await _post_all(client, "/orders", orders)
                timings.http_orders += time.perf_counter() - posted
                counts.orders += len(orders)
                counts.readings += len(readings)
                worker_pass(clock.now)
                progress("trading", k - first + 2, config.intervals + 2)

    asyncio.run(drive())
    return counts, _interval_outcomes(app.state.engine)


def _run_on(
    node: AnvilNode,
    config: DemoConfig,
    simulation: DaySimulation,
    timings: Timings,
    progress: Progress,
) -> DayRun:
    mark = time.perf_counter()
    progress("deploying and funding", 0, 1)
    community = _set_up(node, config)
    w3, deployment, households = community.w3, community.deployment, community.households
    before = token_totals(w3, deployment, households)
    timings.setup = time.perf_counter() - mark
    counts, intervals = _trade_day(community, config, simulation, timings, progress)
    mark = time.perf_counter()
    progress("auditing", 0, 1)
    facts = collect_chain_facts(w3, deployment, households, before=before)
    timings.collect = time.perf_counter() - mark
    mark = time.perf_counter()
    settings = community.settings
    audit = run_audit(w3, deployment, engine_rule(settings.mechanism, settings.price_bounds))
    timings.audit = time.perf_counter() - mark
    return DayRun(
        config=config,
        simulation=simulation,
        households=tuple(households),
        deployment=deployment,
        facts=facts,
        orders_posted=counts.orders,
        readings_posted=counts.readings,
        intervals=intervals,
        audit_problems=tuple(f"{p.kind}: {p.detail}" for p in audit.problems),
        audit_signatures=audit.signatures_checked,
        timings=timings,
    )


def _interval_outcomes(engine: Any) -> dict[int, IntervalOutcome]:
    from sqlmodel import Session, select

    from api.worker.models import IntervalRow

    with Session(engine) as session:
        return {
            row.interval_id: IntervalOutcome(
                row.status, row.commitment, row.delivered_wh, row.paid_units
            )
            for row in session.exec(select(IntervalRow)).all()
        }

"""Signed schedules and signed readings accepted per second by the served API, over loopback.

The API (`served_app`: `quartier serve`'s app, the relayer off) runs under uvicorn in its
own process against a fresh Anvil holding a v2 community (QuartierCommunity,
QuartierExchange) and a SQLite file; the load comes from `loopback.GENERATOR_PROCESSES`
aiohttp processes (`loopback.LoadGenerator`), started once for every run. The households
are onboarded as the demo does (admitted with their meters, funded, escrow deposited).

Schedules: each household signs day-ahead schedules of the next period (48 entries, sells and
buys), versions 1, 2, 3, ... (a later version replaces the earlier; at most 24 per household
and period), all posted by one client in version order. The first version of every
household is the cold pass (the service reads its membership and escrow from the chain);
it is reported on its own, and the timed figure is the steady state after it, as for the
readings. Nothing posts them on chain meanwhile (no relayer runs in the served app), so every
version stays pending and promises escrow: the deposit covers them all.

Readings: the same number of signed per-interval readings to POST /readings, by the same
clients, after an untimed first reading per meter (its QuartierCommunity look-up), signed
under the exchange-bound reading domain. Their baseline
is the same load on a GET that reads one stored schedule from the database and verifies
nothing.
"""

from __future__ import annotations

import functools
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from loopback import GENERATOR_PROCESSES, Call, LoadFigure, LoadGenerator, Server, request

from api.demo.agents import schedule_json
from api.demo.neighbourhood import Household, make_households, onboard_households
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender, connect
from ledger.deploy_v2 import DEFAULT_RULES, deploy_community_v2
from ledger.deployment import save_deployment
from ledger.rules import TimeGrid
from ledger.schedules import Entry, EntrySide, Schedule, schedule_struct_hash
from metering.reading import Reading, sign_reading

#: Households posting schedules; each posts count / HOUSEHOLDS versions (+1 cold).
HOUSEHOLDS = 150
#: Meters posting readings (each posts count / METERS readings, +1 untimed).
METERS = 40
ENTRIES = 48
#: Credits per household: far more than every pending version's lock together.
FUNDS_UNITS = 10**10


@dataclass(frozen=True)
class IntakeFigures:
    schedules: LoadFigure
    schedules_cold: LoadFigure
    readings: LoadFigure
    baseline: LoadFigure
    concurrency: int
    households: int
    meters: int
    workers: int
    #: Load generator processes the clients ran in.
    generators: int


def _schedules(
    household: Household, index: int, period_id: int, grid: TimeGrid, versions: int
) -> list[Schedule]:
    # From 10:00 of the period on: every gate stays open for hours whatever the time of day.
    first = grid.first_interval(period_id) + 40
    floor, ceiling = DEFAULT_RULES.price_floor_per_kwh, DEFAULT_RULES.price_ceiling_per_kwh
    schedules = []
    for version in range(1, versions + 1):
        entries = tuple(
            Entry(EntrySide.SELL, 100 + (index * 7 + i + version) % 700, floor + 10_000 + i * 100)
            if (index + i) % 3 == 0
            else Entry(EntrySide.BUY, 100 + (index * 5 + i) % 700, ceiling - 10_000 - i * 100)
            for i in range(ENTRIES)
        )
        schedules.append(Schedule(household.account.address, period_id, version, first, entries))
    return schedules


def _lanes(per_owner: list[list[Call]], concurrency: int) -> list[list[Call]]:
    """Owners spread over the lanes; inside a lane, owners interleaved, each in its order."""
    lanes: list[list[list[Call]]] = [[] for _ in range(concurrency)]
    for index, owned in enumerate(per_owner):
        lanes[index % concurrency].append(owned)
    result = []
    for owners in lanes:
        depth = max((len(owned) for owned in owners), default=0)
        result.append([owned[n] for n in range(depth) for owned in owners if n < len(owned)])
    return result


def _reading_bodies(
    households: list[Household], total: int, chain_id: int, exchange: str
) -> list[list[bytes]]:
    """Per meter, its signed readings in seq order over past intervals (+1 for warm-up), under
    the exchange-bound reading domain POST /readings verifies (`metering.reading`: chain id,
    QuartierExchange), the meters those onboarding admitted in QuartierCommunity."""
    per_meter = 1 + -(-total // len(households))
    first_interval = int(time.time()) // 900 - per_meter - 1
    bodies = []
    for household in households:
        meter_id = household.meter.meter_id
        bodies.append(
            [
                json.dumps(
                    sign_reading(
                        household.meter_key,
                        Reading(meter_id, first_interval + n, 1_000 + 90 * n, 500 + 40 * n, n + 1),
                        chain_id,
                        exchange,
                    ).to_json()
                ).encode()
                for n in range(per_meter)
            ]
        )
    return bodies


def measure_intake(count: int, concurrency: int = 8, workers: int = 1) -> IntakeFigures:
    """Set up chain and server (`workers` uvicorn processes), then time `count` schedules and
    `count` readings."""
    with (
        AnvilNode() as node,
        tempfile.TemporaryDirectory() as workdir,
        open(Path(workdir) / "server.log", "w+b") as log,
    ):
        w3 = connect(node.url)
        manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
        grid = TimeGrid()
        deployment = deploy_community_v2(manager, grid=grid)
        households = make_households(HOUSEHOLDS, seed=11)
        onboard_households(
            manager, deployment, households, FUNDS_UNITS, FUNDS_UNITS, manager.address
        )
        meters = households[:METERS]
        deployment_file = save_deployment(deployment, Path(workdir))
        database_url = f"sqlite:///{Path(workdir) / 'bench.db'}"
        period_id = grid.period_at(int(w3.eth.get_block("latest")["timestamp"])) + 1
        versions = 1 + -(-count // HOUSEHOLDS)
        exchange = deployment.address("QuartierExchange")
        plans = [_schedules(h, i, period_id, grid, versions) for i, h in enumerate(households)]
        schedules = [
            [json.dumps(schedule_json(h, s, deployment.chain_id, exchange)).encode() for s in plan]
            for h, plan in zip(households, plans, strict=True)
        ]
        stored = "0x" + schedule_struct_hash(plans[0][0]).hex()
        readings = _reading_bodies(meters, count, deployment.chain_id, exchange)
        server = Server(
            {
                "QUARTIER_RPC_URL": node.url,
                "QUARTIER_DEPLOYMENT": str(deployment_file),
                "QUARTIER_DATABASE_URL": database_url,
                "QUARTIER_WORKER": "0",
            },
            free_port(),
            log,
            workers,
        )
        pid = server.process.pid
        try:
            server.wait_ready()
            with LoadGenerator(server.port, GENERATOR_PROCESSES) as load:
                as_schedule = functools.partial(request, "POST", "/schedules")
                as_reading = functools.partial(request, "POST", "/readings")
                _until_accepted(load, as_schedule(schedules[0][0]))
                cold = load.run_load(
                    _lanes([[as_schedule(s[0])] for s in schedules[1:]], concurrency), (201,)
                )
                timed = [[as_schedule(b) for b in s[1:]] for s in schedules]
                warm = load.run_load(_lanes(_trim(timed, count), concurrency), (201,), pid)
                load.run_load(_lanes([[as_reading(r[0])] for r in readings], concurrency), (201,))
                timed_readings = [[as_reading(b) for b in r[1:]] for r in readings]
                readings_figure = load.run_load(
                    _lanes(_trim(timed_readings, count), concurrency), (201,), pid
                )
                get = request("GET", f"/schedules/{stored}")
                lanes = [[get] * (count // concurrency)] * concurrency
                baseline = load.run_load(lanes, (200,), pid)
        finally:
            server.stop()
    for what, figure in (("schedules", cold), ("schedules", warm), ("readings", readings_figure)):
        if figure.errors:
            raise RuntimeError(
                f"{figure.errors} {what} were refused during the load; first: {figure.first_error}"
            )
    return IntakeFigures(
        warm,
        cold,
        readings_figure,
        baseline,
        concurrency,
        len(households),
        len(meters),
        workers,
        GENERATOR_PROCESSES,
    )


def _until_accepted(load: LoadGenerator, message: Call, seconds: float = 60) -> None:
    """Post one schedule until the service takes it: the v2 chain view warms up in the
    background at start-up (contract clients, rules), and the cold pass starts after it."""
    deadline = time.monotonic() + seconds
    while True:
        answer = load.run_load([[message]], (200, 201))
        if not answer.errors:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the service never took a schedule: {answer.first_error}")
        time.sleep(0.5)


def _trim(per_owner: list[list[Call]], count: int) -> list[list[Call]]:
    """Exactly `count` requests, taken round-robin (each owner keeps its order)."""
    kept: list[list[Call]] = [[] for _ in per_owner]
    taken = 0
    depth = max(len(owned) for owned in per_owner)
    for n in range(depth):
        for index, owned in enumerate(per_owner):
            if taken < count and n < len(owned):
                kept[index].append(owned[n])
                taken += 1
    return kept

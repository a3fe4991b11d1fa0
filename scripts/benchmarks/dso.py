"""`quartier dso import` and `reconcile` on a month of 100 members (issue 15's target).

January 2027 (2,976 quarter-hours) of `SimulatedFleet(100)`, written in the operator's
layout (3 sheets x 200 columns: `Brut Rep` the fleet's import/export, `Partagé Rep` 0 and
`Net Rep` = gross: their content does not change the work of either command), and the same
volumes signed by each member's meter as daily batches posted on a fresh Anvil. Both
commands are timed as a user runs them: the console script's wall time and its process's CPU
time (user + system: the figure a shared machine's load changes least), Python's start and
imports included, on a workbook and a chain prepared beforehand (untimed).

`python scripts/benchmarks/dso.py [--members N]` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "dso"))

import generate  # type: ignore[import-not-found]  # noqa: E402  (tests/fixtures/dso)

from ledger.accounts import default_deployer  # noqa: E402
from ledger.anvil import AnvilNode  # noqa: E402
from ledger.chain import Sender, connect  # noqa: E402
from ledger.community import CommunityClient  # noqa: E402
from ledger.community_config.files import Directory, save_deployment_file  # noqa: E402
from ledger.community_config.model import parse_config  # noqa: E402
from ledger.deploy_v2 import deploy_community_v2  # noqa: E402
from ledger.dso.sample import write_workbook  # noqa: E402
from ledger.dso.workbook import GROSS, NET, SHARED, Column, Direction  # noqa: E402
from ledger.exchange import ExchangeClient  # noqa: E402
from ledger.rules import TimeGrid  # noqa: E402
from metering.period import MeterPeriod, sign_meter_period  # noqa: E402
from metering.reading import PublicKey  # noqa: E402

YEAR, MONTH = 2027, 1
GRID = TimeGrid(900, 96)
BATCHES_PER_TRANSACTION = 20


@dataclass(frozen=True)
class DsoFigures:
    members: int
    quarter_hours: int
    import_s: float
    import_cpu_s: float
    reconcile_s: float
    reconcile_cpu_s: float
    differences: int


def _prepare(directory: Path, members: int, rpc: str) -> tuple[Path, Path, Path, int]:
    text = generate.community_toml(members, "")
    community = directory / "community.toml"
    community.write_text(text, encoding="utf-8")
    config = parse_config(text)
    simulated = generate.simulate_month(members, YEAR, MONTH)
    columns = [
        Column(m.ean, direction, "")
        for m in config.members
        for direction in (Direction.OFFTAKE, Direction.INJECTION)
    ]
    gross = np.empty((len(simulated.starts), 2 * members), dtype=np.int64)
    gross[:, 0::2], gross[:, 1::2] = simulated.offtake_wh, simulated.injection_wh
    workbook = directory / f"{YEAR}-{MONTH:02d} ORES.xlsx"
    sheets = {GROSS: (columns, gross), SHARED: (columns, gross * 0), NET: (columns, gross)}
    write_workbook(workbook, simulated.starts, sheets, {m.ean: m.name for m in config.members})

    w3 = connect(rpc)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    deployment = deploy_community_v2(manager, grid=GRID)
    registry = CommunityClient(manager, deployment.address("QuartierCommunity"))
    exchange = ExchangeClient(manager, deployment.address("QuartierExchange"))
    keys = []
    for member in config.members:
        registry.admit_household(member.address)
        key = ec.generate_private_key(ec.SECP256R1())
        public = PublicKey.from_cryptography(key.public_key())
        keys.append((key, registry.admit_meter(member.address, public.x, public.y).meter_id))
    end = simulated.starts[-1] + 900
    w3.provider.make_request("evm_setNextBlockTimestamp", [end + 86_400])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    row_of = {start // 900: row for row, start in enumerate(simulated.starts)}
    periods = range(GRID.period_at(simulated.starts[0]), GRID.period_at(end - 1) + 1)
    signed = []
    for index, (key, meter_id) in enumerate(keys):
        registers = [1_000_000, 0]
        for period_id in periods:
            deltas = []
            for k in GRID.intervals(period_id):
                row = row_of.get(k)
                deltas.append(
                    (0, 0)
                    if row is None
                    else (
                        int(simulated.offtake_wh[row, index]),
                        int(simulated.injection_wh[row, index]),
                    )
                )
            period = MeterPeriod(meter_id, period_id, registers[0], registers[1], tuple(deltas))
            registers = [
                registers[0] + sum(d[0] for d in deltas),
                registers[1] + sum(d[1] for d in deltas),
            ]
            signed.append(sign_meter_period(key, period, w3.eth.chain_id, exchange.address))
    for at in range(0, len(signed), BATCHES_PER_TRANSACTION):
        exchange.post_meter_batches(signed[at : at + BATCHES_PER_TRANSACTION])
    deployment_file = directory / "community.31337.json"
    directory_of = Directory(
        config.name, {m.address.lower(): {"name": m.name, "ean": m.ean} for m in config.members}
    )
    save_deployment_file(deployment_file, deployment, directory_of)
    return workbook, community, deployment_file, len(simulated.starts)


def _timed(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall seconds, CPU seconds of the command's process, its result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def measure_dso(members: int = 100) -> DsoFigures:
    """Prepare the month (untimed), then time `dso import` and `dso reconcile` once each."""
    quartier = str(Path(sys.executable).parent / "quartier")
    with tempfile.TemporaryDirectory(prefix="quartier-dso-bench-") as tmp, AnvilNode() as node:
        workbook, community, deployment, quarter_hours = _prepare(Path(tmp), members, node.url)
        for _ in range(2):  # warm the page cache and the interpreter's bytecode, untimed
            subprocess.run([quartier, "dso", "--help"], capture_output=True, check=False)
        import_s, import_cpu_s, imported = _timed(
            [quartier, "dso", "import", str(workbook), "--community", str(community), "--json"]
        )
        if imported.returncode != 0:
            raise RuntimeError(f"dso import failed: {imported.stderr.strip()}")
        reconcile_s, reconcile_cpu_s, reconciled = _timed(
            [quartier, "dso", "reconcile", str(workbook), "--rpc", node.url,
             "--deployment", str(deployment), "--json"]
        )  # fmt: skip
        if reconciled.returncode not in (0, 1):
            raise RuntimeError(f"dso reconcile failed: {reconciled.stderr.strip()}")
        differences = len(json.loads(reconciled.stdout)["differences"])
    return DsoFigures(
        members, quarter_hours, import_s, import_cpu_s, reconcile_s, reconcile_cpu_s, differences
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100)
    args = parser.parse_args()
    began = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures = measure_dso(args.members)
    print(json.dumps({"started": began, **figures.__dict__}, indent=2))


if __name__ == "__main__":
    main()

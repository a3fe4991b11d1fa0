"""`quartier dso resettle` on a settled day of 100 members (issue 15's re-settlement).

The demo's hundred-household day (21 June 2026, 96 quarter-hours, protocol v2 on a fresh
Anvil) is settled first (untimed); the operator's June workbook (3 sheets x 200 columns x
2,880 quarter-hours) holds the meters' own volumes, except that every tenth member's
injection is 10 % higher from 10:00 to 14:00 UTC. `quartier dso resettle` is then timed as a
user runs it (wall and the process's CPU time, Python's start included): it imports the
month, reads the chain's history, replays the day twice and records version 2.

`python scripts/benchmarks/resettle.py [--households N]` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from api.demo.run import GRID, DemoConfig, run_day
from api.demo.simulation import simulate_day
from ledger.anvil import AnvilNode
from ledger.community_config.example import example_ean
from ledger.community_config.files import Directory, save_deployment_file
from ledger.dso.calendar import month_quarter_hours
from ledger.dso.sample import write_workbook
from ledger.dso.workbook import GROSS, NET, SHARED, Column, Direction

DAY = date(2026, 6, 21)


def _workbook(path: Path, run: object, households: int) -> None:
    simulation = run.simulation  # type: ignore[attr-defined]
    starts = month_quarter_hours(DAY.year, DAY.month)
    eans = [example_ean(index + 1) for index in range(households)]
    columns = [Column(e, d, "") for e in eans for d in (Direction.OFFTAKE, Direction.INJECTION)]
    gross = np.zeros((len(starts), 2 * households), dtype=np.int64)
    row_of = {start: row for row, start in enumerate(starts)}
    period = GRID.period_at(GRID.interval_start(simulation.first_interval_id))
    for k in GRID.intervals(period):
        start = GRID.interval_start(k)
        row = row_of[start]
        hour = datetime.fromtimestamp(start, UTC).hour
        for index in range(households):
            imported, exported = simulation.metered(index, k)
            if index % 10 == 0 and 10 <= hour < 14:
                exported += exported // 10
            gross[row, 2 * index], gross[row, 2 * index + 1] = imported, exported
    names = {e: f"member {n + 1}" for n, e in enumerate(eans)}
    sheets = {GROSS: (columns, gross), SHARED: (columns, gross * 0), NET: (columns, gross)}
    write_workbook(path, starts, sheets, names)


def measure(households: int) -> dict[str, object]:
    quartier = str(Path(sys.executable).parent / "quartier")
    simulation = simulate_day(households, DAY, 96, 7, 0)
    period_start = GRID.period_start(
        GRID.period_at(GRID.interval_start(simulation.first_interval_id))
    )
    node = AnvilNode(
        extra_args=("--timestamp", str(period_start - 7200), "--gas-limit", "1000000000")
    )
    with tempfile.TemporaryDirectory(prefix="quartier-resettle-") as tmp, node:
        folder = Path(tmp)
        run = run_day(
            DemoConfig(households=households, day=DAY, rpc_url=node.url, deployment_dir=folder)
        )
        workbook = folder / "2026-06 ORES.xlsx"
        _workbook(workbook, run, households)
        deployment = folder / "resettle.31337.json"
        directory = Directory(
            "bench",
            {
                h.account.address.lower(): {"name": h.name, "ean": example_ean(n + 1)}
                for n, h in enumerate(run.households)
            },
        )
        save_deployment_file(deployment, run.deployment, directory)
        command = [
            quartier, "dso", "resettle", str(workbook), "--rpc", node.url,
            "--deployment", str(deployment), "--json",
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"dso resettle failed: {done.stderr.strip()}")
        result = json.loads(done.stdout)
    recorded = [p for p in result["periods"] if p["recorded"]]
    return {
        "households": households,
        "quarter_hours_in_workbook": len(month_quarter_hours(DAY.year, DAY.month)),
        "settled_periods_covered": len(result["periods"]),
        "versions_recorded": len(recorded),
        "lines": sum(len(p["lines"]) for p in recorded),
        "record_version_gas": [p["gas_used"] for p in recorded],
        "resettle_s": round(wall, 2),
        "resettle_cpu_s": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2
        ),
        "in_process_s": result["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100)
    args = parser.parse_args()
    began = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(json.dumps({"started": began, **measure(args.households)}, indent=2))


if __name__ == "__main__":
    main()

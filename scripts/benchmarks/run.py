"""`scripts/bench [--quick] [--json] [--only SECTION] [--workers N]`: Quartier's headline
figures (protocol v2), each next to a baseline, in the same run on this machine.

Baselines are measured live where one can run here (the clearing reference, the readings
intake's plain GET, real time); where the baseline is v1's figure, v1 is gone from the
product and its last measured figures are recorded constants (`figures.V1_SOURCE`).
`--json` gives every figure a stable `id` with value, unit, baseline, baseline name, ratio
(value / baseline), target and whether it is met; the machine's load is recorded per
section, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from clearing import measure_clearing
from demo_day import DemoDay, run_demo
from dso import measure_dso
from figures import (
    V1_CLEARING_NOTE,
    V1_DELIVERED_SHARE,
    V1_GAS_PER_HOUSEHOLD_DAY,
    V1_GAS_PER_READING,
    V1_GAS_PER_TRADE,
    V1_ORDER_P99_MS,
    V1_ORDERS_PER_SECOND,
    V1_SOURCE,
    Figure,
    at_least,
    at_most,
)
from ingest import measure_intake
from rich.console import Console
from rich.table import Table

#: Quick mode: a short demo day (from 10:00, when the sun is up) and smaller loads.
QUICK_INTERVALS = 8
QUICK_START = "12:00"  # Brussels time: 10:00 UTC in June


def _gas_figures(day: DemoDay) -> list[Figure]:
    summary = day.summary
    size = f"{day.households} households x {day.intervals}"
    if day.intervals < 96:
        size += f" from {day.start} Brussels time (a short day counts as one)"
    per_day = summary["gas_per_household_day"]
    gas = summary["gas"]
    split = (
        f"schedules {gas['schedules']:,} in {gas['schedule_transactions']} tx, settlement "
        f"{gas['settlement']:,} in {gas['settlement_transactions']} tx, meter batches "
        f"{gas['meter_batches']:,} (inline in settlement)"
    )
    share = summary["delivered_share"]
    v1 = f"{V1_SOURCE}, default day"
    return [
        Figure(
            "gas.household_day",
            f"gas per household-day, all-in ({size}; the day's {summary['gas_total']:,}: "
            f"{split}); aim <= 60,000",
            per_day,
            "gas",
            V1_GAS_PER_HOUSEHOLD_DAY,
            v1,
            *at_most(per_day, 150_000),
        ),
        Figure(
            "gas.trade",
            f"gas per trade: the day's gas / trades ({summary['trades']} trades)",
            summary["gas_per_trade"],
            "gas",
            V1_GAS_PER_TRADE,
            f"{v1}: 34,500 commit + 43,000 settle",
        ),
        Figure(
            "gas.reading",
            f"gas per reading: meter batches / boundary values ({summary['readings']})",
            summary["gas_per_reading"],
            "gas",
            V1_GAS_PER_READING,
            v1,
        ),
        Figure(
            "delivered.share",
            f"delivered share: delivered / possible Wh ({summary['settled_wh']:,} of "
            f"{summary['possible_wh']:,} Wh)",
            share,
            "",
            V1_DELIVERED_SHARE,
            v1,
            *at_least(share, 0.95),
        ),
    ]


def _demo_figure(day: DemoDay, limit: float) -> Figure:
    real = day.intervals * 900
    profile = ", ".join(f"{k} {v:.1f}" for k, v in day.summary["timings"].items())
    return Figure(
        f"demo.day_{day.households}",
        f"`quartier demo --households {day.households} --intervals {day.intervals}"
        f"{'' if day.start is None else ' --start ' + day.start}`, wall s of the whole "
        f"command (the demo's profile: {profile})",
        day.wall_seconds,
        "s",
        real,
        "real time the traded window lasts",
        *(at_most(day.wall_seconds, limit) if day.intervals == 96 else (None, None)),
    )


def demo_figures(quick: bool) -> list[Figure]:
    if quick:
        short = run_demo(20, QUICK_INTERVALS, QUICK_START)
        return [*_gas_figures(short), _demo_figure(short, 30)]
    day_20 = run_demo(20, 96)
    figures = [*_gas_figures(day_20), _demo_figure(day_20, 30)]
    day_100 = run_demo(100, 96)
    return [*figures, _demo_figure(day_100, 120)]


def intake_figures(quick: bool, workers: int = 1) -> list[Figure]:
    """The intake over loopback, served by one process (as `quartier serve` runs), and with
    `workers` > 1 by that many uvicorn worker processes as well (ids `intake_workers_N.*`)."""
    figures = _intake_figures(quick, 1)
    if workers > 1:
        figures += _intake_figures(quick, workers)
    return figures


def _intake_figures(quick: bool, workers: int) -> list[Figure]:
    count = 500 if quick else 3_000
    got = measure_intake(count, workers=workers)
    lanes = f"{got.concurrency} aiohttp clients in {got.generators} load processes over loopback"
    if workers > 1:
        lanes += f", {workers} uvicorn worker processes"
    v1 = f"{V1_SOURCE}: POST /orders"
    s, cold, r, base = got.schedules, got.schedules_cold, got.readings, got.baseline
    get = "GET of one stored schedule (a DB read, nothing verified), same load"
    cpu = "server CPU per request (user + system), same server"
    figures = [
        Figure(
            "intake.schedules",
            f"signed schedules accepted ({s.requests:,} of 48 entries, {got.households} "
            f"households, {lanes}, steady state)",
            s.per_second,
            "/s",
            V1_ORDERS_PER_SECOND,
            v1,
            *at_least(s.per_second, 300),
        ),
        Figure("intake.schedules.p50", "schedule POST latency p50", s.p50_ms, "ms", None, "-"),
        Figure(
            "intake.schedules.p99",
            "schedule POST latency p99",
            s.p99_ms,
            "ms",
            V1_ORDER_P99_MS,
            v1,
            *at_most(s.p99_ms, 100),
        ),
        Figure(
            "intake.schedules.cpu_ms",
            "schedule POST: server CPU time per request (what load changes least)",
            s.server_cpu_ms or 0.0,
            "ms",
            base.server_cpu_ms,
            f"{cpu}, GET of one stored schedule",
        ),
        Figure(
            "intake.schedules.cold",
            f"first schedule of each household ({cold.requests}: membership and escrow read "
            f"from the chain), p99 {cold.p99_ms} ms",
            cold.per_second,
            "/s",
            V1_ORDERS_PER_SECOND,
            v1,
        ),
        Figure(
            "intake.readings",
            f"signed readings accepted ({r.requests:,}, {got.meters} meters, {lanes})",
            r.per_second,
            "/s",
            base.per_second,
            get,
            *at_least(r.per_second, 1_000),
        ),
        Figure("intake.readings.p50", "reading POST latency p50", r.p50_ms, "ms", base.p50_ms, get),
        Figure("intake.readings.p99", "reading POST latency p99", r.p99_ms, "ms", base.p99_ms, get),
        Figure(
            "intake.readings.cpu_ms",
            "reading POST: server CPU time per request",
            r.server_cpu_ms or 0.0,
            "ms",
            base.server_cpu_ms,
            f"{cpu}, GET of one stored schedule",
        ),
    ]
    if workers == 1:
        return figures
    return [
        dataclasses.replace(figure, id=figure.id.replace("intake.", f"intake_workers_{workers}."))
        for figure in figures
    ]


def clearing_figures(quick: bool) -> list[Figure]:
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    figures = []
    for got in measure_clearing(sizes):
        books = (
            "one book"
            if got.intervals == 1
            else f"{got.intervals} books of {got.entries // got.intervals:,}"
        )
        ratio = got.engine_ms / got.reference_ms
        figures.append(
            Figure(
                f"clearing.{got.entries // 1000}k",
                f"clear {got.entries:,} entries ({books}; {got.traded_wh:,} Wh traded), "
                "api.settlement rank + walk",
                round(got.engine_ms, 3),
                "ms",
                round(got.reference_ms, 3),
                "plain sorted two-pointer reference (tuple sorts), same books"
                f" ({V1_CLEARING_NOTE})",
                "ratio <= 2",
                ratio <= 2,
            )
        )
    return figures


def dso_figures(quick: bool) -> list[Figure]:
    """`quartier dso import` + `reconcile` of a month (issue 15: 100 members in <= 10 s)."""
    got = measure_dso(20 if quick else 100)
    month = f"{got.members} members x 2 x {got.quarter_hours:,} quarter-hours"
    total = got.import_s + got.reconcile_s
    target, met = at_most(total, 10)
    return [
        Figure(f"dso.import_{got.members}", f"quartier dso import, {month}", round(got.import_s, 2),
               "s", None, f"CPU {got.import_cpu_s:.2f} s"),
        Figure(f"dso.reconcile_{got.members}", f"quartier dso reconcile, {month}",
               round(got.reconcile_s, 2), "s", None, f"CPU {got.reconcile_cpu_s:.2f} s"),
        Figure(f"dso.month_{got.members}", f"import + reconcile, {month}", round(total, 2), "s",
               None, f"CPU {got.import_cpu_s + got.reconcile_cpu_s:.2f} s", target, met),
    ]  # fmt: skip


SECTIONS: list[tuple[str, str, Callable[[argparse.Namespace], list[Figure]]]] = [
    ("clearing", "clearing", lambda args: clearing_figures(args.quick)),
    ("intake", "intake", lambda args: intake_figures(args.quick, args.workers)),
    ("demo", "demo (gas, delivered share, wall time)", lambda args: demo_figures(args.quick)),
    ("dso", "grid operator's month (import + reconcile)", lambda args: dso_figures(args.quick)),
]


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 3 minutes")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--only",
        action="append",
        choices=[key for key, _name, _section in SECTIONS],
        help="measure only this section (repeatable)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also measure the intake served by this many uvicorn worker processes",
    )
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    command = "scripts/bench" + (" --quick" if args.quick else "")
    command += "".join(f" --only {key}" for key in args.only or ())
    command += f" --workers {args.workers}" if args.workers > 1 else ""
    console = Console(stderr=True)
    started = time.monotonic()
    figures: list[Figure] = []
    load: list[dict[str, str]] = []
    for key, name, section in SECTIONS:
        if args.only and key not in args.only:
            continue
        load.append({"before": name, "uptime": _uptime()})
        console.print(f"[bold]measuring {name}…[/bold] ({load[-1]['uptime']})")
        figures.extend(section(args))
    load.append({"before": "end", "uptime": _uptime()})
    report: dict[str, Any] = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load": load,
        "wall_seconds": round(time.monotonic() - started, 1),
        "ratio": "value / baseline",
        "figures": [figure.as_json() for figure in figures],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    info = report["machine"]
    table = Table(
        title=f"Quartier benchmarks — `{command}`, {report['date']}, {info['cores']} cores "
        f"({info['machine']}), {report['wall_seconds']} s"
    )
    for column in ("id", "figure", "value", "baseline", "value/baseline", "target"):
        table.add_column(column, justify="left" if column in ("id", "figure") else "right")
    for figure in figures:
        baseline = "—" if figure.baseline is None else f"{figure.baseline:,} {figure.unit}"
        target = "—" if figure.target is None else f"{figure.target} {'✓' if figure.met else '✗'}"
        table.add_row(
            figure.id,
            figure.name,
            f"{figure.value:,} {figure.unit}",
            f"{baseline}\n[dim]{figure.baseline_name}[/dim]",
            "—" if figure.ratio is None else f"{figure.ratio:g}",
            target,
        )
    out = Console(width=160)
    out.print(table)
    for entry in load:
        out.print(f"[dim]load before {entry['before']}: {entry['uptime']}[/dim]")


if __name__ == "__main__":
    main()

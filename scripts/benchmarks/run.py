"""`scripts/bench [--quick] [--json]`: Quartier's headline figures, each measured side by side
with a baseline in the same run, on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from clearing import measure_clearing
from end_to_end import measure_end_to_end, real_time_ratio
from gas import measure_gas
from ingest import measure_ingest
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Row:
    """One figure: what, the measured value, its baseline and their ratio."""

    section: str
    figure: str
    value: float
    unit: str
    baseline: float | None
    baseline_name: str
    ratio: float | None


def _ratio(baseline: float, value: float) -> float:
    return round(baseline / value, 2) if value else 0.0


def gas_rows(quick: bool) -> list[Row]:
    rows = []
    for figure in measure_gas((1, 10, 100)):
        rows.append(
            Row(
                "gas",
                f"gas per verified {figure.what}, batch {figure.batch}",
                figure.quartier_gas_per_item,
                "gas",
                figure.naive_gas_per_item,
                "naive: a storage struct per item",
                _ratio(figure.naive_gas_per_item, figure.quartier_gas_per_item),
            )
        )
    return rows


def clearing_rows(quick: bool) -> list[Row]:
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    return [
        Row(
            "clearing",
            f"clear {figure.n_orders:,} orders ({figure.trades:,} trades)",
            round(figure.engine_ms, 2),
            "ms",
            round(figure.reference_ms, 2),
            "reference: literal O(n²) rescan",
            _ratio(figure.reference_ms, figure.engine_ms),
        )
        for figure in measure_clearing(sizes)
    ]


def ingest_rows(quick: bool) -> list[Row]:
    figures = measure_ingest(2_000 if quick else 10_000)
    readings, baseline = figures.readings, figures.baseline
    lanes = f"{figures.concurrency} concurrent clients"
    rows = [
        Row(
            "ingest",
            f"signed readings accepted per second ({readings.requests:,}, {lanes})",
            readings.per_second,
            "/s",
            baseline.per_second,
            "baseline: empty order-book GET, same load",
            round(readings.per_second / baseline.per_second, 2),
        ),
    ]
    for name in ("p50_ms", "p99_ms"):
        rows.append(
            Row(
                "ingest",
                f"reading POST latency {name[:3]}",
                getattr(readings, name),
                "ms",
                getattr(baseline, name),
                "baseline: empty order-book GET",
                _ratio(getattr(baseline, name), getattr(readings, name)),
            )
        )
    if readings.errors:
        raise RuntimeError(f"{readings.errors} readings were refused during the load")
    return rows


def end_to_end_rows(quick: bool) -> list[Row]:
    intervals = 8 if quick else 32
    rows = []
    for figure in measure_end_to_end((10, 50, 100), intervals):
        rows.append(
            Row(
                "end-to-end",
                f"seconds per interval, {figure.households} households "
                f"({intervals} intervals incl. set-up and audit; trading alone "
                f"{figure.trading_seconds_per_interval:.2f} s)",
                round(figure.seconds_per_interval, 3),
                "s",
                900,
                "real time: an interval lasts 900 s",
                real_time_ratio(figure.seconds_per_interval),
            )
        )
    return rows


SECTIONS: list[tuple[str, Callable[[bool], list[Row]]]] = [
    ("clearing", clearing_rows),
    ("gas", gas_rows),
    ("ingest", ingest_rows),
    ("end-to-end", end_to_end_rows),
]


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 2 minutes")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    command = "scripts/bench" + (" --quick" if args.quick else "")
    console = Console(stderr=True)
    started = time.monotonic()
    rows: list[Row] = []
    for name, section in SECTIONS:
        console.print(f"[bold]measuring {name}…[/bold]")
        rows.extend(section(args.quick))
    report = {
        "command": command,
        "machine": machine(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "figures": [asdict(row) for row in rows],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    info = report["machine"]
    table = Table(
        title=f"Quartier benchmarks — `{command}` on {info['cores']} cores ({info['machine']}), "
        f"{report['wall_seconds']} s"
    )
    for column in ("figure", "value", "baseline", "ratio (baseline/value)"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows:
        baseline = "—" if row.baseline is None else f"{row.baseline:,} {row.unit}"
        table.add_row(
            row.figure,
            f"{row.value:,} {row.unit}",
            f"{baseline}\n[dim]{row.baseline_name}[/dim]",
            "—" if row.ratio is None else f"{row.ratio}x",
        )
    Console(width=140).print(table)


if __name__ == "__main__":
    sys.exit(main())

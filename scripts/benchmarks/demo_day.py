"""The v2 demo day, run as a user runs it: `quartier demo --json`, timed from outside.

The wall time is the whole command (interpreter start, a fresh Anvil, deployment,
onboarding, the trading day through the API, the relayer's postings and settlement, the v2
audit); the demo's own JSON gives the gas, the delivered share and its timing profile.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
QUARTIER = REPO / ".venv" / "bin" / "quartier"


@dataclass(frozen=True)
class DemoDay:
    households: int
    intervals: int
    start: str | None
    wall_seconds: float
    summary: dict[str, Any]


def run_demo(households: int, intervals: int, start: str | None = None) -> DemoDay:
    """Run `quartier demo --json` once; RuntimeError if it fails (the audit included).
    `start` is Brussels time (None: the day's settlement period, from 00:00 UTC)."""
    command = [
        str(QUARTIER),
        "demo",
        "--households",
        str(households),
        "--intervals",
        str(intervals),
        *(() if start is None else ("--start", start)),
        "--json",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(
            f"{' '.join(command[1:])} failed ({done.returncode}): {done.stderr.strip()[-800:]}"
        )
    summary: dict[str, Any] = json.loads(done.stdout)
    if not summary.get("audit_ok"):
        raise RuntimeError(f"the demo's audit failed: {summary.get('audit_problems')}")
    return DemoDay(households, intervals, start, round(wall, 1), summary)

"""The main job as a newcomer runs it: `quartier demo` on a fresh local chain."""

from __future__ import annotations

import json
import subprocess
import sys


def test_demo_admits_every_household_and_meter() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from api.cli import main; main()",
            "demo",
            "--households",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["households"] == 3
    assert summary["meters"] == 3
    # one block per deployed contract, then one per admission: 3 households + 3 meters
    assert summary["blocks"] == len(summary["contracts"]) + 3 + 3

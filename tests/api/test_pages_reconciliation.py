"""The manager's page reads the latest `quartier dso reconcile --json` of its directory
(issue 16): the latest month wins, a file that is not such an output is named, not shown."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from api.pages.reconciliation import CAUSES, latest
from ledger.dso.reconcile import ESTIMATED, MISSING


def _output(month: str, causes: list[str]) -> dict[str, Any]:
    return {
        "month": month,
        "tolerance_wh": 0,
        "quarter_hours": 2976,
        "agree": not causes,
        "differences": [
            {
                "ean": "541448800000000017",
                "member": "Amélie Dubois",
                "interval_start": 1_796_000_400 + 900 * n,
                "interval_start_utc": "…",
                "local_time": "…",
                "direction": "offtake",
                "dso_wh": 120,
                "metered_wh": 0,
                "difference_wh": 120,
                "cause": cause,
            }
            for n, cause in enumerate(causes)
        ],
        "members": [
            {
                "member": "Amélie Dubois",
                "ean": "541448800000000017",
                "address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "offtake": {"dso_wh": 120, "metered_wh": 0},
                "injection": {"dso_wh": 0, "metered_wh": 0},
                "differences": len(causes),
            }
        ],
        "unknown_eans": [],
        "members_without_columns": [],
    }


def test_no_directory_and_an_empty_one_say_so(tmp_path: Path) -> None:
    assert latest(None).missing == "no-directory"
    assert latest(tmp_path).missing == "none"
    assert latest(tmp_path / "absent").missing == "none"


def test_the_latest_month_is_shown_with_its_causes_counted(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(_output("2026-11", [])), encoding="utf-8")
    (tmp_path / "a.json").write_text(
        json.dumps(_output("2026-12", [MISSING, ESTIMATED, MISSING])), encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("not json", encoding="utf-8")
    found = latest(tmp_path)
    assert found.result is not None
    assert found.result.month == "2026-12"
    assert found.causes() == {MISSING: 2, ESTIMATED: 1}
    assert list(found.causes()) == [c for c in CAUSES if c in (MISSING, ESTIMATED)]


def test_a_newer_file_of_the_same_month_wins(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_output("2026-12", [MISSING])), encoding="utf-8")
    new.write_text(json.dumps(_output("2026-12", [])), encoding="utf-8")
    os.utime(old, ns=(1, 1))
    found = latest(tmp_path)
    assert found.result is not None
    assert found.result.agree


def test_a_file_that_is_not_a_reconcile_output_is_named(tmp_path: Path) -> None:
    (tmp_path / "import.json").write_text(json.dumps({"month": "2026-12"}), encoding="utf-8")
    found = latest(tmp_path)
    assert (found.result, found.missing, found.file) == (None, "unreadable", "import.json")

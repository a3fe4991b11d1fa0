"""The manager's page: the latest reconciliation of the grid operator's month with the signed
meters, as `quartier dso reconcile --json` wrote it (ledger/dso/report.reconcile_json).

The manager keeps those outputs in one directory (QUARTIER_DSO_RECONCILE_DIR), a file a
month (`quartier dso reconcile 2026-12.xlsx ... --json > reconcile/2026-12.json`); the page
shows the latest month's, its members' totals and its differences with their likely cause
in the page's language. A file that is not such an output is named, never half-shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ledger.dso.reconcile import ESTIMATED, MISSING, REPLACED, UNEXPLAINED

#: The causes `ledger.dso.reconcile` names, as the page's catalogue keys them.
CAUSES = (MISSING, REPLACED, ESTIMATED, UNEXPLAINED)
#: Differences listed on the page (the CLI's --csv has them all).
SHOWN_DIFFERENCES = 50


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Flow(_Output):
    dso_wh: int
    metered_wh: int


class MemberTotals(_Output):
    member: str
    ean: str
    offtake: Flow
    injection: Flow
    differences: int


class Difference(_Output):
    member: str
    ean: str
    interval_start: int
    direction: Literal["offtake", "injection"]
    dso_wh: int
    metered_wh: int
    difference_wh: int
    cause: str


class Reconciliation(_Output):
    """One month's `quartier dso reconcile --json`."""

    month: str
    tolerance_wh: int
    quarter_hours: int
    agree: bool
    differences: list[Difference]
    members: list[MemberTotals]
    unknown_eans: list[str]
    members_without_columns: list[str]


@dataclass(frozen=True)
class Latest:
    """What the page shows: the latest month's result, or why there is none."""

    result: Reconciliation | None = None
    #: None (a result), "no-directory" (not configured), "none" (no output yet), or
    #: "unreadable" (the latest file is not a reconcile output; `file` names it).
    missing: str | None = None
    file: str = ""

    def causes(self) -> dict[str, int]:
        """How many differences each cause explains, in `CAUSES` order (zeros left out)."""
        if self.result is None:
            return {}
        counts = {cause: 0 for cause in CAUSES}
        for difference in self.result.differences:
            counts[difference.cause] = counts.get(difference.cause, 0) + 1
        return {cause: count for cause, count in counts.items() if count}


def _read(path: Path) -> Reconciliation | None:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        return Reconciliation.model_validate(raw)
    except (OSError, UnicodeDecodeError, ValueError, ValidationError):
        return None


def latest(directory: Path | None) -> Latest:
    """The latest month's reconciliation in `directory` (by its month, then the newest file)."""
    if directory is None:
        return Latest(missing="no-directory")
    try:
        files = [p for p in directory.iterdir() if p.suffix == ".json" and p.is_file()]
    except OSError:
        return Latest(missing="none")
    read = [(path, _read(path)) for path in files]
    unreadable = [path for path, result in read if result is None]
    found = [(result.month, path.stat().st_mtime_ns, result) for path, result in read if result]
    if not found:
        if unreadable:
            return Latest(missing="unreadable", file=max(unreadable).name)
        return Latest(missing="none")
    return Latest(result=max(found, key=lambda entry: entry[:2])[2])

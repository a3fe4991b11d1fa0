"""The outputs of `quartier dso`: JSON objects, CSV files and a self-contained HTML page."""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

from ledger.dso.calendar import show_local, show_utc
from ledger.dso.check_keys import KeyCheck
from ledger.dso.reconcile import Reconciliation
from ledger.dso.workbook import Direction, MonthData


def import_json(month: MonthData, members: dict[str, str]) -> dict[str, Any]:
    """What `dso import --json` prints; `members` maps EAN -> member name."""
    eans = month.eans()
    return {
        "month": month.month_text,
        "source": month.source,
        "eans": len(eans),
        "quarter_hours": len(month.starts),
        "first_interval_start": month.starts[0],
        "unknown_eans": [ean for ean in eans if ean not in members],
        "members_without_columns": [ean for ean in members if ean not in eans],
        "sheets": {
            name: {
                "columns": len(sheet.columns),
                "total_wh": {
                    d.value: int(
                        sum(
                            int(sheet.wh[:, i].sum())
                            for i, c in enumerate(sheet.columns)
                            if c.direction is d
                        )
                    )
                    for d in Direction
                },
            }
            for name, sheet in month.sheets.items()
        },
    }


def reconcile_json(result: Reconciliation) -> dict[str, Any]:
    return {
        "month": result.month,
        "tolerance_wh": result.tolerance_wh,
        "quarter_hours": result.quarter_hours,
        "agree": result.agree,
        "differences": [
            {
                "ean": d.ean,
                "member": d.member,
                "interval_start": d.interval_start,
                "interval_start_utc": show_utc(d.interval_start),
                "local_time": show_local(d.interval_start),
                "direction": d.direction.value,
                "dso_wh": d.dso_wh,
                "metered_wh": d.metered_wh,
                "difference_wh": d.difference_wh,
                "cause": d.cause,
            }
            for d in result.differences
        ],
        "members": [
            {
                "member": t.member.name,
                "ean": t.member.ean,
                "address": t.member.address,
                **{
                    d.value: {"dso_wh": t.dso_wh[d], "metered_wh": t.metered_wh[d]}
                    for d in Direction
                },
                "differences": t.differences,
            }
            for t in result.totals
        ],
        "unknown_eans": list(result.unknown_eans),
        "members_without_columns": list(result.members_without_columns),
    }


def check_keys_json(month: str, check: KeyCheck) -> dict[str, Any]:
    return {
        "month": month,
        "quarter_hours": check.quarter_hours,
        "differing_quarter_hours": check.differing_quarter_hours,
        "agree": not check.differences,
        "differences": [
            {
                "interval_start": d.interval_start,
                "local_time": show_local(d.interval_start),
                "ean": d.ean,
                "member": d.member,
                "direction": d.direction.value,
                "dso_wh": d.dso_wh,
                "computed_wh": d.computed_wh,
            }
            for d in check.differences
        ],
        "unknown_eans": list(check.unknown_eans),
    }


_DIFFERENCE_HEADER = [
    "ean", "member", "interval_start", "local_time", "direction",
    "dso_wh", "metered_wh", "difference_wh", "cause",
]  # fmt: skip
_MEMBER_HEADER = [
    "member", "ean", "address", "dso_offtake_wh", "metered_offtake_wh",
    "dso_injection_wh", "metered_injection_wh", "differences",
]  # fmt: skip


def _difference_rows(result: Reconciliation) -> list[list[object]]:
    return [
        [d.ean, d.member, d.interval_start, show_local(d.interval_start), d.direction.value,
         d.dso_wh, d.metered_wh, d.difference_wh, d.cause]
        for d in result.differences
    ]  # fmt: skip


def _member_rows(result: Reconciliation) -> list[list[object]]:
    off, inj = Direction.OFFTAKE, Direction.INJECTION
    return [
        [t.member.name, t.member.ean, t.member.address, t.dso_wh[off], t.metered_wh[off],
         t.dso_wh[inj], t.metered_wh[inj], t.differences]
        for t in result.totals
    ]  # fmt: skip


def write_reconcile_csv(result: Reconciliation, directory: Path) -> list[Path]:
    """differences.csv and members.csv in `directory` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, header, rows in (
        ("differences.csv", _DIFFERENCE_HEADER, _difference_rows(result)),
        ("members.csv", _MEMBER_HEADER, _member_rows(result)),
    ):
        path = directory / name
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)
    return written


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_reconcile_html(result: Reconciliation, path: Path) -> Path:
    """One page: the verdict, the members' totals, every difference."""
    verdict = (
        "the operator's volumes and the signed meters agree"
        if result.agree
        else f"{len(result.differences)} differences above {result.tolerance_wh} Wh"
    )
    unknown = ", ".join(result.unknown_eans) or "none"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Quartier: operator's volumes against signed meters, {html.escape(result.month)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>
<h1>{html.escape(result.month)}: {html.escape(verdict)}</h1>
<p>{result.quarter_hours} quarter-hours; EANs of no member: {html.escape(unknown)}</p>
<h2>Members</h2>{_table(_MEMBER_HEADER, _member_rows(result))}
<h2>Differences</h2>{_table(_DIFFERENCE_HEADER, _difference_rows(result))}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path

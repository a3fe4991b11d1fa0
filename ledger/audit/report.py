"""Writers of an AuditReport: CSV files and one self-contained HTML page.

The plots are `ledger.charts`' static SVG with the look every report shares (the demo, the
statements): traded vs delivered energy and the price per interval of every settled period,
escrow per household.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from ledger.audit.model import AuditReport


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_csv(report: AuditReport, directory: Path) -> list[Path]:
    """periods.csv, intervals.csv, households.csv (one row per HouseholdSettled) and
    problems.csv in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    periods = _write(
        directory / "periods.csv",
        [
            "period_id",
            "mechanism",
            "households",
            "postings",
            "settled",
            "traded_wh",
            "delivered_wh",
            "rounding_units",
            "problems",
        ],
        [
            [
                p.period_id,
                p.mechanism,
                p.households,
                p.postings,
                int(p.settled),
                p.traded_wh,
                p.delivered_wh,
                p.rounding_units,
                sum(1 for q in report.problems if q.period_id == p.period_id),
            ]
            for p in report.periods
        ],
    )
    intervals = _write(
        directory / "intervals.csv",
        ["period_id", "interval_id", "price_per_kwh", "traded_wh", "delivered_wh"],
        [
            [p.period_id, i.interval_id, i.price_per_kwh, i.traded_wh, i.delivered_wh]
            for p in report.periods
            for i in p.intervals
        ],
    )
    households = _write(
        directory / "households.csv",
        [
            "period_id",
            "household",
            "delivered_wh",
            "received_wh",
            "change_units",
            "released_units",
        ],
        [
            [
                h.period_id,
                h.household,
                h.delivered_wh,
                h.received_wh,
                h.change_units,
                h.released_units,
            ]
            for h in report.settlements
        ],
    )
    problems = _write(
        directory / "problems.csv",
        ["kind", "period_id", "interval_id", "block_number", "detail"],
        [
            [
                str(q.kind),
                "" if q.period_id is None else q.period_id,
                "" if q.interval_id is None else q.interval_id,
                "" if q.block_number is None else q.block_number,
                q.detail,
            ]
            for q in report.problems
        ],
    )
    return [periods, intervals, households, problems]


def _cell(value: object) -> str:
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def render_html(report: AuditReport) -> str:
    """The report as one HTML page (inline CSS and SVG, nothing fetched)."""
    # Altair and vl-convert take a second to import: only when a page is written, so that
    # `quartier audit --json` does not pay for them.
    from ledger.charts import PALETTE, Series, bar_chart, line_chart, report_css

    lines = [line for period in report.periods for line in period.intervals]
    labels = [str(line.interval_id) for line in lines]
    energy = bar_chart(
        "Traded vs delivered energy per interval",
        "Wh",
        labels,
        [
            Series("traded Wh", PALETTE["bought"], [line.traded_wh for line in lines]),
            Series("delivered Wh", PALETTE["neighbours"], [line.delivered_wh for line in lines]),
        ],
    )
    prices = line_chart(
        "Price per interval (pay-as-bid: 0)",
        "units/kWh",
        labels,
        [Series("price", PALETTE["price"], [line.price_per_kwh for line in lines])],
    )
    holders = sorted(report.escrow_units)
    escrow = bar_chart(
        "Escrow per household (free + locked)",
        "units",
        [h[:8] for h in holders],
        [Series("escrow units", PALETTE["other"], [sum(report.escrow_units[h]) for h in holders])],
    )
    verdict = "OK: everything checks" if report.ok else f"{len(report.problems)} problem(s) found"
    problem_rows = "".join(
        "<tr>"
        + "".join(_cell(v) for v in (q.kind, q.period_id, q.interval_id, q.block_number, q.detail))
        + "</tr>"
        for q in report.problems
    )
    problems = (
        "<table><tr><th>kind</th><th>period</th><th>interval</th><th>block</th>"
        f"<th>detail</th></tr>{problem_rows}</table>"
        if problem_rows
        else "<p>None.</p>"
    )
    period_rows = "".join(
        "<tr>"
        + "".join(
            _cell(v)
            for v in (
                p.period_id,
                p.mechanism,
                p.households,
                p.postings,
                "yes" if p.settled else "no",
                p.traded_wh,
                p.delivered_wh,
                p.rounding_units,
            )
        )
        + "</tr>"
        for p in report.periods
    )
    settled_rows = "".join(
        "<tr>"
        + "".join(
            _cell(v)
            for v in (
                h.period_id,
                h.household,
                h.delivered_wh,
                h.received_wh,
                h.change_units,
                h.released_units,
            )
        )
        + "</tr>"
        for h in report.settlements
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Quartier audit (protocol v2)</title>
<style>{report_css()}</style>
</head><body>
<h1>Quartier audit (protocol v2)</h1>
<p class="{"ok" if report.ok else "bad"}"><strong>{html.escape(verdict)}</strong></p>
<p>Blocks {report.from_block}..{report.to_block}: {len(report.periods)} periods,
{report.schedule_signatures} schedule and {report.batch_signatures} meter signatures checked,
{report.seconds:.2f} s.</p>
<h2>Problems</h2>
{problems}
<h2>Periods</h2>
<table><tr><th>period</th><th>mechanism</th><th>households</th><th>postings</th>
<th>settled</th><th>traded Wh</th><th>delivered Wh</th><th>rounding units</th></tr>
{period_rows}</table>
<h2>Plots</h2>
{energy}
{prices}
{escrow}
<h2>Settlements</h2>
<table><tr><th>period</th><th>household</th><th>delivered Wh</th><th>received Wh</th>
<th>change units</th><th>released units</th></tr>{settled_rows}</table>
</body></html>
"""


def write_html(report: AuditReport, path: Path) -> Path:
    """Write the HTML report to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report))
    return path

"""Writers of an AuditReport: CSV files and a self-contained HTML page with inline SVG plots.

The plots are inline SVG from `ledger.charts` (no plotting library, no external asset): bars
for traded vs delivered energy per interval, a line for the clearing price, bars for balances.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from ledger.audit.model import AuditReport
from ledger.charts import Series, bar_chart, line_chart


def write_csv(report: AuditReport, directory: Path) -> list[Path]:
    """trades.csv (one row per committed trade) and settlements.csv (one per interval)."""
    directory.mkdir(parents=True, exist_ok=True)
    trades = directory / "trades.csv"
    with trades.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "interval_id",
                "seller",
                "buyer",
                "energy_wh",
                "price_per_kwh",
                "delivered_wh",
                "payment_units",
            ]
        )
        for line in report.trades:
            writer.writerow(
                [
                    line.interval_id,
                    line.seller,
                    line.buyer,
                    line.energy_wh,
                    line.price_per_kwh,
                    _blank(line.delivered_wh),
                    _blank(line.payment_units),
                ]
            )
    settlements = directory / "settlements.csv"
    with settlements.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "interval_id",
                "offered_wh",
                "traded_wh",
                "delivered_wh",
                "paid_units",
                "clearing_price_per_kwh",
                "problems",
            ]
        )
        for summary in report.intervals:
            count = sum(1 for p in report.problems if p.interval_id == summary.interval_id)
            writer.writerow(
                [
                    summary.interval_id,
                    summary.offered_wh,
                    summary.traded_wh,
                    _blank(summary.delivered_wh),
                    _blank(summary.paid_units),
                    _blank(summary.clearing_price_per_kwh),
                    count,
                ]
            )
    return [trades, settlements]


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def render_html(report: AuditReport) -> str:
    """The report as one HTML page (inline CSS and SVG, nothing fetched)."""
    labels = [str(s.interval_id) for s in report.intervals]
    energy = bar_chart(
        "Traded vs delivered energy per interval",
        "Wh",
        labels,
        [
            Series("traded Wh", "#2e86de", [s.traded_wh for s in report.intervals]),
            Series("delivered Wh", "#27ae60", [s.delivered_wh or 0 for s in report.intervals]),
        ],
    )
    prices = line_chart(
        "Clearing price per interval",
        "units/kWh",
        labels,
        [Series("clearing price", "#c0392b", [s.clearing_price_per_kwh for s in report.intervals])],
    )
    holders = sorted(report.balances_units)
    balances = bar_chart(
        "Escrow per household",
        "units",
        [h[:8] for h in holders],
        [Series("escrow units", "#8e44ad", [report.balances_units[h] for h in holders])],
    )
    verdict = "OK: everything checks" if report.ok else f"{len(report.problems)} problem(s) found"
    rows = "".join(
        f"<tr><td>{'' if p.interval_id is None else p.interval_id}</td>"
        f"<td>{html.escape(p.kind)}</td>"
        f"<td>{html.escape(p.detail)}</td></tr>"
        for p in report.problems
    )
    problems = (
        f"<table><tr><th>interval</th><th>kind</th><th>detail</th></tr>{rows}</table>"
        if rows
        else "<p>None.</p>"
    )
    trade_rows = "".join(
        f"<tr><td>{t.interval_id}</td><td>{html.escape(t.seller)}</td><td>{html.escape(t.buyer)}</td>"
        f"<td>{t.energy_wh}</td><td>{t.price_per_kwh}</td><td>{_blank(t.delivered_wh)}</td>"
        f"<td>{_blank(t.payment_units)}</td></tr>"
        for t in report.trades
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Quartier audit</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}
.bad{{color:#c0392b}}.ok{{color:#27ae60}}</style>
</head><body>
<h1>Quartier audit</h1>
<p class="{"ok" if report.ok else "bad"}"><strong>{html.escape(verdict)}</strong></p>
<p>{len(report.intervals)} intervals, {len(report.trades)} trades,
{report.signatures_checked} signatures checked, {report.seconds:.2f} s.</p>
<h2>Problems</h2>
{problems}
<h2>Plots</h2>
{energy}
{prices}
{balances}
<h2>Trades</h2>
<table><tr><th>interval</th><th>seller</th><th>buyer</th><th>energy_wh</th><th>price_per_kwh</th>
<th>delivered_wh</th><th>payment_units</th></tr>{trade_rows}</table>
</body></html>
"""


def write_html(report: AuditReport, path: Path) -> Path:
    """Write the HTML report to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report))
    return path

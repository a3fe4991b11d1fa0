"""Writers of an AuditReport: CSV files and a self-contained HTML page with inline SVG plots.

The plots are drawn as SVG by hand (no plotting library, no external asset): bars for traded
vs delivered energy per interval, a line for the clearing price, bars for balances.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from pathlib import Path

from ledger.audit.model import AuditReport

_WIDTH, _HEIGHT, _PAD = 720, 240, 40


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


def _scale(value: int, top: int, span: int) -> float:
    # Pixel positions only: the figures themselves stay integers in the tables.
    return span * value / top if top else 0.0


def _bars_svg(labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]]) -> str:
    top = max((v for _, _, values in series for v in values), default=0) or 1
    plot_h = _HEIGHT - 2 * _PAD
    slot = (_WIDTH - 2 * _PAD) / max(len(labels), 1)
    bar = slot / (len(series) + 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" role="img">',
        f'<text x="4" y="14" font-size="11">max {top}</text>',
    ]
    for i, label in enumerate(labels):
        x0 = _PAD + i * slot
        for s, (name, colour, values) in enumerate(series):
            h = _scale(values[i], top, plot_h)
            parts.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{_HEIGHT - _PAD - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{html.escape(label)} {name}: '
                f"{values[i]}</title></rect>"
            )
        parts.append(
            f'<text x="{x0:.1f}" y="{_HEIGHT - _PAD + 14}" font-size="9">'
            f"{html.escape(label)}</text>"
        )
    for s, (name, colour, _) in enumerate(series):
        parts.append(
            f'<rect x="{_WIDTH - 160}" y="{6 + 14 * s}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{_WIDTH - 145}" y="{15 + 14 * s}" font-size="11">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _line_svg(points: Sequence[tuple[str, int]]) -> str:
    top = max((v for _, v in points), default=0) or 1
    plot_h = _HEIGHT - 2 * _PAD
    step = (_WIDTH - 2 * _PAD) / max(len(points) - 1, 1)
    coords = [
        (_PAD + i * step, _HEIGHT - _PAD - _scale(v, top, plot_h))
        for i, (_, v) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#c0392b"><title>{html.escape(label)}: '
        f"{value}</title></circle>"
        for (x, y), (label, value) in zip(coords, points, strict=True)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" role="img">'
        f'<text x="4" y="14" font-size="11">max {top}</text>'
        f'<polyline points="{path}" fill="none" stroke="#c0392b"/>{dots}</svg>'
    )


def render_html(report: AuditReport) -> str:
    """The report as one HTML page (inline CSS and SVG, nothing fetched)."""
    labels = [str(s.interval_id) for s in report.intervals]
    energy = _bars_svg(
        labels,
        [
            ("traded Wh", "#2e86de", [s.traded_wh for s in report.intervals]),
            ("delivered Wh", "#27ae60", [s.delivered_wh or 0 for s in report.intervals]),
        ],
    )
    prices = _line_svg(
        [
            (str(s.interval_id), s.clearing_price_per_kwh)
            for s in report.intervals
            if s.clearing_price_per_kwh is not None
        ]
    )
    holders = sorted(report.balances_units)
    balances = _bars_svg(
        [h[:8] for h in holders],
        [("escrow units", "#8e44ad", [report.balances_units[h] for h in holders])],
    )
    verdict = "OK: everything checks" if report.ok else f"{len(report.problems)} problem(s) found"
    rows = "".join(
        f"<tr><td>{'' if p.interval_id is None else p.interval_id}</td>"
        f"<td>{html.escape(p.kind)}</td>"
        f"<td>{html.escape(p.detail)}</td></tr>"
        for p in report.problems
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
<table><tr><th>interval</th><th>kind</th><th>detail</th></tr>{rows}</table>
<h2>Traded vs delivered energy per interval</h2>{energy}
<h2>Clearing price over time (token units per kWh)</h2>{prices}
<h2>Per-household escrow balances (token units)</h2>{balances}
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

"""`--report FILE.html`: one self-contained page (inline SVG, no scripts, no downloads)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from api.demo.errors import DemoError
from api.demo.summary import Summary
from ledger.charts import Series, bar_chart, line_chart
from metering.reading import INTERVAL_SECONDS

#: Token base units per euro (the demo token has 6 decimals).
UNITS_PER_EURO = 1_000_000


def euros(units: int) -> str:
    """Base units as euros to the cent, halves away from zero, for people (the JSON keeps
    integer units)."""
    sign = "-" if units < 0 else ""
    whole, cents = divmod((abs(units) * 100 + UNITS_PER_EURO // 2) // UNITS_PER_EURO, 100)
    return f"{sign}€{whole}.{cents:02d}"


def price(units_per_kwh: int) -> str:
    """A price per kWh in euros to a tenth of a cent (0.125 €/kWh), for people."""
    sign = "-" if units_per_kwh < 0 else ""
    whole, mills = divmod((abs(units_per_kwh) * 1000 + UNITS_PER_EURO // 2) // UNITS_PER_EURO, 1000)
    return f"{sign}€{whole}.{mills:03d}/kWh"


def kwh(energy_wh: int) -> str:
    """Wh as kWh with one decimal, halves away from zero, for people."""
    sign = "-" if energy_wh < 0 else ""
    whole, tenths = divmod((abs(energy_wh) + 50) // 100, 10)
    return f"{sign}{whole}.{tenths}"


def _time_label(interval_id: int) -> str:
    return datetime.fromtimestamp(interval_id * INTERVAL_SECONDS, tz=UTC).strftime("%H:%M")


def render(summary: Summary, title: str) -> str:
    """The report as an HTML string."""
    rows = summary.series
    labels = [_time_label(row.interval_id) for row in rows]
    flows = line_chart(
        "Neighbourhood per quarter-hour: PV surplus fed in vs energy taken (meters, Wh)",
        "Wh",
        labels,
        [
            Series("PV surplus fed in", "#e8a317", [r.exported_wh for r in rows]),
            Series("taken by households", "#3465a4", [r.imported_wh for r in rows]),
        ],
    )
    traded = bar_chart(
        "Energy traded locally per quarter-hour (Wh)",
        "Wh",
        labels,
        [
            Series("traded (cleared)", "#8ae234", [r.traded_wh for r in rows]),
            Series("delivered (netted)", "#4e9a06", [r.settled_wh for r in rows]),
        ],
    )

    def per_kwh(units: int | None) -> float | None:
        return None if units is None else units / UNITS_PER_EURO

    price = line_chart(
        "Clearing price between neighbours, and the grid's prices (€/kWh)",
        "€/kWh",
        labels,
        [
            Series("clearing price", "#cc0000", [per_kwh(r.clearing_price_per_kwh) for r in rows]),
            Series("grid retail", "#888888", [per_kwh(summary.retail_per_kwh)] * len(rows)),
            Series("grid feed-in", "#bbbbbb", [per_kwh(summary.feed_in_per_kwh)] * len(rows)),
        ],
    )
    savings = bar_chart(
        "Savings per household thanks to the community (€)",
        "€",
        [bill.name.removeprefix("household-") for bill in summary.bills],
        [
            Series(
                "saved", "#75507b", [bill.savings_units / UNITS_PER_EURO for bill in summary.bills]
            )
        ],
    )
    bill_rows = "\n".join(
        f"<tr><td>{escape(b.name)}</td><td>{escape(b.supply)}</td><td>{b.pv_kwp}</td>"
        f"<td>{kwh(b.imported_wh)}</td><td>{kwh(b.exported_wh)}</td><td>{kwh(b.bought_wh)}</td>"
        f"<td>{kwh(b.sold_wh)}</td><td>{euros(b.bill_without_units)}</td>"
        f"<td>{euros(b.bill_with_units)}</td><td>{euros(b.savings_units)}</td>"
        f"<td>{euros(b.network_and_taxes_units)}</td></tr>"
        for b in summary.bills
    )
    savers = sum(1 for b in summary.bills if b.savings_units > 0)
    audit = "passed" if summary.audit_ok else "FAILED: " + "; ".join(summary.audit_problems)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:auto;color:#222}}
svg{{width:100%;height:auto;margin:1em 0}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>
<h1>{escape(title)}</h1>
<p>{summary.households} households ({summary.pv_share:.0%} with PV), {summary.intervals}
quarter-hours: {summary.trades} trades, {kwh(summary.traded_wh)} kWh traded and
{kwh(summary.settled_wh)} kWh delivered between neighbours
({summary.delivered_share:.1%} of what they could exchange).
Self-consumption {summary.self_consumption:.1%} (PV surplus consumed by neighbours),
self-sufficiency {summary.self_sufficiency:.1%} (imports met locally). Bills follow the
Walloon rule (a kWh shared displaces the supplier's energy only; network, taxes and VAT stay):
the community saved {euros(summary.savings_units)} in total,
{savers} of {summary.households} members save.
Gas: {summary.gas_per_household_day} per household-day,
{summary.gas_per_trade} per trade,
{summary.gas_per_reading} per reading. Audit ({escape(summary.audit_source)}): {escape(audit)}.
</p>
{flows}
{traded}
{price}
{savings}
<h2>Bills</h2>
<table><tr><th>household</th><th>contract</th><th>kWp</th><th>taken kWh</th>
<th>fed in kWh</th><th>bought kWh</th><th>sold kWh</th><th>bill alone</th>
<th>bill in community</th><th>saved</th><th>network and taxes</th></tr>
{bill_rows}
</table></body></html>
"""


def write_report(summary: Summary, path: Path, title: str) -> None:
    """Write the report to `path` (DemoError when it cannot be written)."""
    try:
        path.write_text(render(summary, title), encoding="utf-8")
    except OSError as error:
        raise DemoError(f"cannot write the report {path}: {error.strerror}") from None

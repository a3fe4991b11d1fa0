"""The demo report's page: the day for people, one self-contained page (inline SVG charts
from `ledger.charts`, the shared stylesheet, no script, nothing fetched).

Names instead of addresses, Brussels local time (summer time included), kWh with one decimal,
euros with two (`ledger.display.euros`, halves away from zero). It shows where each
household's energy came from (own PV, neighbours, grid) and where its surplus went, who
shared with whom (kWh and €), the supply and demand curves of the quarter-hour that shared
the most with its clearing point, one household's day, and the bills with and without the
community.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from html import escape
from zoneinfo import ZoneInfo

from api.demo.errors import DemoError
from api.demo.report import kwh, price
from api.demo.report_data import IntervalBook, ReportData, report_data
from api.demo.summary import Summary
from ledger.charts import (
    PALETTE,
    Series,
    Step,
    bar_chart,
    line_chart,
    matrix_chart,
    report_css,
    share_bars,
    supply_demand_chart,
)
from ledger.display import TOKEN_DECIMALS, euros
from metering.reading import INTERVAL_SECONDS

#: Token base units per euro (the demo token has 6 decimals).
UNITS_PER_EURO = 10**TOKEN_DECIMALS
LOCAL_ZONE = ZoneInfo("Europe/Brussels")


def _milli_euros(milli: Fraction) -> str:
    units = Decimal(milli.numerator) / Decimal(milli.denominator * 1000)
    return euros(int(units.quantize(Decimal("1"), rounding=ROUND_HALF_UP)))


def _time_label(interval_id: int) -> str:
    moment = datetime.fromtimestamp(interval_id * INTERVAL_SECONDS, tz=UTC)
    return moment.astimezone(LOCAL_ZONE).strftime("%H:%M")


def _per_kwh(units: int | None) -> float | None:
    return None if units is None else units / UNITS_PER_EURO


def _sources_charts(data: ReportData) -> str:
    names = [h.name for h in data.households]
    came = share_bars(
        "Where each household's electricity came from (kWh)",
        "kWh",
        names,
        [
            Series("own PV", PALETTE["pv"], [h.own_pv_wh / 1000 for h in data.households]),
            Series(
                "neighbours",
                PALETTE["neighbours"],
                [h.from_neighbours_wh / 1000 for h in data.households],
            ),
            Series("grid", PALETTE["grid"], [h.from_grid_wh / 1000 for h in data.households]),
        ],
    )
    surplus = [h for h in data.households if h.to_neighbours_wh or h.to_grid_wh]
    went = ""
    if surplus:
        went = share_bars(
            "Where the PV surplus went (kWh)",
            "kWh",
            [h.name for h in surplus],
            [
                Series(
                    "neighbours",
                    PALETTE["neighbours"],
                    [h.to_neighbours_wh / 1000 for h in surplus],
                ),
                Series("grid", PALETTE["grid"], [h.to_grid_wh / 1000 for h in surplus]),
            ],
        )
    return came + went


def _matrix(data: ReportData) -> str:
    if not data.pairs:
        return "<p>No energy was shared between neighbours.</p>"
    sellers = sorted({seller for seller, _ in data.pairs})
    buyers = sorted({buyer for _, buyer in data.pairs})
    cells = [
        (seller, buyer, float(energy) / 1000, kwh(energy))
        for (seller, buyer), (energy, _) in sorted(data.pairs.items())
    ]
    chart = matrix_chart(
        "Who sold to whom (kWh; rows sell, columns buy)",
        "seller",
        "buyer",
        cells,
        sorted(set(sellers) | set(buyers)),
    )
    rows = "\n".join(
        f"<tr><td>{escape(seller)}</td><td>{escape(buyer)}</td>"
        f'<td class="num">{kwh(energy)}</td><td class="num">{_milli_euros(paid)}</td></tr>'
        for (seller, buyer), (energy, paid) in sorted(data.pairs.items())
    )
    return (
        f"{chart}<table><tr><th>seller</th><th>buyer</th><th>kWh</th><th>paid</th></tr>"
        f'{rows}</table><p class="note">Settlement pools each quarter-hour; a buyer\'s kWh '
        "and payment are split over the sellers in proportion to what each delivered.</p>"
    )


def _market(book: IntervalBook | None) -> str:
    if book is None:
        return "<p>No quarter-hour delivered energy.</p>"
    asks = sorted((o for o in book.offers if o.side == 1), key=lambda o: o.price_per_kwh)
    bids = sorted((o for o in book.offers if o.side == 2), key=lambda o: -o.price_per_kwh)
    when = _time_label(book.interval_id)
    chart = supply_demand_chart(
        f"The market of {when}: offers to sell and to buy, and the clearing point",
        "kWh (cumulative)",
        "€/kWh",
        [Step(o.energy_wh / 1000, o.price_per_kwh / UNITS_PER_EURO) for o in asks],
        [Step(o.energy_wh / 1000, o.price_per_kwh / UNITS_PER_EURO) for o in bids],
        (
            "asks (supply)",
            "bids (demand)",
            f"cleared {kwh(book.traded_wh)} kWh at {price(book.price_per_kwh)}",
        ),
        (book.traded_wh / 1000, book.price_per_kwh / UNITS_PER_EURO),
    )
    return (
        f"{chart}<p>At {when}: {kwh(book.traded_wh)} kWh traded at {price(book.price_per_kwh)}, "
        f"{kwh(book.delivered_wh)} kWh delivered after the meters' readings.</p>"
    )


def _profile(data: ReportData) -> str:
    rows = data.profile
    labels = [_time_label(row.interval_id) for row in rows]
    return line_chart(
        f"A day of {data.profile_name} (kWh per quarter-hour, local time)",
        "kWh",
        labels,
        [
            Series("load", PALETTE["other"], [r.load_wh / 1000 for r in rows]),
            Series("own PV", PALETTE["pv"], [r.pv_wh / 1000 for r in rows]),
            Series("from neighbours", PALETTE["neighbours"], [r.bought_wh / 1000 for r in rows]),
            Series("to neighbours", PALETTE["bought"], [r.sold_wh / 1000 for r in rows]),
            Series("taken from the grid", PALETTE["grid"], [r.imported_wh / 1000 for r in rows]),
        ],
    )


def render(summary: Summary, title: str, data: ReportData | None = None) -> str:
    """The report as an HTML string (`data`: the report's figures; computed from the
    summary's run when not given)."""
    if data is None:
        if summary.run is None:
            raise DemoError("the report needs the day's run (summarise(..., keep the run))")
        data = report_data(summary.run)
    rows = summary.series
    labels = [_time_label(row.interval_id) for row in rows]
    flows = bar_chart(
        "The neighbourhood per quarter-hour (kWh)",
        "kWh",
        labels,
        [
            Series("fed into the grid", PALETTE["pv"], [r.exported_wh / 1000 for r in rows]),
            Series("taken from the grid", PALETTE["grid"], [r.imported_wh / 1000 for r in rows]),
            Series("shared", PALETTE["neighbours"], [r.settled_wh / 1000 for r in rows]),
        ],
    )
    prices = line_chart(
        "Price between neighbours per quarter-hour (€/kWh)",
        "€/kWh",
        labels,
        [
            Series(
                "clearing price",
                PALETTE["price"],
                [_per_kwh(r.clearing_price_per_kwh) for r in rows],
            )
        ],
    )
    savings = bar_chart(
        "What each household saved with the community (€)",
        "€",
        [bill.name for bill in summary.bills],
        [
            Series(
                "saved",
                PALETTE["neighbours"],
                [b.savings_units / UNITS_PER_EURO for b in summary.bills],
            )
        ],
    )
    bill_rows = "\n".join(
        f'<tr><td>{escape(b.name)}</td><td>{escape(b.supply)}</td><td class="num">{b.pv_kwp}</td>'
        f'<td class="num">{kwh(b.imported_wh)}</td><td class="num">{kwh(b.exported_wh)}</td>'
        f'<td class="num">{kwh(b.bought_wh)}</td><td class="num">{kwh(b.sold_wh)}</td>'
        f'<td class="num">{euros(b.bill_without_units)}</td>'
        f'<td class="num">{euros(b.bill_with_units)}</td>'
        f'<td class="num">{euros(b.savings_units)}</td>'
        f'<td class="num">{euros(b.network_and_taxes_units)}</td></tr>'
        for b in summary.bills
    )
    savers = sum(1 for b in summary.bills if b.savings_units > 0)
    audit = "passed" if summary.audit_ok else "FAILED: " + "; ".join(summary.audit_problems)
    window = f"{labels[0]} to {_time_label(rows[-1].interval_id + 1)}" if rows else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{report_css()}</style></head><body>
<h1>{escape(title)}</h1>
<div class="box"><p>{summary.households} households ({summary.pv_share:.0%} with PV) traded
{summary.intervals} quarter-hours, {window} Brussels time: {kwh(summary.settled_wh)} kWh went
from neighbours to neighbours ({summary.delivered_share:.1%} of what they could exchange) at
{"—" if summary.average_price_per_kwh is None else price(summary.average_price_per_kwh)} on
average. Bills follow the Walloon rule (a kWh shared displaces the supplier's energy price only;
network, taxes and VAT stay): the community saved {euros(summary.savings_units)} in total, and
{savers} of {summary.households} members save. Audit ({escape(summary.audit_source)}):
<strong class="{"ok" if summary.audit_ok else "bad"}">{escape(audit)}</strong>.</p></div>
<h2>Where the energy came from and went</h2>
{_sources_charts(data)}
<p class="note">Own PV is what a home's panels produced and the home used itself: it never
reaches the meter.</p>
<h2>Who shared with whom</h2>
{_matrix(data)}
<h2>One quarter-hour's market</h2>
{_market(data.book)}
<h2>A household's day</h2>
{_profile(data)}
<h2>The neighbourhood</h2>
{flows}
{prices}
<h2>Bills</h2>
{savings}
<table><tr><th>household</th><th>supply offer</th><th>kWp</th><th>taken kWh</th>
<th>fed in kWh</th><th>bought kWh</th><th>sold kWh</th><th>bill alone</th>
<th>bill in community</th><th>saved</th><th>network and taxes</th></tr>
{bill_rows}
</table>
<p class="note">Gas: {summary.gas_per_household_day:,} per household-day,
{summary.gas_per_trade:,} per trade, {summary.gas_per_reading:,} per meter reading.</p>
</body></html>
"""

"""Charts of every report (the demo, the audit, the members' statements): Vega-Lite specs
built with Altair, rendered offline to static SVG by vl-convert (no script, no download: the
SVG goes inline into HTML and into the PDF made from it).

One look for every report: THEME (fonts, sizes, grid) and PALETTE (the colours of the same
things everywhere: PV yellow, grid grey, neighbours green, prices red) are applied to each
chart here, so no report picks its own. Values are floats: they are the picture's
coordinates (kWh, €), computed by the caller from integer Wh and units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert

from ledger.errors import LedgerError

WIDTH, HEIGHT = 640, 220

#: The colour of each kind of thing, in every chart of every report.
PALETTE = {
    "pv": "#e8a317",
    "neighbours": "#4e9a06",
    "grid": "#888a85",
    "bought": "#3465a4",
    "sold": "#e8a317",
    "price": "#cc0000",
    "demand": "#3465a4",
    "supply": "#e8a317",
    "other": "#75507b",
}

THEME: dict[str, Any] = {
    "font": "DejaVu Sans",
    "background": "white",
    "title": {"fontSize": 13, "anchor": "start", "fontWeight": "bold"},
    "axis": {"labelFontSize": 10, "titleFontSize": 11, "gridColor": "#e6e6e6"},
    "legend": {"orient": "bottom", "labelFontSize": 11, "title": None},
    "view": {"stroke": None},
}


class ChartError(LedgerError):
    """A chart could not be rendered (vl-convert refused the spec)."""


@dataclass(frozen=True)
class Series:
    """One line or bar set: a label, a colour (a PALETTE value or any CSS colour), one value
    per x (None = no point)."""

    label: str
    colour: str
    values: Sequence[float | None]


def _data(rows: list[dict[str, Any]]) -> alt.Data:
    """Inline rows (Altair's Data has no type hints)."""
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def render_svg(chart: alt.TopLevelMixin) -> str:
    """The chart, themed, as an inline `<svg>` element."""
    spec = chart.to_dict()
    spec["config"] = {**THEME, **spec.get("config", {})}
    try:
        svg = str(vl_convert.vegalite_to_svg(spec))
    except ValueError as error:
        raise ChartError(f"the chart cannot be rendered: {error}") from None
    return svg[svg.index("<svg") :]


def _rows(x_labels: Sequence[str], series: Sequence[Series]) -> list[dict[str, Any]]:
    return [
        {"x": x_labels[index], "order": index, "series": item.label, "value": value}
        for item in series
        for index, value in enumerate(item.values)
        if value is not None
    ]


def _colours(series: Sequence[Series]) -> alt.Color:
    return alt.Color(
        "series:N",
        scale=alt.Scale(domain=[s.label for s in series], range=[s.colour for s in series]),
        sort=[s.label for s in series],
    )


def _x_axis(x_labels: Sequence[str], title: str | None) -> alt.X:
    every = max(1, len(x_labels) // 12)
    shown = [label for index, label in enumerate(x_labels) if index % every == 0]
    return alt.X(
        "x:O",
        sort=list(dict.fromkeys(x_labels)),
        title=title,
        axis=alt.Axis(values=shown, labelAngle=0),
    )


def line_chart(
    title: str,
    y_label: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    x_title: str | None = None,
) -> str:
    """Lines over a shared x axis; a None value leaves a gap."""
    chart = (
        alt.Chart(_data(_rows(x_labels, series)), title=title)
        .mark_line(point=len(x_labels) < 3, strokeWidth=2)
        .encode(
            x=_x_axis(x_labels, x_title),
            y=alt.Y("value:Q", title=y_label),
            color=_colours(series),
        )
        .properties(width=WIDTH, height=HEIGHT)
    )
    return render_svg(chart)


def bar_chart(
    title: str,
    y_label: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    x_title: str | None = None,
) -> str:
    """Bars per x: grouped side by side, or `stacked` (parts of a whole)."""
    encoding: dict[str, Any] = {
        "x": _x_axis(x_labels, x_title),
        "y": alt.Y("value:Q", title=y_label, stack="zero" if stacked else None),
        "color": _colours(series),
    }
    if not stacked and len(series) > 1:
        encoding["xOffset"] = alt.XOffset("series:N", sort=[s.label for s in series])
    chart = (
        alt.Chart(_data(_rows(x_labels, series)), title=title)
        .mark_bar()
        .encode(**encoding)
        .properties(width=WIDTH, height=HEIGHT)
    )
    return render_svg(chart)


def share_bars(title: str, x_title: str, rows: Sequence[str], parts: Sequence[Series]) -> str:
    """Horizontal stacked bars, one per row (e.g. a household: own PV, neighbours, grid)."""
    data = [
        {"row": row, "order": index, "series": part.label, "value": value}
        for part in parts
        for index, (row, value) in enumerate(zip(rows, part.values, strict=True))
        if value
    ]
    chart = (
        alt.Chart(_data(data), title=title)
        .mark_bar()
        .encode(
            y=alt.Y("row:N", sort=list(rows), title=None),
            x=alt.X("value:Q", title=x_title, stack="zero"),
            color=_colours(parts),
            order=alt.Order("series_order:Q"),
        )
        .transform_calculate(series_order=_order_expression([part.label for part in parts]))
        .properties(width=WIDTH - 120, height=max(60, 16 * len(rows)))
    )
    return render_svg(chart)


def _order_expression(labels: Sequence[str]) -> str:
    # Vega expression: the index of datum.series in `labels` (stack in legend order).
    return "indexof([" + ",".join(_quoted(label) for label in labels) + "], datum.series)"


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def matrix_chart(
    title: str,
    row_title: str,
    column_title: str,
    cells: Sequence[tuple[str, str, float, str]],
    names: Sequence[str],
) -> str:
    """A heat map: one cell per (row, column, value, label shown in the cell)."""
    data = [{"row": r, "column": c, "value": v, "label": text} for r, c, v, text in cells]
    base = alt.Chart(_data(data), title=title).encode(
        y=alt.Y("row:N", sort=list(names), title=row_title),
        x=alt.X("column:N", sort=list(names), title=column_title, axis=alt.Axis(labelAngle=-45)),
    )
    size = max(120, 22 * len(names))
    heat = base.mark_rect().encode(
        color=alt.Color(
            "value:Q", scale=alt.Scale(range=["#eef6e8", PALETTE["neighbours"]]), legend=None
        )
    )
    text = base.mark_text(fontSize=8).encode(text="label:N")
    return render_svg(alt.layer(heat, text).properties(width=size, height=size))


@dataclass(frozen=True)
class Step:
    """One entry of an order book: its volume (x width) and its limit price (y)."""

    volume: float
    price: float


def supply_demand_chart(
    title: str,
    x_title: str,
    y_title: str,
    supply: Sequence[Step],
    demand: Sequence[Step],
    labels: tuple[str, str, str],
    clearing: tuple[float, float] | None,
) -> str:
    """The stepped supply (asks, cheapest first) and demand (bids, dearest first) curves of
    one interval, and the clearing point (volume, price). `labels`: supply, demand, clearing."""

    def points(steps: Sequence[Step], name: str) -> list[dict[str, Any]]:
        rows, at = [], 0.0
        for step in steps:
            rows.append({"x": at, "y": step.price, "series": name})
            at += step.volume
            rows.append({"x": at, "y": step.price, "series": name})
        return rows

    supply_label, demand_label, clearing_label = labels
    series = [
        Series(supply_label, PALETTE["supply"], []),
        Series(demand_label, PALETTE["demand"], []),
    ]
    data = points(supply, supply_label) + points(demand, demand_label)
    curves = (
        alt.Chart(_data(data))
        .mark_line(strokeWidth=2, interpolate="linear")
        .encode(
            x=alt.X("x:Q", title=x_title),
            y=alt.Y("y:Q", title=y_title),
            color=_colours(series),
            detail="series:N",
        )
    )
    layers: list[Any] = [curves]
    if clearing is not None:
        point = alt.Chart(_data([{"x": clearing[0], "y": clearing[1], "label": clearing_label}]))
        layers.append(
            point.mark_point(size=120, filled=True, color=PALETTE["price"]).encode(x="x:Q", y="y:Q")
        )
        layers.append(
            point.mark_text(align="left", dx=8, dy=-8, color=PALETTE["price"]).encode(
                x="x:Q", y="y:Q", text="label:N"
            )
        )
    chart = alt.layer(*layers, title=title).properties(width=WIDTH, height=HEIGHT)
    return render_svg(chart)


def report_css() -> str:
    """The stylesheet every report inlines (`ledger/report.css`): one look for all."""
    return (Path(__file__).parent / "report.css").read_text(encoding="utf-8")

"""Small inline-SVG charts (line and bar) for self-contained HTML reports (the demo, the audit).

Coordinates are floats: these are pixels of a picture, not energy or money.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 860, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 36, 46


@dataclass(frozen=True)
class Series:
    """One line or bar set: a label, a CSS colour, one value per x (None = no point)."""

    label: str
    colour: str
    values: Sequence[float | None]


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude * (1 + 1e-9):
            return step * magnitude
    return 10.0 * magnitude


def _tick(value: float) -> str:
    """A y-axis label: 12,500 rather than 1.25e+04; small values keep their decimals."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4g}"


def _frame(title: str, y_label: str, y_max: float, x_labels: Sequence[str]) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="20" font-weight="bold">{escape(title)}</text>',
        f'<text x="12" y="{TOP + plot_h / 2}" transform="rotate(-90 12 {TOP + plot_h / 2})" '
        f'text-anchor="middle" font-size="11">{escape(y_label)}</text>',
    ]
    for tick in range(5):
        value = y_max * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{_tick(value)}</text>"
        )
    count = max(len(x_labels), 1)
    every = max(1, count // 12)
    for index in range(0, len(x_labels), every):
        x = LEFT + plot_w * (index + 0.5) / count
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="10">{escape(x_labels[index])}</text>'
        )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    parts = []
    x = WIDTH - RIGHT - 170 * len(series)
    for item in series:
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 16}" width="12" height="8" fill="{item.colour}"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 8}" font-size="11">{escape(item.label)}</text>'
        )
        x += 170
    return parts


def line_chart(title: str, y_label: str, x_labels: Sequence[str], series: Sequence[Series]) -> str:
    """Lines over a shared x axis; a None value breaks the line."""
    values = [v for s in series for v in s.values if v is not None]
    y_max = _nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(x_labels), 1)
    parts = _frame(title, y_label, y_max, x_labels)
    for item in series:
        segments: list[list[tuple[float, float]]] = [[]]
        for index, value in enumerate(item.values):
            if value is None:
                segments.append([])
                continue
            x = LEFT + plot_w * (index + 0.5) / count
            segments[-1].append((x, TOP + plot_h - plot_h * value / y_max))
        path = " ".join(
            f"{'L' if n else 'M'}{x:.1f},{y:.1f}"
            for segment in segments
            for n, (x, y) in enumerate(segment)
        )
        parts.append(f'<path d="{path}" fill="none" stroke="{item.colour}" stroke-width="2"/>')
        # A lone point draws no line: mark it so a one-interval chart is not blank.
        for segment in segments:
            if len(segment) == 1:
                (x, y) = segment[0]
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{item.colour}"/>')
    return "\n".join([*parts, *_legend(series), "</svg>"])


def bar_chart(title: str, y_label: str, x_labels: Sequence[str], series: Sequence[Series]) -> str:
    """Grouped bars (negative values drawn as zero-height: the axis starts at 0)."""
    values = [v for s in series for v in s.values if v is not None]
    y_max = _nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(x_labels), 1)
    slot = plot_w / count
    bar = slot * 0.8 / max(len(series), 1)
    parts = _frame(title, y_label, y_max, x_labels)
    for position, item in enumerate(series):
        for index, value in enumerate(item.values):
            if not value or value <= 0:
                continue
            height = plot_h * value / y_max
            x = LEFT + slot * index + slot * 0.1 + bar * position
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{item.colour}"><title>{escape(x_labels[index])}: '
                f"{value:g}</title></rect>"
            )
    return "\n".join([*parts, *_legend(series), "</svg>"])

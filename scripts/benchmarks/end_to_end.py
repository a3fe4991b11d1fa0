"""End-to-end seconds per simulated interval: the whole demo day (protocol v2: schedules and
meter batches through the API, the relayer posting and settling on Anvil, then the audit),
by size.

The baseline is the real time an interval lasts, 900 s: the ratio says how many times faster
than real time one machine runs a community of that size.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.demo.run import DemoConfig, run_day
from metering.reading import INTERVAL_SECONDS


@dataclass(frozen=True)
class EndToEndFigure:
    households: int
    intervals: int
    wall_seconds: float
    seconds_per_interval: float
    trading_seconds_per_interval: float


def measure_end_to_end(sizes: tuple[int, ...], intervals: int) -> list[EndToEndFigure]:
    """Run the demo day for each community size; `intervals` quarter-hours from 08:00 UTC."""
    figures = []
    for households in sizes:
        # From 08:00 UTC so that short runs still trade (the sun is up).
        config = DemoConfig(households=households, intervals=intervals, start_slot=32)
        run = run_day(config)
        timings = run.timings.as_dict()
        wall = sum(timings.values())
        trading = sum(
            timings[k] for k in ("sign", "http_schedules", "http_batches", "relayer", "clock")
        )
        figures.append(
            EndToEndFigure(
                households, intervals, round(wall, 2), wall / intervals, trading / intervals
            )
        )
    return figures


def real_time_ratio(seconds_per_interval: float) -> float:
    """How many times faster than the 900 s an interval lasts."""
    return round(INTERVAL_SECONDS / seconds_per_interval, 1)

"""Clearing time of the engine next to the slow, literal reference, on the same books."""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.matching.bench import BENCH_BOUNDS, random_book, time_clearing
from api.matching.double_auction import clear
from api.matching.reference import reference_clear


@dataclass(frozen=True)
class ClearingFigure:
    """Median engine time and the reference's time on the same book (same result checked)."""

    n_orders: int
    engine_ms: float
    reference_ms: float
    trades: int


def measure_clearing(sizes: tuple[int, ...], seed: int = 0) -> list[ClearingFigure]:
    """Time both implementations on `random_book(n, seed)` for each size."""
    figures = []
    for n_orders in sizes:
        engine = time_clearing(n_orders, seed, repeat=5)
        book = random_book(n_orders, seed)
        start = time.perf_counter_ns()
        reference = reference_clear(book, bounds=BENCH_BOUNDS)
        reference_ns = time.perf_counter_ns() - start
        # A faster engine that answers differently would be no figure at all.
        if reference != clear(book, bounds=BENCH_BOUNDS):
            raise RuntimeError(f"engine and reference disagree on the {n_orders}-order book")
        figures.append(
            ClearingFigure(
                n_orders, engine.median_ns / 1e6, reference_ns / 1e6, len(reference.trades)
            )
        )
    return figures

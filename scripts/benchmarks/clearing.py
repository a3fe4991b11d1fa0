"""Per-interval clearing of api.settlement (rank + walk, the contract's rule) next to a plain
sorted two-pointer reference written here, on the same books, with the same result checked.

A book of n entries is n households with one entry each (about half sells, half buys, limits
on both sides of the floor and ceiling so that the clamp matters). Hints index households
with uint16, so one interval holds at most 65,535 entries: 100,000 entries are measured as
a period of two 50,000-entry intervals, cleared one after the other (both implementations).
Both are timed by the same harness (median of `repeat` runs, garbage collector as in
production, i.e. enabled).
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from api.settlement.book import Book
from api.settlement.clearing import clear_interval
from api.settlement.model import Mechanism, Rules

RULES = Rules(
    mechanism=Mechanism.PAY_AS_CLEAR,
    gate_lead_seconds=900,
    settlement_deadline_seconds=86_400,
    min_entry_wh=1,
    price_floor_per_kwh=50_000,
    price_ceiling_per_kwh=350_000,
    community_price_per_kwh=150_000,
)
#: Entries per interval at most (uint16 hint indices).
MAX_BOOK = 65_535


@dataclass(frozen=True)
class ClearingFigure:
    entries: int
    intervals: int
    engine_ms: float
    reference_ms: float
    traded_wh: int


def random_book(households: int, interval_id: int, seed: int) -> Book:
    """A seeded book: sides 1/2, energies 1..5,000 Wh, limits 0..400,000 per kWh."""
    rng = random.Random(f"{seed}:{households}:{interval_id}")
    sides = tuple(rng.choice((1, 2)) for _ in range(households))
    energies = tuple(rng.randint(1, 5_000) for _ in range(households))
    prices = tuple(rng.randint(0, 400_000) for _ in range(households))
    return Book(interval_id, sides, energies, prices)


def reference_clear(rules: Rules, book: Book) -> tuple[tuple[int, ...], int, int]:
    """(traded per household, total, price): clamp, sort both sides, walk with two pointers."""
    floor, ceiling = rules.price_floor_per_kwh, rules.price_ceiling_per_kwh
    count, k = len(book.sides), book.interval_id
    sells: list[tuple[int, int, int]] = []
    buys: list[tuple[int, int, int]] = []
    for h in range(count):
        side, price = book.sides[h], book.prices_per_kwh[h]
        if side == 1:
            sells.append((max(price, floor), (h + k) % count, h))
        elif side == 2:
            # Negated bid: one ascending tuple sort gives bid descending, rank ascending.
            buys.append((-min(price, ceiling), (h + k) % count, h))
    sells.sort()
    buys.sort()
    traded = [0] * count
    total = i = j = 0
    ask = bid = None
    sell_left = buy_left = 0
    while i < len(sells) and j < len(buys) and sells[i][0] <= -buys[j][0]:
        seller, buyer = sells[i][2], buys[j][2]
        sell_left = sell_left or book.energies_wh[seller]
        buy_left = buy_left or book.energies_wh[buyer]
        step = min(sell_left, buy_left)
        traded[seller] += step
        traded[buyer] += step
        total += step
        ask, bid = sells[i][0], -buys[j][0]
        sell_left -= step
        buy_left -= step
        if sell_left == 0:
            i += 1
        if buy_left == 0:
            j += 1
    price = (ask + bid) // 2 if ask is not None and bid is not None else 0
    return tuple(traded), total, price


def _clear_all(clear: Callable[[Rules, Book], object], books: list[Book]) -> None:
    for book in books:
        clear(RULES, book)


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        run()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e6


def measure_clearing(sizes: tuple[int, ...], seed: int = 0) -> list[ClearingFigure]:
    """Time engine and reference on the same books for each total entry count."""
    figures = []
    for entries in sizes:
        intervals = -(-entries // MAX_BOOK)
        per_book = entries // intervals
        books = [random_book(per_book, 1_000 + n, seed) for n in range(intervals)]
        engine = [clear_interval(RULES, book) for book in books]
        reference = [reference_clear(RULES, book) for book in books]
        # A faster engine that answers differently would be no figure at all.
        for book, ours, theirs in zip(books, engine, reference, strict=True):
            if (ours.traded_wh, ours.traded_total_wh, ours.price_per_kwh) != theirs:
                raise RuntimeError(f"engine and reference disagree on interval {book.interval_id}")
        repeat = 3 if entries >= 100_000 else 7
        engine_ms = _median_ms(functools.partial(_clear_all, clear_interval, books), repeat)
        reference_ms = _median_ms(functools.partial(_clear_all, reference_clear, books), repeat)
        traded = sum(c.traded_total_wh for c in engine)
        figures.append(ClearingFigure(entries, intervals, engine_ms, reference_ms, traded))
    return figures

"""Measurements of the clearing engine, for `scripts/bench` (not a unit test: timings
depend on the machine and its load).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from api.matching.double_auction import clear
from api.matching.orders import Mechanism, Order, PriceBounds, Side

#: Plausible community tariffs in token base units per kWh (e.g. 1 unit = 0.001 cent).
BENCH_BOUNDS = PriceBounds(feed_in_per_kwh=4_000, retail_per_kwh=35_000)


def random_book(n_orders: int, seed: int) -> list[Order]:
    """A reproducible book of `n_orders` orders around the bench tariffs.

    About one household per three orders, so some households sit on both sides and the
    self-trade rule is exercised; prices spill slightly outside the bounds.
    """
    rng = random.Random(seed)
    n_households = max(2, n_orders // 3)
    orders = []
    for _ in range(n_orders):
        side = Side.SELL if rng.random() < 0.5 else Side.BUY
        orders.append(
            Order(
                id=f"0x{rng.getrandbits(256):064x}",
                household=f"hh-{rng.randrange(n_households)}",
                side=side,
                energy_wh=rng.randint(1, 2_500),
                price_per_kwh=rng.randint(2_000, 38_000),
            )
        )
    return orders


@dataclass(frozen=True, slots=True)
class ClearingTiming:
    """Best and median wall time of `repeat` clearings of one book."""

    n_orders: int
    best_ns: int
    median_ns: int
    n_trades: int
    volume_wh: int


def time_clearing(
    n_orders: int,
    seed: int = 0,
    mechanism: Mechanism = Mechanism.PAY_AS_CLEAR,
    repeat: int = 5,
) -> ClearingTiming:
    """Time `clear` on `random_book(n_orders, seed)` (book construction not included)."""
    orders = random_book(n_orders, seed)
    timings: list[int] = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter_ns()
        result = clear(orders, mechanism, BENCH_BOUNDS)
        timings.append(time.perf_counter_ns() - start)
    assert result is not None  # repeat >= 1
    timings.sort()
    return ClearingTiming(
        n_orders=n_orders,
        best_ns=timings[0],
        median_ns=timings[len(timings) // 2],
        n_trades=len(result.trades),
        volume_wh=result.volume_wh,
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m api.matching.bench [N ...]`: print clearing times (default 1k, 10k, 100k)."""
    import sys

    sizes = [int(arg) for arg in (sys.argv[1:] if argv is None else argv)] or [
        1_000,
        10_000,
        100_000,
    ]
    for mechanism in Mechanism:
        for n_orders in sizes:
            timing = time_clearing(n_orders, seed=1, mechanism=mechanism)
            print(
                f"{mechanism.value:<13} {n_orders:>7} orders: best {timing.best_ns / 1e6:7.2f} ms,"
                f" median {timing.median_ns / 1e6:7.2f} ms"
                f" ({timing.n_trades} trades, {timing.volume_wh} Wh)"
            )


if __name__ == "__main__":
    main()

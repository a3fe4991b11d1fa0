"""Netting against meters and money (IQuartierExchange, "Settlement" steps 3 and 4).

o_h = min(t_h, m_h); the short side (S <= B: sellers) gets d_h = o_h, the long side
floor(o_h * D / L) plus 1 Wh each to its first households (by h) with o_h > 0 until
Σ d = D. Money is in milli-units (Wh * units/kWh), exact: a uniform price p under
PayAsClear / CommunityPrice; under PayAsBid buyers pay d_h * bid' into a pot shared by
sellers pro rata to d_h, remainder to the first seller (by h) with d_h > 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.settlement.book import Book
from api.settlement.clearing import Clearing
from api.settlement.codec import decode_deltas
from api.settlement.model import Mechanism, MeterInput, Side, TimeGrid

_SELL = int(Side.SELL)
_BUY = int(Side.BUY)


@dataclass(frozen=True, slots=True)
class Netting:
    """Delivery and money of one interval, per household index h.

    `metered_wh[h]` is m_h (exports of a seller, imports of a buyer, 0 without entry),
    `offered_wh[h]` o_h, `delivered_wh[h]` d_h, `money_milli[h]` what h gains (sellers,
    >= 0) or pays (buyers, <= 0) in milli-units.
    """

    metered_wh: tuple[int, ...]
    offered_wh: tuple[int, ...]
    delivered_wh: tuple[int, ...]
    delivered_total_wh: int
    money_milli: tuple[int, ...]


def metered_of_period(
    meters: Sequence[MeterInput], grid: TimeGrid, period_id: int
) -> tuple[list[int], list[int]]:
    """(importWh, exportWh) per interval of the period, summed over the household's meters
    that count for the interval; a meter without data measures 0 Wh."""
    n = grid.period_intervals
    imports = [0] * n
    exports = [0] * n
    for meter in meters:
        if meter.deltas is None:
            continue
        meter_imports, meter_exports = decode_deltas(meter.deltas, n)
        for offset, k in enumerate(grid.intervals(period_id)):
            if meter.window.counts_for(grid.interval_start(k), grid.interval_end(k)):
                imports[offset] += meter_imports[offset]
                exports[offset] += meter_exports[offset]
    return imports, exports


def net_interval(
    book: Book, clearing: Clearing, imports_wh: Sequence[int], exports_wh: Sequence[int]
) -> Netting:
    """Steps 3 and 4 for one interval; `imports_wh` / `exports_wh` are per household."""
    count = len(book.sides)
    sides = book.sides
    traded = clearing.traded_wh
    metered = [0] * count
    offered = [0] * count
    sold = bought = 0
    for h in range(count):
        side = sides[h]
        if side == _SELL:
            m = exports_wh[h]
        elif side == _BUY:
            m = imports_wh[h]
        else:
            continue
        metered[h] = m
        t = traded[h]
        o = t if t < m else m
        offered[h] = o
        if side == _SELL:
            sold += o
        else:
            bought += o
    delivered_total = sold if sold < bought else bought
    delivered = list(offered)
    # Sellers are the short side on a tie; when D == L the floors are exact.
    long_side, long_total = (_BUY, bought) if sold <= bought else (_SELL, sold)
    if delivered_total < long_total:
        given = 0
        for h in range(count):
            if sides[h] == long_side and offered[h]:
                share = offered[h] * delivered_total // long_total
                delivered[h] = share
                given += share
        left = delivered_total - given
        h = 0
        while left:
            if sides[h] == long_side and offered[h]:
                delivered[h] += 1
                left -= 1
            h += 1
    return Netting(
        tuple(metered),
        tuple(offered),
        tuple(delivered),
        delivered_total,
        tuple(_money(clearing, sides, delivered, delivered_total)),
    )


def _money(
    clearing: Clearing, sides: Sequence[int], delivered: list[int], delivered_total: int
) -> list[int]:
    count = len(sides)
    money = [0] * count
    if delivered_total == 0:
        return money
    if clearing.mechanism is not Mechanism.PAY_AS_BID:
        price = clearing.price_per_kwh
        for h in range(count):
            if delivered[h]:
                money[h] = delivered[h] * price if sides[h] == _SELL else -delivered[h] * price
        return money
    limits = clearing.limits_per_kwh
    pot = 0
    for h in range(count):
        if sides[h] == _BUY and delivered[h]:
            paid = delivered[h] * limits[h]
            money[h] = -paid
            pot += paid
    shared = 0
    first_seller = -1
    for h in range(count):
        if sides[h] == _SELL and delivered[h]:
            share = pot * delivered[h] // delivered_total
            money[h] = share
            shared += share
            if first_seller < 0:
                first_seller = h
    money[first_seller] += pot - shared
    return money

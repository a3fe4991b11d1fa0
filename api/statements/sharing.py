"""Who shared with whom in one quarter-hour, for people (statements, the demo report).

The settlement pools an interval: sellers deliver D Wh to buyers as a whole, it never pairs
a buyer with a seller. For a "who traded with whom" view every buyer's delivered energy
and payment is split over the sellers pro rata to what each delivered (the distribution
key of a collective self-consumption scheme): buyer b and seller s shared
d_b x d_s / D Wh, and b's payment split the same way. Exact fractions; the caller rounds
once, when it prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from api.settlement import IntervalSettlement, Side

_SELL = int(Side.SELL)
_BUY = int(Side.BUY)


@dataclass(frozen=True)
class Pair:
    """What one buyer took from one seller in one interval (exact fractions of Wh and of
    milli-units: Wh x units per kWh)."""

    seller: str
    buyer: str
    energy_wh: Fraction
    paid_milli: Fraction


def interval_pairs(interval: IntervalSettlement, addresses: tuple[str, ...]) -> list[Pair]:
    """The interval's pairs; `addresses[h]` is household index h of the settlement."""
    sides = interval.book.sides
    delivered = interval.netting.delivered_wh
    money = interval.netting.money_milli
    total = interval.netting.delivered_total_wh
    if not total:
        return []
    sellers = [h for h, side in enumerate(sides) if side == _SELL and delivered[h]]
    buyers = [h for h, side in enumerate(sides) if side == _BUY and delivered[h]]
    return [
        Pair(
            addresses[s],
            addresses[b],
            Fraction(delivered[b] * delivered[s], total),
            Fraction(-money[b] * delivered[s], total),
        )
        for b in buyers
        for s in sellers
    ]

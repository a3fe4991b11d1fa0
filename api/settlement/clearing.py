"""Per-interval clearing (IQuartierExchange, "Settlement" step 2): traded energy t_h.

PayAsClear / PayAsBid rank sells by (ask' ascending, rank ascending) and buys by
(bid' descending, rank ascending), rank = (h + k) mod H, then walk both rankings matching
while ask' <= bid' (marginal entries partly filled). CommunityPrice fills every entry whose
limit accepts c in full. ask' = max(ask, floor), bid' = min(bid, ceiling).

Speed: each ranking is one sort of plain ints, key = limit << 32 | rank << 16 | h (buys use
UINT64_MAX - bid' so that one ascending sort gives bid' descending); rank and h are < 2^16
because hints carry uint16 indices, so the key is exact and h is its low 16 bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.settlement.book import Book
from api.settlement.codec import Claim, encode_hints
from api.settlement.model import UINT64_MAX, Mechanism, Rules, Side

_SELL = int(Side.SELL)
_BUY = int(Side.BUY)


@dataclass(frozen=True, slots=True)
class Clearing:
    """The clearing of one interval, per household index h.

    `limits_per_kwh[h]` is ask' or bid' (0 without entry); `traded_wh[h]` is t_h.
    `price_per_kwh` is the PeriodCleared field: p under PayAsClear (0 if nothing matched),
    c under CommunityPrice, 0 under PayAsBid. `traded_total_wh` = min(Σ_sell t, Σ_buy t).
    The rankings are empty under CommunityPrice (it needs no hints).
    """

    interval_id: int
    mechanism: Mechanism
    sell_ranking: tuple[int, ...]
    buy_ranking: tuple[int, ...]
    limits_per_kwh: tuple[int, ...]
    traded_wh: tuple[int, ...]
    traded_total_wh: int
    marginal_ask_per_kwh: int | None
    marginal_bid_per_kwh: int | None
    price_per_kwh: int


def effective_limits(rules: Rules, book: Book) -> list[int]:
    """ask' = max(ask, floor) for sells, bid' = min(bid, ceiling) for buys, 0 otherwise."""
    floor = rules.price_floor_per_kwh
    ceiling = rules.price_ceiling_per_kwh
    limits = [0] * len(book.sides)
    for h, (side, price) in enumerate(zip(book.sides, book.prices_per_kwh, strict=True)):
        if side == _SELL:
            limits[h] = price if price > floor else floor
        elif side == _BUY:
            limits[h] = price if price < ceiling else ceiling
    return limits


def rankings(book: Book, limits: list[int]) -> tuple[list[int], list[int]]:
    """(sells, buys) household indices in priority order: every counting entry of each side."""
    count = len(book.sides)
    k = book.interval_id
    sell_keys: list[int] = []
    buy_keys: list[int] = []
    for h, side in enumerate(book.sides):
        if side == _SELL:
            sell_keys.append((limits[h] << 32) | (((h + k) % count) << 16) | h)
        elif side == _BUY:
            buy_keys.append(((UINT64_MAX - limits[h]) << 32) | (((h + k) % count) << 16) | h)
    sell_keys.sort()
    buy_keys.sort()
    return [key & 0xFFFF for key in sell_keys], [key & 0xFFFF for key in buy_keys]


def clear_interval(rules: Rules, book: Book) -> Clearing:
    """Step 2 of the rule for one interval's book."""
    limits = effective_limits(rules, book)
    energies = book.energies_wh
    traded = [0] * len(book.sides)
    if rules.mechanism is Mechanism.COMMUNITY_PRICE:
        c = rules.community_price_per_kwh
        sold = bought = 0
        for h, side in enumerate(book.sides):
            if side == _SELL and limits[h] <= c:
                traded[h] = energies[h]
                sold += energies[h]
            elif side == _BUY and limits[h] >= c:
                traded[h] = energies[h]
                bought += energies[h]
        return Clearing(
            book.interval_id,
            rules.mechanism,
            (),
            (),
            tuple(limits),
            tuple(traded),
            min(sold, bought),
            None,
            None,
            c,
        )

    sells, buys = rankings(book, limits)
    total = 0
    ask: int | None = None
    bid: int | None = None
    if sells and buys:
        i = j = 0
        seller, buyer = sells[0], buys[0]
        sell_left, buy_left = energies[seller], energies[buyer]
        while limits[seller] <= limits[buyer]:
            step = sell_left if sell_left < buy_left else buy_left
            traded[seller] += step
            traded[buyer] += step
            total += step
            ask, bid = limits[seller], limits[buyer]
            sell_left -= step
            buy_left -= step
            if sell_left == 0:
                i += 1
                if i == len(sells):
                    break
                seller = sells[i]
                sell_left = energies[seller]
            if buy_left == 0:
                j += 1
                if j == len(buys):
                    break
                buyer = buys[j]
                buy_left = energies[buyer]
    if rules.mechanism is Mechanism.PAY_AS_CLEAR and ask is not None and bid is not None:
        price = (ask + bid) // 2
    else:
        price = 0
    return Clearing(
        book.interval_id,
        rules.mechanism,
        tuple(sells),
        tuple(buys),
        tuple(limits),
        tuple(traded),
        total,
        ask,
        bid,
        price,
    )


def claim_of(clearing: Clearing) -> Claim:
    """An interval's hint: the walk's marginal (ask', bid'), None when nothing matched."""
    if clearing.marginal_ask_per_kwh is None or clearing.marginal_bid_per_kwh is None:
        return None
    return (clearing.marginal_ask_per_kwh, clearing.marginal_bid_per_kwh)


def hints_for(rules: Rules, books: Sequence[Book]) -> bytes:
    """The `settlePeriod` hints of a period's books (one per interval, in order): per
    interval the walk's claim; empty under CommunityPrice, which needs none."""
    if rules.mechanism is Mechanism.COMMUNITY_PRICE:
        return b""
    return encode_hints([claim_of(clear_interval(rules, book)) for book in books])

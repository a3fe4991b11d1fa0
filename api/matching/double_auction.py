"""The double auction: a pure, deterministic function from a book of orders to trades.

Rules (an auditor re-implementing them must get the same trades, bit for bit):

1. **Bounds.** With `PriceBounds`, an ask below the feed-in price counts as the feed-in
   price and a bid above the retail price counts as the retail price (the grid is always
   there at those prices, so they are the real limits). Orders are clamped, never refused:
   clamping only moves a limit towards the other side's, so every trade still respects
   the price the household signed. An ask above retail or a bid below feed-in simply never
   trades, since no price in [feed-in, retail] satisfies it.
2. **Priority.** Sells by (effective price ascending, id ascending); buys by (effective
   price descending, id ascending). `id` is the order hash in the API, so the order is
   total and the result does not depend on the order the book was given in.
3. **Intersection.** Walking both sides in priority order and matching while the best bid
   >= the best ask, household-blind, gives the supply/demand intersection volume V and the
   marginal ask `a` and marginal bid `b` (prices of the last Wh matched; a <= b).
4. **Uniform price (pay-as-clear).** p = (a + b) // 2, the midpoint rounded down. Every
   accepted sell asks <= a <= p and every accepted buy bids >= b >= p, so every pair is
   within both limits; p is inside [feed-in, retail] because a and b are.
5. **Pairing, and no self-trade.** Sells in priority order each take the best-ranked
   available buy of *another* household, repeatedly, while that buy's bid >= the sell's
   ask; a buy of the sell's own household is passed over and keeps its place for later
   sells. Pay-as-clear pairs only orders eligible at p (ask <= p <= bid); at most V Wh can
   trade among them, exactly V when no household is on both sides. Pay-as-bid pairs the
   whole book and prices each trade at the buyer's effective bid. Self-trade avoidance can
   leave volume unmatched that a different pairing would have matched: the rule prefers
   being simple to re-check over squeezing out those Wh. (Under pay-as-bid it can also
   pair extra-marginal orders, e.g. ask 0 with bid 0 after passing over a self-trade, so
   its volume may exceed V; each trade still respects both limits.)

Cost: two sorts plus linear passes, O(n log n).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from api.matching.errors import InvalidOrderError
from api.matching.orders import ClearingResult, Mechanism, Order, PriceBounds, Side, Trade


@dataclass(frozen=True, slots=True)
class Intersection:
    """Where the supply and demand curves cross (household-blind).

    `marginal_ask_per_kwh` / `marginal_bid_per_kwh` are the effective prices of the last Wh
    matched, None when nothing can trade.
    """

    volume_wh: int
    marginal_ask_per_kwh: int | None
    marginal_bid_per_kwh: int | None


@dataclass(slots=True)
class RankedSide:
    """One side of the book, ranked, as parallel lists (fast to walk, cheap to build)."""

    ids: list[str]
    households: list[str]
    prices: list[int]  # effective (clamped) limit prices
    volumes: list[int]


def rank_orders(
    orders: Iterable[Order], bounds: PriceBounds | None
) -> tuple[RankedSide, RankedSide]:
    """Split the book, clamp limits to the bounds, rank both sides (rules 1 and 2)."""
    floor = bounds.feed_in_per_kwh if bounds else None
    ceiling = bounds.retail_per_kwh if bounds else None
    seen: set[str] = set()
    sell_keys: list[tuple[int, str, Order]] = []
    buy_keys: list[tuple[int, str, Order]] = []
    for order in orders:
        if order.id in seen:
            raise InvalidOrderError(f"duplicate order id {order.id!r} in the book")
        seen.add(order.id)
        price = order.price_per_kwh
        if order.side is Side.SELL:
            if floor is not None and price < floor:
                price = floor
            sell_keys.append((price, order.id, order))
        else:
            if ceiling is not None and price > ceiling:
                price = ceiling
            # Negated price: one ascending sort gives price descending, id ascending.
            buy_keys.append((-price, order.id, order))
    # ids are unique, so (price, id) never ties and the Order itself is never compared.
    sell_keys.sort(key=lambda key: (key[0], key[1]))
    buy_keys.sort(key=lambda key: (key[0], key[1]))
    sells = RankedSide(
        [k[1] for k in sell_keys],
        [k[2].household for k in sell_keys],
        [k[0] for k in sell_keys],
        [k[2].energy_wh for k in sell_keys],
    )
    buys = RankedSide(
        [k[1] for k in buy_keys],
        [k[2].household for k in buy_keys],
        [-k[0] for k in buy_keys],
        [k[2].energy_wh for k in buy_keys],
    )
    return sells, buys


def _intersect(sells: RankedSide, buys: RankedSide) -> Intersection:
    """Rule 3: household-blind greedy walk of the two ranked sides."""
    n_sells, n_buys = len(sells.ids), len(buys.ids)
    i = j = 0
    volume_wh = 0
    ask: int | None = None
    bid: int | None = None
    sell_left = sells.volumes[0] if n_sells else 0
    buy_left = buys.volumes[0] if n_buys else 0
    while i < n_sells and j < n_buys and sells.prices[i] <= buys.prices[j]:
        step_wh = min(sell_left, buy_left)
        volume_wh += step_wh
        ask, bid = sells.prices[i], buys.prices[j]
        sell_left -= step_wh
        buy_left -= step_wh
        if sell_left == 0:
            i += 1
            sell_left = sells.volumes[i] if i < n_sells else 0
        if buy_left == 0:
            j += 1
            buy_left = buys.volumes[j] if j < n_buys else 0
    return Intersection(volume_wh, ask, bid)


def pair_orders(
    sells: RankedSide, n_sells: int, buys: RankedSide, n_buys: int, price: int | None
) -> list[Trade]:
    """Rule 5 (pairing without self-trade) over the first `n_sells` sells and `n_buys` buys.

    `price` is the uniform price, or None to price each trade at the buyer's bid.

    Passed-over buys wait in `skipped`, in rank order. They all belong to one household:
    a sell of another household consumes them before touching the rest of the ranking, and
    only a sell of their own household passes over more. So the best available buy of
    another household is `skipped[0]` if it is not ours, else the next not-ours buy in the
    ranking; each buy is passed over and consumed at most once, which keeps this linear.
    """
    trades: list[Trade] = []
    buy_left = buys.volumes[:n_buys]
    skipped: deque[int] = deque()
    skipped_household = ""
    j = 0  # first buy in the ranking not yet consumed nor passed over
    for i in range(n_sells):
        household = sells.households[i]
        ask = sells.prices[i]
        sell_left = sells.volumes[i]
        while sell_left:
            if skipped and skipped_household != household:
                k, from_skipped = skipped[0], True
            else:
                while j < n_buys and buys.households[j] == household:
                    skipped.append(j)
                    skipped_household = household
                    j += 1
                if j == n_buys:
                    break
                k, from_skipped = j, False
            bid = buys.prices[k]
            if bid < ask:
                break
            step_wh = min(sell_left, buy_left[k])
            trades.append(
                Trade(sells.ids[i], buys.ids[k], step_wh, bid if price is None else price)
            )
            sell_left -= step_wh
            buy_left[k] -= step_wh
            if buy_left[k] == 0:
                if from_skipped:
                    skipped.popleft()
                else:
                    j += 1
    return trades


def intersection(orders: Iterable[Order], bounds: PriceBounds | None = None) -> Intersection:
    """The household-blind supply/demand intersection of a book (rules 1-3)."""
    sells, buys = rank_orders(orders, bounds)
    return _intersect(sells, buys)


def uniform_price(cross: Intersection) -> int | None:
    """Rule 4: the pay-as-clear price of an intersection, None when nothing can trade."""
    if cross.marginal_ask_per_kwh is None or cross.marginal_bid_per_kwh is None:
        return None
    return (cross.marginal_ask_per_kwh + cross.marginal_bid_per_kwh) // 2


def clear(
    orders: Iterable[Order],
    mechanism: Mechanism = Mechanism.PAY_AS_CLEAR,
    bounds: PriceBounds | None = None,
) -> ClearingResult:
    """Clear one interval's book into trades; pure and deterministic (see module rules).

    Raises `InvalidOrderError` if two orders share an id.
    """
    sells, buys = rank_orders(orders, bounds)
    if mechanism is Mechanism.PAY_AS_BID:
        trades = pair_orders(sells, len(sells.ids), buys, len(buys.ids), None)
        return ClearingResult(None, tuple(trades))
    price = uniform_price(_intersect(sells, buys))
    if price is None:
        return ClearingResult(None, ())
    # Eligible at p: asks <= p (a prefix of the sells), bids >= p (a prefix of the buys).
    n_sells = bisect.bisect_right(sells.prices, price)
    n_buys = bisect.bisect_right(buys.prices, -price, key=lambda bid: -bid)
    trades = pair_orders(sells, n_sells, buys, n_buys, price)
    return ClearingResult(price if trades else None, tuple(trades))

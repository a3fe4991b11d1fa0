"""A slow, obviously-correct reference clearing, for tests and the benchmark.

It follows the rules written in `api.matching.double_auction` literally, with none of the
fast engine's shortcuts: the intersection comes from a search over every price on the book
(supply S(q) = Wh asked at <= q, demand D(q) = Wh bid at >= q, V = max over q of
min(S(q), D(q))), and the pairing rescans the whole buy ranking for every Wh step. It is
O(n^2): use it on small books only.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.matching.orders import ClearingResult, Mechanism, Order, PriceBounds, Side, Trade


def _effective_price(order: Order, bounds: PriceBounds | None) -> int:
    if bounds is None:
        return order.price_per_kwh
    if order.side is Side.SELL:
        return max(order.price_per_kwh, bounds.feed_in_per_kwh)
    return min(order.price_per_kwh, bounds.retail_per_kwh)


def reference_intersection(
    orders: Sequence[Order], bounds: PriceBounds | None = None
) -> tuple[int, int | None, int | None]:
    """(V, marginal ask, marginal bid) by searching every price on the book."""
    asks = [(_effective_price(o, bounds), o.energy_wh) for o in orders if o.side is Side.SELL]
    bids = [(_effective_price(o, bounds), o.energy_wh) for o in orders if o.side is Side.BUY]

    def supply(q: int) -> int:
        return sum(wh for price, wh in asks if price <= q)

    def demand(q: int) -> int:
        return sum(wh for price, wh in bids if price >= q)

    grid = sorted({price for price, _ in asks} | {price for price, _ in bids})
    volume_wh = max((min(supply(q), demand(q)) for q in grid), default=0)
    if volume_wh == 0:
        return 0, None, None
    # The V-th Wh of supply is priced at the lowest ask where supply reaches V; the V-th Wh
    # of demand at the highest bid where demand still reaches V.
    marginal_ask = min(price for price, _ in asks if supply(price) >= volume_wh)
    marginal_bid = max(price for price, _ in bids if demand(price) >= volume_wh)
    return volume_wh, marginal_ask, marginal_bid


def reference_clear(
    orders: Sequence[Order],
    mechanism: Mechanism = Mechanism.PAY_AS_CLEAR,
    bounds: PriceBounds | None = None,
) -> ClearingResult:
    """Clear like `double_auction.clear`, the slow and literal way."""
    sells = sorted(
        (o for o in orders if o.side is Side.SELL),
        key=lambda o: (_effective_price(o, bounds), o.id),
    )
    buys = sorted(
        (o for o in orders if o.side is Side.BUY),
        key=lambda o: (-_effective_price(o, bounds), o.id),
    )
    price: int | None = None
    if mechanism is Mechanism.PAY_AS_CLEAR:
        _volume_wh, ask, bid = reference_intersection(orders, bounds)
        if ask is None or bid is None:
            return ClearingResult(None, ())
        price = (ask + bid) // 2
        sells = [o for o in sells if _effective_price(o, bounds) <= price]
        buys = [o for o in buys if _effective_price(o, bounds) >= price]
    left = {o.id: o.energy_wh for o in buys}
    trades: list[Trade] = []
    for sell in sells:
        sell_left = sell.energy_wh
        ask = _effective_price(sell, bounds)
        while sell_left > 0:
            # The best-ranked buy of another household that still wants energy.
            candidates = [b for b in buys if left[b.id] > 0 and b.household != sell.household]
            if not candidates or _effective_price(candidates[0], bounds) < ask:
                break
            buy = candidates[0]
            step_wh = min(sell_left, left[buy.id])
            trade_price = price if price is not None else _effective_price(buy, bounds)
            trades.append(Trade(sell.id, buy.id, step_wh, trade_price))
            sell_left -= step_wh
            left[buy.id] -= step_wh
    return ClearingResult(price if trades else None, tuple(trades))

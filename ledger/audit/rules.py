"""The market's rules recomputed off-chain, as pure functions over plain values.

These mirror QuartierMarket (see the NatSpec of IQuartierMarket): the commitment hash, the
escrow lock, the pro-rata delivery rule and the payment rounding. The audit compares what
they give with what the contract recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from ledger.audit.model import BookOrder, ClearedTrade, ClearingRule
from ledger.orders import (
    Order,
    Side,
    Trade,
    lock_units,
    order_digest,
    order_struct_hash,
    payment_units,
)


def commitment_of(interval_id: int, orders: Sequence[Order], trades: Sequence[Trade]) -> bytes:
    """The market's commitment of an interval.

    keccak256(abi.encode(intervalId, keccak256(packed order struct hashes),
    keccak256(abi.encode(trades)))).
    """
    orders_hash = keccak(b"".join(order_struct_hash(order) for order in orders))
    trades_hash = keccak(
        abi_encode(["(uint32,uint32,uint64,uint64)[]"], [[trade.as_abi() for trade in trades]])
    )
    return keccak(
        abi_encode(["uint64", "bytes32", "bytes32"], [interval_id, orders_hash, trades_hash])
    )


@dataclass(frozen=True)
class Settled:
    """The recomputed settlement of one trade."""

    delivered_wh: int
    payment_units: int


def settle(
    orders: Sequence[Order],
    trades: Sequence[Trade],
    exported_wh: Mapping[str, int],
    imported_wh: Mapping[str, int],
) -> list[Settled]:
    """Per trade: d = min(floor(e*X_s/sold_s), floor(e*Y_b/bought_b)), pay floor(d*price/1000).

    X_s = min(exported_s, sold_s), Y_b = min(imported_b, bought_b); households missing from
    the energy maps count as 0 Wh.
    """
    sold: Counter[str] = Counter()
    bought: Counter[str] = Counter()
    for trade in trades:
        sold[orders[trade.sell_order_index].household] += trade.energy_wh
        bought[orders[trade.buy_order_index].household] += trade.energy_wh
    result = []
    for trade in trades:
        seller = orders[trade.sell_order_index].household
        buyer = orders[trade.buy_order_index].household
        by_seller = trade.energy_wh * min(exported_wh.get(seller, 0), sold[seller]) // sold[seller]
        by_buyer = trade.energy_wh * min(imported_wh.get(buyer, 0), bought[buyer]) // bought[buyer]
        delivered_wh = min(by_seller, by_buyer)
        result.append(Settled(delivered_wh, payment_units(delivered_wh, trade.price_per_kwh)))
    return result


def locks(orders: Sequence[Order], trades: Sequence[Trade]) -> dict[int, int]:
    """Escrow locked per buy order index: ceil(Σ energy_wh * price_per_kwh / 1000)."""
    filled: dict[int, list[tuple[int, int]]] = {}
    for trade in trades:
        filled.setdefault(trade.buy_order_index, []).append((trade.energy_wh, trade.price_per_kwh))
    return {index: lock_units(filled[index]) for index in sorted(filled)}


def book_of(orders: Sequence[Order], chain_id: int, market: str) -> list[BookOrder]:
    """The committed orders as the clearing rule takes them, id = 0x EIP-712 digest."""
    return [
        BookOrder(
            "0x" + order_digest(order, chain_id, market).hex(),
            order.household,
            int(order.side),
            order.energy_wh,
            order.price_per_kwh,
        )
        for order in orders
    ]


def reclear(
    rule: ClearingRule, book: Sequence[BookOrder]
) -> tuple[list[Trade] | None, list[ClearedTrade]]:
    """Run the rule; returns its trades as committed-index trades (None if one names an
    order outside the book) and the raw trades."""
    index = {order.id: i for i, order in enumerate(book)}
    raw = list(rule(book))
    trades = []
    for trade in raw:
        if trade.sell_id not in index or trade.buy_id not in index:
            return None, raw
        trades.append(
            Trade(index[trade.sell_id], index[trade.buy_id], trade.energy_wh, trade.price_per_kwh)
        )
    return trades, raw


def same_trades(a: Sequence[Trade], b: Sequence[Trade]) -> bool:
    """Equal as multisets: the order trades are listed in carries no meaning for settlement."""
    return sorted(t.as_abi() for t in a) == sorted(t.as_abi() for t in b)


def offered_wh(orders: Sequence[Order]) -> int:
    """Energy offered for sale in a book."""
    return sum(order.energy_wh for order in orders if order.side is Side.SELL)


def average_price_per_kwh(trades: Sequence[Trade]) -> int | None:
    """Volume-weighted price of the trades, rounded down (the uniform price under pay-as-clear)."""
    volume_wh = sum(trade.energy_wh for trade in trades)
    if volume_wh == 0:
        return None
    return sum(trade.energy_wh * trade.price_per_kwh for trade in trades) // volume_wh

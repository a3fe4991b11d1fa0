"""Book files: the JSON an auditor feeds to `quartier market clear`, and its result.

Input::

    {"interval_id": int, "orders": [{"id": str, "household": str, "side": "sell"|"buy",
                                     "energy_wh": int, "price_per_kwh": int}, ...]}

Extra keys (a signature, a nonce) are ignored. Anything else wrong raises `BookFileError`
with one line naming the order (by position and id) and the field.
Output: {"clearing_price_per_kwh": int|null, "trades": [{"sell_id", "buy_id", "energy_wh",
"price_per_kwh"}, ...]}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.matching.errors import BookFileError
from api.matching.orders import ClearingResult, Order, Side

_SIDES = {side.value: side for side in Side}


@dataclass(frozen=True, slots=True)
class Book:
    """One interval's orders as read from a book file."""

    interval_id: int
    orders: tuple[Order, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _order(position: int, raw: object, seen: dict[str, int]) -> Order:
    where = f"order #{position}"
    if not isinstance(raw, dict):
        raise BookFileError(f"{where}: must be a JSON object, got {type(raw).__name__}")
    order_id = raw.get("id")
    if isinstance(order_id, str) and order_id:
        where = f"order #{position} (id {order_id!r})"
    for name in ("id", "household", "side", "energy_wh", "price_per_kwh"):
        if name not in raw:
            raise BookFileError(f"{where}: missing field {name!r}")
    for name in ("id", "household"):
        if not isinstance(raw[name], str) or not raw[name]:
            raise BookFileError(f"{where}: field {name!r} must be a non-empty string")
    if raw["side"] not in _SIDES:
        raise BookFileError(f"{where}: field 'side' must be 'sell' or 'buy', got {raw['side']!r}")
    energy_wh, price = raw["energy_wh"], raw["price_per_kwh"]
    if not _is_int(energy_wh) or energy_wh <= 0:
        raise BookFileError(
            f"{where}: field 'energy_wh' must be a positive integer, got {energy_wh!r}"
        )
    if not _is_int(price) or price < 0:
        raise BookFileError(
            f"{where}: field 'price_per_kwh' must be a non-negative integer, got {price!r}"
        )
    order_id = raw["id"]
    if order_id in seen:
        raise BookFileError(f"{where}: field 'id' duplicates order #{seen[order_id]}")
    seen[order_id] = position
    return Order(order_id, raw["household"], _SIDES[raw["side"]], energy_wh, price)


def parse_book(document: Any) -> Book:
    """Validate a decoded JSON book and turn it into a `Book`."""
    if not isinstance(document, dict):
        raise BookFileError("book: must be a JSON object with 'interval_id' and 'orders'")
    for name in ("interval_id", "orders"):
        if name not in document:
            raise BookFileError(f"book: missing field {name!r}")
    interval_id = document["interval_id"]
    if not _is_int(interval_id) or interval_id < 0:
        raise BookFileError(
            f"book: field 'interval_id' must be a non-negative integer, got {interval_id!r}"
        )
    if not isinstance(document["orders"], list):
        raise BookFileError("book: field 'orders' must be a list")
    seen: dict[str, int] = {}
    orders = tuple(_order(n, raw, seen) for n, raw in enumerate(document["orders"]))
    return Book(interval_id, orders)


def read_book(path: Path) -> Book:
    """Read and validate a book file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BookFileError(f"cannot read book file {str(path)!r}: {error}") from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BookFileError(f"book file {str(path)!r} is not valid JSON: {error}") from error
    return parse_book(document)


def result_to_json(result: ClearingResult) -> dict[str, Any]:
    """The fixed output shape of `quartier market clear --json`."""
    return {
        "clearing_price_per_kwh": result.clearing_price_per_kwh,
        "trades": [
            {
                "sell_id": trade.sell_id,
                "buy_id": trade.buy_id,
                "energy_wh": trade.energy_wh,
                "price_per_kwh": trade.price_per_kwh,
            }
            for trade in result.trades
        ],
    }

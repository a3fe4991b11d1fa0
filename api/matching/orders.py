"""Value types of the clearing engine: orders in, trades out.

Everything here is a frozen dataclass over integers and strings: no floats, no I/O, no
database or chain types, so a clearing is a pure function an auditor can re-run anywhere.
Units follow the project rule: energy in watt-hours (`*_wh`), prices in settlement-token
base units per kWh (`price_per_kwh`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from api.matching.errors import InvalidOrderError


class Side(enum.Enum):
    """Which side of the book an order is on (values as in book files)."""

    SELL = "sell"
    BUY = "buy"


class Mechanism(enum.Enum):
    """How matched energy is priced (values as on the command line)."""

    #: One uniform price for every trade (the default).
    PAY_AS_CLEAR = "pay-as-clear"
    #: Every trade at the buyer's own limit price.
    PAY_AS_BID = "pay-as-bid"


def _is_int(value: object) -> bool:
    # bool is a subclass of int; `True` Wh is a bug, not an amount.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Order:
    """One limit order for one interval.

    `id` is the order's identity and its tie-break key: the API uses the hex EIP-712 order
    hash, book files any unique string. A sell's `price_per_kwh` is the least it accepts, a
    buy's the most it pays.
    """

    id: str
    household: str
    side: Side
    energy_wh: int
    price_per_kwh: int

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidOrderError(f"order id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.household, str) or not self.household:
            raise InvalidOrderError(f"order {self.id!r}: household must be a non-empty string")
        if not isinstance(self.side, Side):
            raise InvalidOrderError(f"order {self.id!r}: side must be a Side, got {self.side!r}")
        if not _is_int(self.energy_wh) or self.energy_wh <= 0:
            raise InvalidOrderError(
                f"order {self.id!r}: energy_wh must be a positive integer, got {self.energy_wh!r}"
            )
        if not _is_int(self.price_per_kwh) or self.price_per_kwh < 0:
            raise InvalidOrderError(
                f"order {self.id!r}: price_per_kwh must be a non-negative integer,"
                f" got {self.price_per_kwh!r}"
            )


@dataclass(frozen=True, slots=True)
class Trade:
    """Energy moved from one sell order to one buy order at one price."""

    sell_id: str
    buy_id: str
    energy_wh: int
    price_per_kwh: int


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """The outcome of clearing one book.

    `clearing_price_per_kwh` is the uniform price under pay-as-clear when at least one trade
    happened, else None (always None under pay-as-bid, where each trade has its own price).
    """

    clearing_price_per_kwh: int | None
    trades: tuple[Trade, ...]

    @property
    def volume_wh(self) -> int:
        """Total traded energy."""
        return sum(trade.energy_wh for trade in self.trades)


@dataclass(frozen=True, slots=True)
class PriceBounds:
    """The community's fallback prices, which bound the market.

    A seller can always sell to the grid at `feed_in_per_kwh` and a buyer can always buy at
    `retail_per_kwh`, so the engine treats a lower ask as `feed_in_per_kwh` and a higher bid
    as `retail_per_kwh` (see `api.matching.double_auction`).
    """

    feed_in_per_kwh: int
    retail_per_kwh: int

    def __post_init__(self) -> None:
        if not _is_int(self.feed_in_per_kwh) or self.feed_in_per_kwh < 0:
            raise InvalidOrderError("feed_in_per_kwh must be a non-negative integer")
        if not _is_int(self.retail_per_kwh) or self.retail_per_kwh < self.feed_in_per_kwh:
            raise InvalidOrderError("retail_per_kwh must be an integer >= feed_in_per_kwh")

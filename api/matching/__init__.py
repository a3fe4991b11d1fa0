"""The pure clearing engine: orders in, trades out (no database, no chain, no web).

`clear` runs the double auction (pay-as-clear or pay-as-bid, see `double_auction` for the
exact rules); `allocate` / `clear_by_allocation_key` apply the regulator's allocation keys.
"""

from api.matching.allocation import (
    Allocation,
    AllocationKey,
    EqualSplit,
    FixedShares,
    ProRataConsumption,
    allocate,
    clear_by_allocation_key,
)
from api.matching.double_auction import Intersection, clear, intersection, uniform_price
from api.matching.errors import (
    BookFileError,
    InvalidAllocationError,
    InvalidOrderError,
    MatchingError,
)
from api.matching.orders import ClearingResult, Mechanism, Order, PriceBounds, Side, Trade

__all__ = [
    "Allocation",
    "AllocationKey",
    "BookFileError",
    "ClearingResult",
    "EqualSplit",
    "FixedShares",
    "Intersection",
    "InvalidAllocationError",
    "InvalidOrderError",
    "MatchingError",
    "Mechanism",
    "Order",
    "PriceBounds",
    "ProRataConsumption",
    "Side",
    "Trade",
    "allocate",
    "clear",
    "clear_by_allocation_key",
    "intersection",
    "uniform_price",
]

"""Hypothesis strategies for order books (imported by the matching tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from api.matching import Order, PriceBounds, Side

# Few households and a narrow price range, so self-trades and price ties are common.
HOUSEHOLDS = ("h-a", "h-b", "h-c", "h-d")
prices = st.integers(min_value=0, max_value=60)
energies = st.integers(min_value=1, max_value=3_000)


@st.composite
def books(
    draw: st.DrawFn, max_orders: int = 14, one_side_per_household: bool = False
) -> list[Order]:
    """A book with unique ids; optionally no household on both sides."""
    ids = draw(
        st.lists(
            st.text(alphabet="0123456789abcdef", min_size=1, max_size=4),
            unique=True,
            max_size=max_orders,
        )
    )
    orders = []
    for order_id in ids:
        side = draw(st.sampled_from(Side))
        household = draw(st.sampled_from(HOUSEHOLDS))
        if one_side_per_household:
            household = f"{side.value}-{household}"
        orders.append(Order(order_id, household, side, draw(energies), draw(prices)))
    return orders


@st.composite
def bounds_or_none(draw: st.DrawFn) -> PriceBounds | None:
    """No bounds, or feed-in <= retail drawn inside the order price range."""
    if draw(st.booleans()):
        return None
    low, high = sorted((draw(prices), draw(prices)))
    return PriceBounds(feed_in_per_kwh=low, retail_per_kwh=high)

"""A member's own limit prices, so that trading can never leave it worse off than alone.

Under the bill rule (`api.economics.bill`) a kWh bought from a neighbour at price p saves
E x (1 + v) - p (the supplier's energy with its VAT; network and taxes stay), and a kWh sold
to one at p earns p - I more than injecting it. So a member bids at most E x (1 + v) and asks
at least I. Both keep MARGIN_PER_KWH on their side: settlement rounds each household's
change of a period down to a whole unit (the remainder goes to the settler, < 1 unit), and
any trade delivers >= 1 Wh, which at MARGIN_PER_KWH = 1,000 units/kWh is worth >= 1 unit.
Hence a member's saving of a period is >= 0 whatever the clearing price inside the limits.
The community's on-chain floor and ceiling bound every member; these limits sit within them
(None: this member cannot trade in that quarter-hour at any price the chain allows).
"""

from __future__ import annotations

from api.economics.tariff import Prices

#: What a member keeps below its energy price and above its injection price (0.1 cent/kWh):
#: it covers the chain's rounding of a period's change (see the module docstring).
MARGIN_PER_KWH = 1_000


def highest_bid_per_kwh(prices: Prices, floor_per_kwh: int, ceiling_per_kwh: int) -> int | None:
    """The most the member pays a neighbour for a kWh (None: not even the chain's floor)."""
    energy_with_vat = prices.energy_per_kwh * (100 + prices.vat_percent) // 100
    bid = min(ceiling_per_kwh, energy_with_vat - MARGIN_PER_KWH)
    return bid if bid >= floor_per_kwh else None


def lowest_ask_per_kwh(prices: Prices, floor_per_kwh: int, ceiling_per_kwh: int) -> int | None:
    """The least the member accepts for a kWh (None: more than the chain's ceiling)."""
    ask = max(floor_per_kwh, prices.injection_per_kwh + MARGIN_PER_KWH)
    return ask if ask <= ceiling_per_kwh else None

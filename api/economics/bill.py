"""The Walloon bill rule: a member's bill without the community and with it.

Per quarter-hour k a member's meter takes `offtake_wh` from the grid and feeds `injection_wh`
into it; of those, `bought_wh` came from neighbours and `sold_wh` went to them (settlement:
bought <= offtake, sold <= injection). Its prices for k (`Tariff.prices`, local time) are the
supplier's energy E, the network N (distribution + transmission) and the taxes T per kWh, all
excluding VAT at v %, and the injection price I (no VAT, may be negative).

- Without the community: Σ offtake x (E + N + T) x (1 + v) - Σ injection x I.
- With it (CWaPE: network costs, taxes and surcharges are due on shared electricity like on
  any kWh taken from the grid): a kWh bought from a neighbour displaces only the supplier's
  energy E; N, T and VAT stay on every kWh of offtake, except that sharing inside one
  building takes `in_building_discount_percent` off N of the shared kWh (with its VAT). A
  kWh sold to a neighbour is no longer sold to the supplier at I. What neighbours paid or
  were paid is the settlement's change (integer units, as the chain settled it: received
  from sellers' buyers minus paid to sellers; VAT-free, between private members):
      Σ (offtake - bought) x E x (1 + v) + Σ offtake x (N + T) x (1 + v)
      - Σ bought x N x discount x (1 + v) - Σ (injection - sold) x I - change.
- network_and_taxes: Σ offtake x (N + T) x (1 + v), less the in-building discount: the
  part of the bill with the community that no sharing between houses changes.

Integers: every product Wh x units/kWh x percent x percent is exact at SCALE (10^7 per unit).
Each bill is rounded once, up to the next whole unit (towards +infinity), after summing the
member's whole window; one monotone rounding, so bill_with <= bill_without whenever the exact
amounts are so, and savings = bill_without - bill_with exactly. Fixed yearly terms are not
billed here (no kWh shared changes them).

Capacity charge (`api.economics.capacity`, a DSO whose tariff has `capacity_per_kw_year`,
e.g. Flanders): billed on each month's peak of the member's meter, which no sharing moves,
so the same whole units (rounded up on their own) are added to both bills and to
network_and_taxes; savings are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.economics.capacity import capacity_charge
from api.economics.errors import FlowsError
from api.economics.tariff import Member, Tariff

#: Wh -> kWh (1000) x percent (100) x percent (100): every term is an integer at this scale.
SCALE = 10_000_000
_PERCENT = 100


@dataclass(frozen=True)
class IntervalFlows:
    """One quarter-hour of one member, from `start` (unix seconds, UTC)."""

    start: int
    offtake_wh: int
    injection_wh: int
    bought_wh: int = 0
    sold_wh: int = 0

    def check(self) -> None:
        values = (self.offtake_wh, self.injection_wh, self.bought_wh, self.sold_wh)
        if min(values) < 0:
            raise FlowsError(f"negative energy in the quarter-hour at {self.start}: {values}")
        if self.bought_wh > self.offtake_wh or self.sold_wh > self.injection_wh:
            raise FlowsError(
                f"the quarter-hour at {self.start} shares more than its meter measured: "
                f"bought {self.bought_wh} of {self.offtake_wh} Wh taken, "
                f"sold {self.sold_wh} of {self.injection_wh} Wh fed in"
            )


@dataclass(frozen=True)
class Bill:
    """A member's bills over a window, token units (positive: the member pays)."""

    without_units: int
    with_units: int
    network_and_taxes_units: int
    #: The capacity charge inside each of the three (0 where the DSO bills none).
    capacity_units: int = 0

    @property
    def savings_units(self) -> int:
        return self.without_units - self.with_units


def _round_up(scaled: int) -> int:
    return -(-scaled // SCALE)


def member_bill(
    tariff: Tariff, member: Member, flows: Sequence[IntervalFlows], change_units: int
) -> Bill:
    """The member's bills over `flows` (see the module docstring); `change_units` is what
    settlement gave it for its trades with neighbours (negative: it paid)."""
    tariff.check_member(member)
    alone = shared = network_and_taxes = 0
    for flow in flows:
        flow.check()
        prices = tariff.prices(member, flow.start)
        vat = _PERCENT + prices.vat_percent
        grid_costs = prices.network_per_kwh + prices.taxes_per_kwh
        injection = prices.injection_per_kwh * _PERCENT * _PERCENT
        alone += flow.offtake_wh * (prices.energy_per_kwh + grid_costs) * vat * _PERCENT
        alone -= flow.injection_wh * injection
        discount = 0
        if member.in_building:
            discount = (
                flow.bought_wh * prices.network_per_kwh * prices.in_building_discount_percent * vat
            )
        costs = flow.offtake_wh * grid_costs * vat * _PERCENT - discount
        network_and_taxes += costs
        shared += (flow.offtake_wh - flow.bought_wh) * prices.energy_per_kwh * vat * _PERCENT
        shared += costs - (flow.injection_wh - flow.sold_wh) * injection
    shared -= change_units * SCALE
    capacity = capacity_charge(tariff, member, flows).units
    return Bill(
        without_units=_round_up(alone) + capacity,
        with_units=_round_up(shared) + capacity,
        network_and_taxes_units=_round_up(network_and_taxes) + capacity,
        capacity_units=capacity,
    )

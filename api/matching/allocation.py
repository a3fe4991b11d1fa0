"""Allocation-key sharing: the Walloon regulator's standard keys, in integer Wh.

In a sharing community the grid operator splits the energy the producers injected among
the consumers with a key: equal shares (`EqualSplit`), fixed per-member shares
(`FixedShares`, e.g. percentages or basis points) or pro rata of consumption
(`ProRataConsumption`). Every Wh is accounted for:

* **Largest remainder.** A pool of P Wh split by weights w_i (W = sum) gives each member
  floor(P * w_i / W); the Wh left over go one each to the largest remainders
  (P * w_i mod W), ties to the smaller member id. So the quotas sum to P exactly.
* **Never above demand; leftovers re-distributed.** A member whose quota covers its
  demand gets exactly its demand; what remains is split again, by the same key and from
  scratch, among the members still short (water-filling). When every member with a
  non-zero weight is served, what remains is `returned_wh` (it goes to the grid at the
  feed-in price). So sum(allocated) + returned == available, and sum(allocated) equals
  min(available, sum of demand of members with a non-zero weight).

`clear_by_allocation_key` turns this into trades at one community price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from api.matching.double_auction import RankedSide, pair_orders, rank_orders
from api.matching.errors import InvalidAllocationError
from api.matching.orders import ClearingResult, Order


@dataclass(frozen=True, slots=True)
class EqualSplit:
    """Every consuming member weighs the same."""


@dataclass(frozen=True, slots=True)
class FixedShares:
    """Per-member integer weights (percent, basis points, ...); absent members weigh 0."""

    weights: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for member, weight in self.weights.items():
            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                raise InvalidAllocationError(
                    f"member {member!r}: weight must be a non-negative integer, got {weight!r}"
                )


@dataclass(frozen=True, slots=True)
class ProRataConsumption:
    """Members weigh what they consume in the interval."""


AllocationKey = EqualSplit | FixedShares | ProRataConsumption


@dataclass(frozen=True, slots=True)
class Allocation:
    """Who gets how much of the shared energy; `allocated_wh` is sorted by member."""

    allocated_wh: tuple[tuple[str, int], ...]
    returned_wh: int

    @property
    def total_allocated_wh(self) -> int:
        """Sum of all allocations."""
        return sum(wh for _, wh in self.allocated_wh)


def _weight(key: AllocationKey, member: str, demand_wh: int) -> int:
    if isinstance(key, EqualSplit):
        return 1
    if isinstance(key, FixedShares):
        return key.weights.get(member, 0)
    return demand_wh


def split_largest_remainder(pool_wh: int, weights: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Split `pool_wh` by integer weights, exactly, with the largest-remainder rule.

    `weights` must be sorted by member id and have a positive total.
    """
    total = sum(weight for _, weight in weights)
    quotas = {member: pool_wh * weight // total for member, weight in weights}
    leftover = pool_wh - sum(quotas.values())
    # Largest remainder first, then the smaller member id (the sort is stable).
    by_remainder = sorted(weights, key=lambda mw: -(pool_wh * mw[1] % total))
    for member, _ in by_remainder[:leftover]:
        quotas[member] += 1
    return quotas


def allocate(available_wh: int, demands_wh: Mapping[str, int], key: AllocationKey) -> Allocation:
    """Split `available_wh` among members with the given demand, by `key` (module rules)."""
    if not isinstance(available_wh, int) or isinstance(available_wh, bool) or available_wh < 0:
        raise InvalidAllocationError(
            f"available_wh must be a non-negative integer, got {available_wh!r}"
        )
    for member, demand in demands_wh.items():
        if not isinstance(demand, int) or isinstance(demand, bool) or demand < 0:
            raise InvalidAllocationError(
                f"member {member!r}: demand_wh must be a non-negative integer, got {demand!r}"
            )
    given = dict.fromkeys(sorted(demands_wh), 0)
    to_share_wh = available_wh
    short = [m for m in given if demands_wh[m] > 0 and _weight(key, m, demands_wh[m]) > 0]
    # Water-filling: members whose quota covers their demand get exactly their demand and
    # leave; the rest is split again *from scratch* among the others, so remainders do not
    # pile up on the same member round after round. At most one round per member.
    while short:
        weights = [(m, _weight(key, m, demands_wh[m])) for m in short]
        quotas = split_largest_remainder(to_share_wh, weights)
        full = {m for m in short if quotas[m] >= demands_wh[m]}
        if not full:
            given.update(quotas)
            to_share_wh = 0
            break
        for member in full:
            given[member] = demands_wh[member]
            to_share_wh -= demands_wh[member]
        short = [m for m in short if m not in full]
    return Allocation(tuple(given.items()), to_share_wh)


def clear_by_allocation_key(
    orders: Iterable[Order], key: AllocationKey, community_price_per_kwh: int
) -> ClearingResult:
    """Share the sellers' energy among the buyers by `key`, every trade at the community price.

    Only orders that accept the community price take part (sells asking <= it, buys bidding
    >= it). The shared pool is the participating sell volume; buyer households' demand is
    the sum of their participating buys; a household's allocation fills its buys in rank
    order (id). Sells are then paired with those allocated volumes by the double auction's
    pairing rule (rank order, no self-trade); energy a household could only have bought from
    itself stays unmatched (returned to the grid).
    """
    if community_price_per_kwh < 0:
        raise InvalidAllocationError("community_price_per_kwh must be non-negative")
    sells, buys = rank_orders(orders, None)
    n_sells = sum(1 for price in sells.prices if price <= community_price_per_kwh)
    n_buys = sum(1 for price in buys.prices if price >= community_price_per_kwh)
    demands_wh: dict[str, int] = {}
    for j in range(n_buys):
        demands_wh[buys.households[j]] = demands_wh.get(buys.households[j], 0) + buys.volumes[j]
    allocation = allocate(sum(sells.volumes[:n_sells]), demands_wh, key)
    granted_wh = dict(allocation.allocated_wh)
    # Within a household, its buys are filled in id order (all share the community price).
    take_wh = [0] * n_buys
    for j in sorted(range(n_buys), key=lambda j: buys.ids[j]):
        household = buys.households[j]
        take_wh[j] = min(buys.volumes[j], granted_wh[household])
        granted_wh[household] -= take_wh[j]
    served = [j for j in range(n_buys) if take_wh[j] > 0]
    allocated_buys = RankedSide(
        [buys.ids[j] for j in served],
        [buys.households[j] for j in served],
        [buys.prices[j] for j in served],
        [take_wh[j] for j in served],
    )
    trades = pair_orders(sells, n_sells, allocated_buys, len(served), community_price_per_kwh)
    return ClearingResult(community_price_per_kwh if trades else None, tuple(trades))

"""CWaPE allocation keys: how a quarter-hour's injected energy is shared among the members.

A key is a cascade of 1 to 3 iterations, each with its own rule: `equal` (every member the
same weight), `fixed` (a percentage per member) or `pro-rata` (weight = the member's offtake
still uncovered). What an iteration leaves unallocated (a member's share beyond its offtake)
goes to the next one; what the last leaves is not shared (it is sold to the grid). A key is
valid from one Brussels date to another (both included).

The rule, per quarter-hour, for each iteration, producer by producer (members' order):
- the producer p shares what is left of its injection r_p among the others (nobody shares
  with itself): the members c != p with weight w_c > 0, and from the second iteration on only
  those whose offtake is not yet covered (u_c > 0);
- c gets s_c = min(u_c, floor(r_p * w_c / W)), W the sum of those weights; the Wh the floors
  leave (floor(r_p * W' / W) - sum of the floors, W' the weights of the members not capped)
  go 1 Wh each to the uncapped members with the largest remainder r_p * w_c mod W (ties: the
  member first in the community's order), never past u_c.
Hence, exactly and in integer Wh: every member receives at most its offtake, every producer
shares at most its injection, what is received equals what is shared, and a quarter-hour
whose offtake covers every share allocates the producer's whole injection.

On chain the same rule is QuartierSharingKeys.allocate (contracts/libraries/SharingKeys.sol,
stated in IQuartierSharingKeys; tests/integration/test_sharing_keys_parity.py holds them
equal), with keys valid by period rather than by date (ledger.sharing_keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ledger.dso.errors import KeyConfigError

#: A fixed key's shares are in basis points (hundredths of a percent): 100 % = 10,000.
FULL_SHARE_BP = 10_000
MAX_ITERATIONS = 3


class KeyRule(StrEnum):
    """One iteration's rule."""

    EQUAL = "equal"
    FIXED = "fixed"
    PRO_RATA = "pro-rata"


@dataclass(frozen=True)
class AllocationKey:
    """A cascade of 1-3 rules valid from `valid_from` to `valid_until` (None: no end).

    `shares_bp[i]` is member i's share under a `fixed` rule (members in the community's
    order; the shares sum to FULL_SHARE_BP)."""

    valid_from: date
    valid_until: date | None
    cascade: tuple[KeyRule, ...]
    shares_bp: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= len(self.cascade) <= MAX_ITERATIONS:
            raise KeyConfigError(f"a cascade has 1 to {MAX_ITERATIONS} iterations")
        if KeyRule.FIXED in self.cascade and sum(self.shares_bp) != FULL_SHARE_BP:
            raise KeyConfigError("a fixed key's shares add up to 100 %")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise KeyConfigError("a key's validity ends before it starts")

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


@dataclass(frozen=True)
class Allocation:
    """One quarter-hour shared: per member (community order) what it received from the others
    and how much of its own injection went to them; `flows` as (producer, consumer, Wh)."""

    received_wh: tuple[int, ...]
    shared_injection_wh: tuple[int, ...]
    flows: tuple[tuple[int, int, int], ...]


def key_in_force(keys: Sequence[AllocationKey], day: date) -> AllocationKey:
    """The key valid on `day` (Brussels date); KeyConfigError when none is."""
    for key in keys:
        if key.in_force(day):
            return key
    raise KeyConfigError(f"no allocation key is in force on {day.isoformat()}")


def allocate(
    key: AllocationKey, offtake_wh: Sequence[int], injection_wh: Sequence[int]
) -> Allocation:
    """Share one quarter-hour's injection by `key` (see the module docstring)."""
    count = len(offtake_wh)
    if len(injection_wh) != count or (key.shares_bp and len(key.shares_bp) != count):
        raise KeyConfigError("offtake, injection and shares must name the same members")
    left = list(offtake_wh)  # u_c: offtake not yet covered
    pool = list(injection_wh)  # r_p: injection not yet shared
    received = [0] * count
    shared = [0] * count
    flows: list[tuple[int, int, int]] = []
    for iteration, rule in enumerate(key.cascade):
        for p in range(count):
            if pool[p] <= 0:
                continue
            weights = _weights(rule, key.shares_bp, left)
            given = _share_one(p, pool[p], weights, left, first=iteration == 0)
            for c, wh in given:
                left[c] -= wh
                received[c] += wh
                flows.append((p, c, wh))
                pool[p] -= wh
                shared[p] += wh
    return Allocation(tuple(received), tuple(shared), tuple(flows))


def _weights(rule: KeyRule, shares_bp: Sequence[int], left: Sequence[int]) -> Sequence[int]:
    if rule is KeyRule.EQUAL:
        return [1] * len(left)
    if rule is KeyRule.FIXED:
        return shares_bp
    return left


def _share_one(
    p: int, energy: int, weights: Sequence[int], left: Sequence[int], first: bool
) -> list[tuple[int, int]]:
    """(member, Wh) that producer p gives of `energy` in one iteration."""
    eligible = [
        c for c in range(len(weights)) if c != p and weights[c] > 0 and (first or left[c] > 0)
    ]
    total = sum(weights[c] for c in eligible)
    if total == 0:
        return []
    given: dict[int, int] = {}
    uncapped_weight = 0
    remainders: list[tuple[int, int]] = []
    for c in eligible:
        raw = energy * weights[c]
        floor = raw // total
        if floor >= left[c]:
            given[c] = left[c]
        else:
            given[c] = floor
            uncapped_weight += weights[c]
            remainders.append((-(raw % total), c))
    extra = energy * uncapped_weight // total - sum(given[c] for _, c in remainders)
    remainders.sort()
    for _, c in remainders[:extra]:
        given[c] += 1  # below left[c]: floor < left[c]
    return [(c, wh) for c, wh in given.items() if wh > 0]

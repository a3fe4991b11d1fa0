"""One period's settlement (IQuartierExchange, "Settlement of period P"): the entry point.

`settle_period` orders the households by address (h = position, as the settler must supply
them), builds each interval's book, clears it, nets it against the meters, and sums the
money per household: change = floor(net / 1000), the rounding remainder to the settler.
It also returns the `hints` bytes `settlePeriod` needs and the PeriodCleared `intervals`
bytes, so a caller can post the one and compare the other with the contract's event.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from api.settlement.book import Book, apply_membership, period_books, period_entries
from api.settlement.clearing import Clearing, claim_of, clear_interval
from api.settlement.codec import encode_hints, lock_units, pack_cleared_intervals
from api.settlement.errors import InvalidHouseholdsError, InvalidMeterDataError
from api.settlement.model import UINT16_MAX, HouseholdInput, Mechanism, Rules, Side, TimeGrid
from api.settlement.netting import Netting, metered_of_period, net_interval

_SELL = int(Side.SELL)
_BUY = int(Side.BUY)


@dataclass(frozen=True, slots=True)
class IntervalSettlement:
    """One interval: its book, clearing and netting (all indexed by household index h)."""

    book: Book
    clearing: Clearing
    netting: Netting

    @property
    def interval_id(self) -> int:
        return self.book.interval_id

    @property
    def price_per_kwh(self) -> int:
        return self.clearing.price_per_kwh

    @property
    def traded_wh(self) -> int:
        return self.clearing.traded_total_wh

    @property
    def delivered_wh(self) -> int:
        return self.netting.delivered_total_wh


@dataclass(frozen=True, slots=True)
class HouseholdSettlement:
    """What HouseholdSettled reports for one household, plus its exact net in milli-units."""

    address: str
    index: int
    delivered_wh: int
    received_wh: int
    net_milli: int
    change_units: int
    released_units: int


@dataclass(frozen=True, slots=True)
class PeriodSettlement:
    """The whole period. `households` are in index order (ascending address)."""

    period_id: int
    households: tuple[HouseholdSettlement, ...]
    intervals: tuple[IntervalSettlement, ...]
    delivered_wh: int
    rounding_units: int
    hints: bytes
    cleared_intervals: bytes

    def household(self, address: str) -> HouseholdSettlement:
        """The settlement of one household by address (any hex case)."""
        wanted = address.lower()
        for settled in self.households:
            if settled.address.lower() == wanted:
                return settled
        raise KeyError(address)


def _address_value(address: str) -> int:
    if not (isinstance(address, str) and len(address) == 42 and address[:2] in ("0x", "0X")):
        raise InvalidHouseholdsError(f"{address!r} is not a 0x-prefixed 20-byte hex address")
    try:
        return int(address[2:], 16)
    except ValueError:
        raise InvalidHouseholdsError(f"{address!r} is not a hex address") from None


def order_households(households: Sequence[HouseholdInput]) -> list[HouseholdInput]:
    """The settlement order: strictly increasing addresses (h = position)."""
    if len(households) > UINT16_MAX:
        raise InvalidHouseholdsError(f"{len(households)} households: hints index with uint16")
    keyed = sorted((_address_value(hh.address), n) for n, hh in enumerate(households))
    for (before, _), (after, n) in itertools.pairwise(keyed):
        if before == after:
            raise InvalidHouseholdsError(f"{households[n].address} is listed twice")
    return [households[n] for _, n in keyed]


def settle_period(
    rules: Rules, grid: TimeGrid, period_id: int, households: Sequence[HouseholdInput]
) -> PeriodSettlement:
    """Settle period `period_id` under `rules` (= rulesAt(period_id)), bit for bit as the
    contract does. `households` are every household that posted for the period, in any
    order; each must have at least one posting."""
    ordered = order_households(households)
    count = len(ordered)
    entries = []
    imports_by_household = []
    exports_by_household = []
    released = []
    for household in ordered:
        if not household.postings:
            raise InvalidHouseholdsError(f"{household.address} has no posting for the period")
        household_entries = period_entries(household.postings, grid, period_id, rules.min_entry_wh)
        apply_membership(household_entries, household.membership, grid, period_id)
        entries.append(household_entries)
        try:
            imports, exports = metered_of_period(household.meters, grid, period_id)
        except InvalidMeterDataError as error:
            raise InvalidMeterDataError(f"{household.address}: {error}") from error
        imports_by_household.append(imports)
        exports_by_household.append(exports)
        released.append(sum(lock_units(posting.entries) for posting in household.postings))

    delivered_wh = [0] * count
    received_wh = [0] * count
    net_milli = [0] * count
    intervals: list[IntervalSettlement] = []
    for offset, book in enumerate(period_books(entries, grid, period_id)):
        clearing = clear_interval(rules, book)
        netting = net_interval(
            book,
            clearing,
            [imports[offset] for imports in imports_by_household],
            [exports[offset] for exports in exports_by_household],
        )
        sides = book.sides
        # Money moves only with delivered energy (d_h = 0 gains and pays nothing).
        for h, (d, money) in enumerate(zip(netting.delivered_wh, netting.money_milli, strict=True)):
            if d:
                if sides[h] == _SELL:
                    delivered_wh[h] += d
                else:
                    received_wh[h] += d
                net_milli[h] += money
        intervals.append(IntervalSettlement(book, clearing, netting))

    changes = [net // 1000 for net in net_milli]
    settled = tuple(
        HouseholdSettlement(
            hh.address, h, delivered_wh[h], received_wh[h], net_milli[h], changes[h], released[h]
        )
        for h, hh in enumerate(ordered)
    )
    if rules.mechanism is Mechanism.COMMUNITY_PRICE:
        hints = b""
    else:
        hints = encode_hints([claim_of(i.clearing) for i in intervals])
    cleared = pack_cleared_intervals(
        [(i.price_per_kwh, i.traded_wh, i.delivered_wh) for i in intervals]
    )
    return PeriodSettlement(
        period_id,
        settled,
        tuple(intervals),
        sum(i.delivered_wh for i in intervals),
        -sum(changes),
        hints,
        cleared,
    )

"""The book of an interval, from the households' postings (IQuartierExchange, "Schedules").

The entry of (household, k) is that of the last posting with firstIntervalId <= k; intervals
past that posting's entries have none. It counts only if the membership counts for k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.settlement.codec import unpack_entries
from api.settlement.errors import InvalidEntriesError, InvalidPostingError
from api.settlement.model import NO_ENTRY, Entry, Posting, Side, TimeGrid, Window


@dataclass(frozen=True, slots=True)
class Book:
    """One interval's book, indexed by household index h (0..H-1).

    `sides[h]` is 0 when h has no counting entry (then energy and price are 0); prices are
    the signed limits, before the floor/ceiling clamp of the clearing.
    """

    interval_id: int
    sides: tuple[int, ...]
    energies_wh: tuple[int, ...]
    prices_per_kwh: tuple[int, ...]

    @property
    def household_count(self) -> int:
        return len(self.sides)


def entry_at(postings: Sequence[Posting], interval_id: int) -> Entry:
    """The entry in force for one interval: the literal rule, for callers and tests.

    `postings` in posting order; the entry is decoded without the community's min-entry
    check (a sell or buy entry still has >= 1 Wh).
    """
    for posting in reversed(postings):
        if posting.first_interval_id <= interval_id:
            offset = interval_id - posting.first_interval_id
            raw = posting.entries[offset * 8 : offset * 8 + 8]
            if len(raw) < 8:
                return NO_ENTRY
            try:
                (side,), (energy_wh,), (price_per_kwh,) = unpack_entries(raw)
            except InvalidEntriesError as error:
                raise InvalidEntriesError(offset, error.reason) from error
            return Entry(Side(side), energy_wh, price_per_kwh)
    return NO_ENTRY


def period_entries(
    postings: Sequence[Posting], grid: TimeGrid, period_id: int, min_entry_wh: int
) -> tuple[list[int], list[int], list[int]]:
    """(sides, energies, prices) per interval of the period after every posting applied.

    Checks what the contract checked when it accepted the postings: each lies in the period,
    versions strictly increase, entries are well formed with energy >= min_entry_wh.
    """
    n = grid.period_intervals
    first_of_period = grid.first_interval(period_id)
    sides = [0] * n
    energies = [0] * n
    prices = [0] * n
    last_version = -1
    for index, posting in enumerate(postings):
        if posting.version <= last_version:
            raise InvalidPostingError(
                f"posting {index}: version {posting.version} after version {last_version}"
            )
        last_version = posting.version
        offset = posting.first_interval_id - first_of_period
        if not 0 <= offset < n:
            raise InvalidPostingError(
                f"posting {index}: interval {posting.first_interval_id} is outside"
                f" period {period_id}"
            )
        try:
            new_sides, new_energies, new_prices = unpack_entries(posting.entries, min_entry_wh)
        except InvalidEntriesError as error:
            raise InvalidPostingError(f"posting {index}: {error}") from error
        end = offset + len(new_sides)
        if end > n:
            raise InvalidPostingError(
                f"posting {index}: entries run {end - n} intervals past period {period_id}"
            )
        # Replace everything from the posting's first interval on: a shorter posting
        # cancels the tail of the earlier ones.
        tail = [0] * (n - end)
        sides[offset:] = new_sides + tail
        energies[offset:] = new_energies + tail
        prices[offset:] = new_prices + tail
    return sides, energies, prices


def apply_membership(
    entries: tuple[list[int], list[int], list[int]],
    membership: Window,
    grid: TimeGrid,
    period_id: int,
) -> None:
    """Blank, in place, the intervals for which the membership does not count."""
    sides, energies, prices = entries
    for offset, k in enumerate(grid.intervals(period_id)):
        if not membership.counts_for(grid.interval_start(k), grid.interval_end(k)):
            sides[offset] = energies[offset] = prices[offset] = 0


def period_books(
    entries_by_household: Sequence[tuple[list[int], list[int], list[int]]],
    grid: TimeGrid,
    period_id: int,
) -> list[Book]:
    """Turn per-household arrays (index order, membership applied) into per-interval books."""
    if not entries_by_household:
        return [Book(k, (), (), ()) for k in grid.intervals(period_id)]
    sides = list(zip(*(e[0] for e in entries_by_household), strict=True))
    energies = list(zip(*(e[1] for e in entries_by_household), strict=True))
    prices = list(zip(*(e[2] for e in entries_by_household), strict=True))
    return [
        Book(k, sides[offset], energies[offset], prices[offset])
        for offset, k in enumerate(grid.intervals(period_id))
    ]

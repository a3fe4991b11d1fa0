"""api.settlement.book by example: the entry in force, a period's entries after every
posting, the membership blanking, the per-interval books; each refusal names the posting
and what is wrong. Written for scripts/mutation (issue 17); the entries are written out
byte by byte here.
"""

from __future__ import annotations

import pytest

from api.settlement.book import (
    Book,
    apply_membership,
    entry_at,
    period_books,
    period_entries,
)
from api.settlement.errors import InvalidEntriesError, InvalidPostingError
from api.settlement.model import NO_ENTRY, Entry, Posting, Side, TimeGrid, Window

GRID = TimeGrid(interval_seconds=60, period_intervals=4)
PERIOD = 10
FIRST = PERIOD * 4


def sell(wh: int, price: int) -> bytes:
    return bytes([1]) + wh.to_bytes(3, "big") + price.to_bytes(4, "big")


def buy(wh: int, price: int) -> bytes:
    return bytes([2]) + wh.to_bytes(3, "big") + price.to_bytes(4, "big")


NONE = bytes(8)


def test_the_entry_in_force_is_the_last_postings_from_its_first_interval_on() -> None:
    postings = [Posting(1, FIRST, sell(10, 5) + sell(11, 6)), Posting(2, FIRST + 1, buy(7, 9))]
    assert entry_at(postings, FIRST) == Entry(Side.SELL, 10, 5)
    assert entry_at(postings, FIRST + 1) == Entry(Side.BUY, 7, 9)
    assert entry_at(postings, FIRST + 2) == NO_ENTRY  # past the last posting's entries
    assert entry_at(postings, FIRST - 1) == NO_ENTRY  # before every posting
    assert entry_at([], FIRST) == NO_ENTRY


def test_a_malformed_entry_in_force_is_named_by_its_offset_and_reason() -> None:
    bad = bytes([3]) + bytes(7)
    with pytest.raises(InvalidEntriesError) as refused:
        entry_at([Posting(1, FIRST, NONE + bad)], FIRST + 1)
    assert refused.value.entry_index == 1
    assert refused.value.reason
    assert str(refused.value) == f"entry 1: {refused.value.reason}"


def test_period_entries_apply_each_posting_and_a_shorter_one_cancels_the_tail() -> None:
    postings = [
        Posting(1, FIRST, sell(10, 5) + sell(11, 6) + sell(12, 7) + sell(13, 8)),
        Posting(3, FIRST + 1, buy(7, 9)),
    ]
    assert period_entries(postings, GRID, PERIOD, 1) == (
        [1, 2, 0, 0],
        [10, 7, 0, 0],
        [5, 9, 0, 0],
    )
    assert period_entries([], GRID, PERIOD, 1) == ([0] * 4, [0] * 4, [0] * 4)
    # A posting filling the period to its last interval exactly is inside.
    assert period_entries([Posting(1, FIRST + 3, sell(1, 1))], GRID, PERIOD, 1)[0] == [0, 0, 0, 1]


def test_period_entries_refuse_what_the_contract_refused_by_posting_and_why() -> None:
    cases = [
        (
            [Posting(2, FIRST, NONE), Posting(2, FIRST, NONE)],
            "posting 1: version 2 after version 2",
        ),
        (
            [Posting(2, FIRST, NONE), Posting(1, FIRST, NONE)],
            "posting 1: version 1 after version 2",
        ),
        ([Posting(1, FIRST - 1, NONE)], f"posting 0: interval {FIRST - 1} is outside period 10"),
        ([Posting(1, FIRST + 4, NONE)], f"posting 0: interval {FIRST + 4} is outside period 10"),
        ([Posting(1, FIRST + 3, NONE * 2)], "posting 0: entries run 1 intervals past period 10"),
        ([Posting(1, FIRST + 1, NONE * 5)], "posting 0: entries run 2 intervals past period 10"),
    ]
    for postings, message in cases:
        with pytest.raises(InvalidPostingError) as refused:
            period_entries(postings, GRID, PERIOD, 1)
        assert str(refused.value) == message
    # Version 0 first is fine (versions only need to increase).
    assert period_entries([Posting(0, FIRST, sell(1, 1))], GRID, PERIOD, 1)[0] == [1, 0, 0, 0]


def test_period_entries_refuse_an_entry_below_the_communitys_minimum() -> None:
    assert period_entries([Posting(1, FIRST, sell(5, 1))], GRID, PERIOD, 5)[1] == [5, 0, 0, 0]
    with pytest.raises(InvalidPostingError) as refused:
        period_entries([Posting(1, FIRST, NONE + sell(5, 1))], GRID, PERIOD, 6)
    assert str(refused.value).startswith("posting 0: entry 1: ")


def test_membership_blanks_exactly_the_intervals_it_does_not_count_for() -> None:
    entries = ([1, 2, 1, 2], [10, 20, 30, 40], [5, 6, 7, 8])
    start = GRID.interval_start(FIRST)
    # Admitted at the start of interval 1, removed at the end of interval 2.
    apply_membership(entries, Window(start + 60, start + 180), GRID, PERIOD)
    assert entries == ([0, 2, 1, 0], [0, 20, 30, 0], [0, 6, 7, 0])


def test_period_books_are_per_interval_and_per_household_in_index_order() -> None:
    a = ([1, 0, 0, 0], [10, 0, 0, 0], [5, 0, 0, 0])
    b = ([2, 2, 0, 0], [7, 8, 0, 0], [9, 9, 0, 0])
    books = period_books([a, b], GRID, PERIOD)
    assert books[0] == Book(FIRST, (1, 2), (10, 7), (5, 9))
    assert books[1] == Book(FIRST + 1, (0, 2), (0, 8), (0, 9))
    assert [book.interval_id for book in books] == list(range(FIRST, FIRST + 4))
    assert books[0].household_count == 2


def test_a_period_without_households_has_empty_books_for_every_interval() -> None:
    assert period_books([], GRID, PERIOD) == [Book(k, (), (), ()) for k in range(FIRST, FIRST + 4)]
    assert period_books([], GRID, PERIOD)[2].household_count == 0

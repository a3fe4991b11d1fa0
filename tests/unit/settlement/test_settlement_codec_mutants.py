"""The byte layouts of api.settlement.codec at their edges: the largest values that fit, the
first that do not, and refusals that say exactly what is wrong (a settler reads them when
the contract and the mirror disagree). Written for scripts/mutation (issue 17); the bytes
expected here are written out by hand from IQuartierExchange's layouts.
"""

from __future__ import annotations

import pytest

from api.settlement.codec import (
    decode_deltas,
    decode_entries,
    decode_hints,
    encode_deltas,
    encode_hints,
    lock_units,
    pack_cleared_intervals,
    posting_lock_units,
    unpack_cleared_intervals,
    unpack_entries,
)
from api.settlement.errors import (
    EncodingError,
    InvalidEntriesError,
    InvalidHintsError,
    InvalidMeterDataError,
)
from api.settlement.model import Entry, Posting, Side
from ledger.entries import EntriesFormatError
from ledger.entries import unpack_entries as ledger_unpack_entries

U32 = 2**32 - 1
U64 = 2**64 - 1


def test_deltas_take_uint32_and_refuse_what_does_not_fit_by_index() -> None:
    assert encode_deltas([(U32, 0), (0, U32)]) == (
        b"\xff\xff\xff\xff" + bytes(4) + bytes(4) + b"\xff\xff\xff\xff"
    )
    for bad in [(U32 + 1, 0), (0, U32 + 1), (-1, 0), (0, -1)]:
        with pytest.raises(EncodingError) as refused:
            encode_deltas([(1, 1), bad])
        assert str(refused.value) == f"deltas[1]: ({bad[0]}, {bad[1]}) not uint32"


def test_deltas_decode_to_parallel_lists_of_exactly_the_grids_length() -> None:
    data = bytes.fromhex("00000001000000020000000300000004")
    assert decode_deltas(data, 2) == ([1, 3], [2, 4])
    for length, intervals in [(15, 2), (24, 2), (8, 2)]:
        with pytest.raises(InvalidMeterDataError) as refused:
            decode_deltas(bytes(length), intervals)
        assert str(refused.value) == f"deltas are {length} bytes, expected {intervals * 8}"


def test_hints_encode_nothing_as_one_zero_byte_and_a_claim_as_tag_ask_bid() -> None:
    assert encode_hints([None, (5, 5), (0, U32)]) == (
        b"\x00" + b"\x01" + bytes.fromhex("0000000500000005") + b"\x01" + bytes(4) + b"\xff" * 4
    )
    for ask, bid in [(6, 5), (-1, 3), (0, U32 + 1)]:
        with pytest.raises(EncodingError) as refused:
            encode_hints([(ask, bid)])
        assert str(refused.value) == (f"a claim needs 0 <= ask <= bid < 2^32, not ({ask}, {bid})")


def test_hints_decode_each_interval_and_refuse_by_name() -> None:
    claim = b"\x01" + bytes.fromhex("0000000200000009")
    assert decode_hints(b"\x00" + claim, 2) == (None, (2, 9))
    assert decode_hints(b"\x01" + bytes.fromhex("0000000700000007"), 1) == ((7, 7),)
    cases = [
        (b"\x00", 2, "hints end before the claim of interval 1"),
        (b"", 1, "hints end before the claim of interval 0"),
        (b"\x00\x02", 2, "interval 1's claim has tag 2 (0 or 1)"),
        (claim[:-1], 1, "hints end inside the claim of interval 0"),
        (b"\x01" + bytes.fromhex("0000000900000002"), 1, "interval 0's claim has ask 9 > bid 2"),
        (b"\x00\x00\x00", 2, "1 bytes left after the last interval"),
        (claim + b"\x00\x00", 1, "2 bytes left after the last interval"),
    ]
    for data, intervals, message in cases:
        with pytest.raises(InvalidHintsError) as refused:
            decode_hints(data, intervals)
        assert str(refused.value) == message


def test_a_claim_exactly_filling_the_hints_is_read() -> None:
    # The bound check is `offset + 9 > len`: a claim ending on the last byte is whole.
    data = b"\x00" + b"\x01" + bytes.fromhex("0000000100000002")
    assert decode_hints(data, 2) == (None, (1, 2))


def test_cleared_rows_fit_uint64_uint32_uint32_with_delivered_at_most_traded() -> None:
    assert pack_cleared_intervals([(U64, U32, U32)]) == b"\xff" * 16
    assert pack_cleared_intervals([(1, 5, 5), (0, 0, 0)]) == (
        bytes.fromhex("00000000000000010000000500000005") + bytes(16)
    )
    for row in [(U64 + 1, 1, 1), (-1, 1, 1), (1, U32 + 1, 1), (1, 5, 6), (1, 5, -1)]:
        with pytest.raises(EncodingError) as refused:
            pack_cleared_intervals([(1, 1, 1), row])
        assert str(refused.value) == f"interval 1: {row} does not fit"


def test_cleared_rows_unpack_in_order_and_refuse_a_partial_row() -> None:
    data = bytes.fromhex("00000000000000070000000300000002") + b"\xff" * 16
    assert unpack_cleared_intervals(data) == ((7, 3, 2), (U64, U32, U32))
    assert unpack_cleared_intervals(b"") == ()
    with pytest.raises(EncodingError) as refused:
        unpack_cleared_intervals(bytes(17))
    assert str(refused.value) == "PeriodCleared intervals length 17 is not a multiple of 16"


def test_entry_errors_keep_the_entry_index_and_the_reason() -> None:
    with pytest.raises(InvalidEntriesError) as refused:
        unpack_entries(bytes(8) + bytes([3]) + bytes(7))
    assert refused.value.entry_index == 1
    with pytest.raises(EntriesFormatError) as ledger_refused:
        ledger_unpack_entries(bytes(8) + bytes([3]) + bytes(7))
    assert refused.value.reason == ledger_refused.value.reason != ""
    assert str(refused.value) == f"entry 1: {ledger_refused.value.reason}"
    with pytest.raises(InvalidEntriesError) as short:
        lock_units(bytes(9))
    assert short.value.entry_index == -1
    assert str(short.value) == short.value.reason
    # A sell entry of 5 Wh is refused under a minimum of 6, accepted under 5.
    sell = bytes([1]) + (5).to_bytes(3, "big") + (100).to_bytes(4, "big")
    assert unpack_entries(sell, 5) == ([1], [5], [100])
    with pytest.raises(InvalidEntriesError) as small:
        unpack_entries(sell, 6)
    assert small.value.entry_index == 0


def test_the_lock_rounds_the_buy_cost_up() -> None:
    buy = bytes([2]) + (3).to_bytes(3, "big") + (333).to_bytes(4, "big")  # 0.999 units
    sell = bytes([1]) + (9).to_bytes(3, "big") + (1_000_000).to_bytes(4, "big")
    assert lock_units(buy) == 1
    assert lock_units(buy + sell + buy) == 2
    assert lock_units(b"") == 0


def test_entries_of_one_wh_decode_under_the_default_minimum() -> None:
    one = bytes([2]) + (1).to_bytes(3, "big") + (70).to_bytes(4, "big")
    assert decode_entries(one) == (Entry(Side.BUY, 1, 70),)
    assert unpack_entries(one) == ([2], [1], [70])


def test_a_postings_lock_is_its_entries_lock() -> None:
    buy = bytes([2]) + (10).to_bytes(3, "big") + (150).to_bytes(4, "big")  # 1.5 units
    assert posting_lock_units(Posting(1, 4_000, buy + bytes(8))) == 2

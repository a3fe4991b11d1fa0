"""api.settlement keeps its own entry codec (the domain imports no chain library); this
checks it is byte-for-byte the one `ledger.schedules` signs and posts with."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api import settlement
from ledger import schedules


def _entry(side: int, energy_wh: int, price_per_kwh: int) -> bytes:
    return bytes([side]) + energy_wh.to_bytes(3, "big") + price_per_kwh.to_bytes(4, "big")


well_formed = st.one_of(
    st.just(bytes(8)),
    st.builds(_entry, st.integers(1, 2), st.integers(1, 2**24 - 1), st.integers(0, 2**32 - 1)),
)
# Mostly well-formed entries with now and then an arbitrary 8 bytes (bad side, a none entry
# with a value, 0 Wh) or a stray byte.
raw_entries = st.lists(
    st.one_of(well_formed, well_formed, well_formed, st.binary(min_size=8, max_size=8)),
    max_size=8,
).map(b"".join)


@given(st.one_of(raw_entries, raw_entries.map(lambda data: data + b"\x00")))
def test_both_codecs_accept_and_refuse_the_same_bytes(data: bytes) -> None:
    ours: list[tuple[int, int, int]] | int
    theirs: list[tuple[int, int, int]] | int
    try:
        ours = [
            (int(e.side), e.energy_wh, e.price_per_kwh) for e in settlement.decode_entries(data)
        ]
    except settlement.InvalidEntriesError as error:
        ours = error.entry_index
    try:
        decoded = schedules.decode_entries(data)
        theirs = [(int(e.side), e.energy_wh, e.price_per_kwh) for e in decoded]
    except schedules.EntriesFormatError as error:
        theirs = error.entry_index
    assert ours == theirs
    if isinstance(theirs, list):
        assert schedules.encode_entries(decoded) == data
        assert settlement.encode_entries(settlement.decode_entries(data)) == data
        assert schedules.lock_units(decoded) == settlement.lock_units(data)

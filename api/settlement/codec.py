"""Byte layouts of IQuartierExchange: schedule entries, meter deltas, hints, PeriodCleared.

All big-endian, fixed width, exactly as the interface documents them:

- entries: 8 bytes per interval, byte 0 side, bytes 1-3 uint24 energyWh, bytes 4-7 uint32
  pricePerKwh;
- deltas: 8 bytes per interval, uint32 importWh then uint32 exportWh;
- hints: per interval a claim, 0x00 "nothing matched" or 0x01 then uint32 a, uint32 b (the
  walk's marginal ask' and bid');
- PeriodCleared.intervals: 16 bytes per interval, uint64 pricePerKwh, uint32 tradedWh,
  uint32 deliveredWh.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from api.settlement.errors import (
    EncodingError,
    InvalidEntriesError,
    InvalidHintsError,
    InvalidMeterDataError,
)
from api.settlement.model import UINT32_MAX, UINT64_MAX, Entry, Posting, Side
from ledger import entries as _entries

_PAIR = struct.Struct(">II")
_CLEARED = struct.Struct(">QII")

#: The `entries` bytes of a schedule: `ledger.entries.encode_entries` itself.
encode_entries = _entries.encode_entries


def unpack_entries(data: bytes, min_entry_wh: int = 1) -> tuple[list[int], list[int], list[int]]:
    """(sides, energies, prices) as parallel int lists, checked as the contract checks them.

    `ledger.entries.unpack_entries` (the fast path settlement uses) with this package's error.
    """
    try:
        return _entries.unpack_entries(data, min_entry_wh)
    except _entries.EntriesFormatError as error:
        raise InvalidEntriesError(error.entry_index, error.reason) from error


def decode_entries(data: bytes, min_entry_wh: int = 1) -> tuple[Entry, ...]:
    """The entries of a schedule; InvalidEntriesError names the first bad one."""
    sides, energies, prices = unpack_entries(data, min_entry_wh)
    return tuple(Entry(Side(s), e, p) for s, e, p in zip(sides, energies, prices, strict=True))


def lock_units(data: bytes) -> int:
    """A posting's lock: ceil(Σ over its buy entries energyWh * pricePerKwh / 1000) units.

    It uses the signed bid, not the bid clamped to the ceiling: the lock is taken at posting.
    """
    try:
        return _entries.entries_lock_units(data)
    except _entries.EntriesFormatError as error:
        raise InvalidEntriesError(error.entry_index, error.reason) from error


def posting_lock_units(posting: Posting) -> int:
    """The units a posting moved from free to locked escrow."""
    return lock_units(posting.entries)


# The deltas codec stays here, not metering.period's: that module signs and hashes (it
# imports cryptography, eth_abi, eth_utils), and the rule imports no chain library. It is
# also another check: exactly periodIntervals * 8 bytes, read as parallel lists.
def encode_deltas(deltas: Sequence[tuple[int, int]]) -> bytes:
    """A meter batch's `deltas` from (importWh, exportWh) per interval."""
    for index, (import_wh, export_wh) in enumerate(deltas):
        if not (0 <= import_wh <= UINT32_MAX and 0 <= export_wh <= UINT32_MAX):
            raise EncodingError(f"deltas[{index}]: ({import_wh}, {export_wh}) not uint32")
    return b"".join(_PAIR.pack(i, e) for i, e in deltas)


def decode_deltas(data: bytes, period_intervals: int) -> tuple[list[int], list[int]]:
    """(importWh, exportWh) per interval; exactly period_intervals * 8 bytes."""
    if len(data) != period_intervals * 8:
        raise InvalidMeterDataError(
            f"deltas are {len(data)} bytes, expected {period_intervals * 8}"
        )
    imports: list[int] = []
    exports: list[int] = []
    for import_wh, export_wh in _PAIR.iter_unpack(data):
        imports.append(import_wh)
        exports.append(export_wh)
    return imports, exports


Claim = tuple[int, int] | None
"""One interval's hint: the walk's marginal (ask', bid'), or None when nothing matched."""

_NOTHING = b"\x00"
_MATCHED = 1
_CLAIM = struct.Struct(">BII")


def encode_hints(claims: Sequence[Claim]) -> bytes:
    """`settlePeriod` hints from one claim per interval, in order."""
    parts: list[bytes] = []
    for claim in claims:
        if claim is None:
            parts.append(_NOTHING)
            continue
        ask, bid = claim
        if not (0 <= ask <= bid <= UINT32_MAX):
            raise EncodingError(f"a claim needs 0 <= ask <= bid < 2^32, not ({ask}, {bid})")
        parts.append(_CLAIM.pack(_MATCHED, ask, bid))
    return b"".join(parts)


def decode_hints(data: bytes, period_intervals: int) -> tuple[Claim, ...]:
    """The claim of every interval; the bytes must be used up exactly."""
    claims: list[Claim] = []
    offset = 0
    for interval in range(period_intervals):
        if offset >= len(data):
            raise InvalidHintsError(f"hints end before the claim of interval {interval}")
        tag = data[offset]
        if tag == 0:
            claims.append(None)
            offset += 1
            continue
        if tag != _MATCHED:
            raise InvalidHintsError(f"interval {interval}'s claim has tag {tag} (0 or 1)")
        if offset + _CLAIM.size > len(data):
            raise InvalidHintsError(f"hints end inside the claim of interval {interval}")
        _, ask, bid = _CLAIM.unpack_from(data, offset)
        if ask > bid:
            raise InvalidHintsError(f"interval {interval}'s claim has ask {ask} > bid {bid}")
        claims.append((ask, bid))
        offset += _CLAIM.size
    if offset != len(data):
        raise InvalidHintsError(f"{len(data) - offset} bytes left after the last interval")
    return tuple(claims)


def pack_cleared_intervals(rows: Sequence[tuple[int, int, int]]) -> bytes:
    """PeriodCleared `intervals` from (pricePerKwh, tradedWh, deliveredWh) per interval."""
    for index, (price, traded, delivered) in enumerate(rows):
        fits = 0 <= price <= UINT64_MAX and 0 <= delivered <= traded <= UINT32_MAX
        if not fits:
            raise EncodingError(f"interval {index}: {(price, traded, delivered)} does not fit")
    return b"".join(_CLEARED.pack(*row) for row in rows)


def unpack_cleared_intervals(data: bytes) -> tuple[tuple[int, int, int], ...]:
    """(pricePerKwh, tradedWh, deliveredWh) per interval, from a PeriodCleared event."""
    if len(data) % _CLEARED.size:
        raise EncodingError(f"PeriodCleared intervals length {len(data)} is not a multiple of 16")
    return tuple(_CLEARED.iter_unpack(data))

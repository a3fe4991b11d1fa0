"""The 8-byte schedule entry of protocol v2: THE codec (IQuartierExchange, "Schedules").

Per interval: byte 0 the side (0 none, 1 sell, 2 buy), bytes 1-3 energy Wh (uint24), bytes 4-7
price per kWh (uint32), big-endian; a none entry is all zeros, a sell or buy entry has energy
>= the community's minEntryWh (>= 1). Pure Python with no chain library, so the pure rule in
`api.settlement` can import it too (DESIGN: api -> ledger); `ledger.schedules` re-exports it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from ledger.errors import LedgerError

#: Bytes of one interval's entry: side, uint24 energy Wh, uint32 price per kWh.
ENTRY_BYTES = 8
ENERGY_WH_MAX = 2**24 - 1
PRICE_PER_KWH_MAX = 2**32 - 1


class ScheduleFormatError(LedgerError, ValueError):
    """A schedule or its entries that the exchange's format cannot carry."""


class EntriesFormatError(ScheduleFormatError):
    """Malformed `entries` bytes; `entry_index` names the 8-byte entry, -1 the length.

    The exchange refuses the same with ExchangeBadEntries(index, entryIndex).
    """

    def __init__(self, entry_index: int, reason: str) -> None:
        super().__init__(f"entry {entry_index}: {reason}" if entry_index >= 0 else reason)
        self.entry_index = entry_index
        self.reason = reason


def check_uint(name: str, value: object, maximum: int) -> int:
    """`value` if it is an int (not a bool) in [0, maximum], else ScheduleFormatError."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ScheduleFormatError(f"{name} must be an integer in [0, {maximum}], got {value!r}")
    return value


class EntrySide(IntEnum):
    """Byte 0 of an entry (v2; v1's `ledger.orders.Side` numbers differ)."""

    NONE = 0
    SELL = 1
    BUY = 2


@dataclass(frozen=True)
class Entry:
    """One interval's entry: sell at >= `price_per_kwh` or buy at <= it, up to `energy_wh`."""

    side: EntrySide
    energy_wh: int
    price_per_kwh: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", EntrySide(self.side))
        check_uint("energy_wh", self.energy_wh, ENERGY_WH_MAX)
        check_uint("price_per_kwh", self.price_per_kwh, PRICE_PER_KWH_MAX)
        if self.side is EntrySide.NONE and (self.energy_wh or self.price_per_kwh):
            raise ScheduleFormatError("a none entry is all zeros")
        if self.side is not EntrySide.NONE and self.energy_wh == 0:
            raise ScheduleFormatError("a sell or buy entry has energy_wh >= 1")

    def to_bytes(self) -> bytes:
        return (
            bytes([self.side])
            + self.energy_wh.to_bytes(3, "big")
            + self.price_per_kwh.to_bytes(4, "big")
        )


#: The entry of an interval with nothing to sell or buy.
NO_ENTRY = Entry(EntrySide.NONE, 0, 0)


def encode_entries(entries: Iterable[Entry]) -> bytes:
    """The `entries` bytes of a schedule, 8 per interval."""
    return b"".join(entry.to_bytes() for entry in entries)


#: One entry as two big-endian uint32: (side << 24 | energy Wh, price per kWh).
_ENTRY = struct.Struct(">II")


def unpack_entries(data: bytes, min_entry_wh: int = 1) -> tuple[list[int], list[int], list[int]]:
    """(sides, energies Wh, prices per kWh) of `entries` bytes as parallel int lists.

    The checks of `decode_entries`, plus energy >= `min_entry_wh` for a sell or buy entry,
    each entry in order, so EntriesFormatError names the first bad entry as the exchange's
    ExchangeBadEntries does. A fast path: settlement reads every posting of every household
    (100 households x 96 intervals well under 0.5 s) and wants plain ints, not Entry objects.
    """
    if len(data) % ENTRY_BYTES:
        raise EntriesFormatError(-1, f"entries must be 8 bytes each, got {len(data)} bytes")
    sides: list[int] = []
    energies: list[int] = []
    prices: list[int] = []
    for index, (head, price) in enumerate(_ENTRY.iter_unpack(data)):
        side = head >> 24
        energy = head & ENERGY_WH_MAX
        if side == EntrySide.NONE:
            if energy or price:
                raise EntriesFormatError(index, "a none entry is all zeros")
        elif side > EntrySide.BUY:
            raise EntriesFormatError(index, f"side {side} is not 0 (none), 1 (sell) or 2 (buy)")
        elif energy == 0:
            raise EntriesFormatError(index, "a sell or buy entry has energy_wh >= 1")
        elif energy < min_entry_wh:
            raise EntriesFormatError(index, f"energy {energy} Wh is below {min_entry_wh} Wh")
        sides.append(side)
        energies.append(energy)
        prices.append(price)
    return sides, energies, prices


def decode_entries(data: bytes, min_entry_wh: int = 1) -> tuple[Entry, ...]:
    """The entries of `entries` bytes; malformed bytes raise EntriesFormatError.

    Checked: length a multiple of 8, side in {0, 1, 2}, a none entry all zeros, a sell or
    buy entry with energy >= 1 (>= `min_entry_wh`, the community's minEntryWh, if given;
    `first_small_entry` checks decoded entries against it).
    """
    sides, energies, prices = unpack_entries(data, min_entry_wh)
    return tuple(
        Entry(EntrySide(side), energy_wh, price_per_kwh)
        for side, energy_wh, price_per_kwh in zip(sides, energies, prices, strict=True)
    )


def first_small_entry(entries: Sequence[Entry], min_entry_wh: int) -> int | None:
    """Index of the first sell/buy entry below the community's minEntryWh, or None."""
    for index, entry in enumerate(entries):
        if entry.side is not EntrySide.NONE and entry.energy_wh < min_entry_wh:
            return index
    return None


def lock_units(entries: Iterable[Entry]) -> int:
    """What a posting locks: ceil(Σ over buy entries energy_wh * price_per_kwh / 1000)."""
    return entries_lock_units(encode_entries(entries))


def entries_lock_units(data: bytes) -> int:
    """`lock_units` of `entries` bytes (the signed bid, not the bid clamped to the ceiling).

    Only the length is checked (EntriesFormatError): a settler calls it on postings the
    exchange accepted, whose entries it has already checked with `unpack_entries`.
    """
    if len(data) % ENTRY_BYTES:
        raise EntriesFormatError(-1, f"entries must be 8 bytes each, got {len(data)} bytes")
    milli_units = 0
    for head, price in _ENTRY.iter_unpack(data):
        if head >> 24 == EntrySide.BUY:
            milli_units += (head & ENERGY_WH_MAX) * price
    return -(-milli_units // 1000)

"""The 8-byte schedule entry of protocol v2: THE codec (IQuartierExchange, "Schedules").

Per interval: byte 0 the side (0 none, 1 sell, 2 buy), bytes 1-3 energy Wh (uint24), bytes 4-7
price per kWh (uint32), big-endian; a none entry is all zeros, a sell or buy entry has energy
>= the community's minEntryWh (>= 1). Pure Python with no chain library, so the pure rule in
`api.settlement` can import it too (DESIGN: api -> ledger); `ledger.schedules` re-exports it.
"""

from __future__ import annotations

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


def decode_entries(data: bytes) -> tuple[Entry, ...]:
    """The entries of `entries` bytes; malformed bytes raise EntriesFormatError.

    Checked: length a multiple of 8, side in {0, 1, 2}, a none entry all zeros, a sell or
    buy entry with energy >= 1. The community's minEntryWh is `first_small_entry`'s.
    """
    if len(data) % ENTRY_BYTES:
        raise EntriesFormatError(-1, f"entries must be 8 bytes each, got {len(data)} bytes")
    entries = []
    for index, at in enumerate(range(0, len(data), ENTRY_BYTES)):
        side = data[at]
        if side > EntrySide.BUY:
            raise EntriesFormatError(index, f"side {side} is not 0 (none), 1 (sell) or 2 (buy)")
        energy_wh = int.from_bytes(data[at + 1 : at + 4], "big")
        price_per_kwh = int.from_bytes(data[at + 4 : at + 8], "big")
        try:
            entries.append(Entry(EntrySide(side), energy_wh, price_per_kwh))
        except ScheduleFormatError as error:
            raise EntriesFormatError(index, str(error)) from error
    return tuple(entries)


def first_small_entry(entries: Sequence[Entry], min_entry_wh: int) -> int | None:
    """Index of the first sell/buy entry below the community's minEntryWh, or None."""
    for index, entry in enumerate(entries):
        if entry.side is not EntrySide.NONE and entry.energy_wh < min_entry_wh:
            return index
    return None


def lock_units(entries: Iterable[Entry]) -> int:
    """What a posting locks: ceil(Σ over buy entries energy_wh * price_per_kwh / 1000)."""
    milli_units = sum(e.energy_wh * e.price_per_kwh for e in entries if e.side is EntrySide.BUY)
    return -(-milli_units // 1000)

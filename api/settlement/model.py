"""Value types of the v2 settlement rule (IQuartierExchange, Rules.sol, IQuartierCommunity).

Frozen dataclasses over integers and bytes: no floats, no I/O, no chain types, so a period's
settlement is a pure function anyone can re-run. Field widths are the contract's (uint24
energy, uint32 price in entries, uint64 rule prices); a value outside them is refused here
rather than silently truncated.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from api.settlement.errors import InvalidEntriesError, InvalidPostingError, InvalidRulesError

UINT16_MAX = 2**16 - 1
UINT24_MAX = 2**24 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def _is_uint(value: object, maximum: int) -> bool:
    # bool is a subclass of int; `True` Wh is a bug, not an amount.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


class Side(enum.IntEnum):
    """Byte 0 of an entry."""

    NONE = 0
    SELL = 1
    BUY = 2


class Mechanism(enum.IntEnum):
    """Rules.sol `Mechanism`, same numbering as the Solidity enum."""

    PAY_AS_CLEAR = 0
    PAY_AS_BID = 1
    COMMUNITY_PRICE = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """One interval of a schedule: a sell's lowest ask or a buy's highest bid (or none).

    A none entry is all zeros, exactly as in the 8 bytes the household signs.
    """

    side: Side
    energy_wh: int
    price_per_kwh: int

    def __post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise InvalidEntriesError(-1, f"side must be a Side, got {self.side!r}")
        if not _is_uint(self.energy_wh, UINT24_MAX):
            raise InvalidEntriesError(-1, f"energy_wh {self.energy_wh!r} is not a uint24")
        if not _is_uint(self.price_per_kwh, UINT32_MAX):
            raise InvalidEntriesError(-1, f"price_per_kwh {self.price_per_kwh!r} is not a uint32")
        if self.side is Side.NONE and (self.energy_wh or self.price_per_kwh):
            raise InvalidEntriesError(-1, "a none entry must be all zeros")


#: The entry of an interval nobody planned.
NO_ENTRY = Entry(Side.NONE, 0, 0)


@dataclass(frozen=True, slots=True)
class Posting:
    """A posted schedule as settlement re-supplies it (IQuartierExchange.Posting).

    `entries` are the signed bytes themselves (8 per interval from `first_interval_id` on);
    `api.settlement.codec` encodes and decodes them.
    """

    version: int
    first_interval_id: int
    entries: bytes

    def __post_init__(self) -> None:
        if not _is_uint(self.version, UINT32_MAX):
            raise InvalidPostingError(f"version {self.version!r} is not a uint32")
        if not _is_uint(self.first_interval_id, UINT64_MAX):
            raise InvalidPostingError(
                f"first_interval_id {self.first_interval_id!r} is not a uint64"
            )
        if not isinstance(self.entries, bytes):
            raise InvalidPostingError("entries must be bytes")

    @property
    def interval_count(self) -> int:
        """How many intervals the entries cover (a bad length is caught when decoding)."""
        return len(self.entries) // 8


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules of one period (Rules.sol), read from `rulesAt(P)`."""

    mechanism: Mechanism
    gate_lead_seconds: int
    settlement_deadline_seconds: int
    min_entry_wh: int
    price_floor_per_kwh: int
    price_ceiling_per_kwh: int
    community_price_per_kwh: int

    def __post_init__(self) -> None:
        if not isinstance(self.mechanism, Mechanism):
            raise InvalidRulesError(f"mechanism: {self.mechanism!r} is not a Mechanism")
        for name in ("gate_lead_seconds", "settlement_deadline_seconds", "min_entry_wh"):
            if not _is_uint(getattr(self, name), UINT32_MAX):
                raise InvalidRulesError(f"{name} must be a uint32")
        if self.min_entry_wh < 1:
            raise InvalidRulesError("min entry: min_entry_wh must be >= 1")
        for name in ("price_floor_per_kwh", "price_ceiling_per_kwh", "community_price_per_kwh"):
            if not _is_uint(getattr(self, name), UINT64_MAX):
                raise InvalidRulesError(f"{name} must be a uint64")
        if self.price_floor_per_kwh > self.price_ceiling_per_kwh:
            raise InvalidRulesError("price bounds: floor above ceiling")
        # Only the community price mechanism uses c; other rules may leave it at anything.
        if self.mechanism is Mechanism.COMMUNITY_PRICE and not (
            self.price_floor_per_kwh <= self.community_price_per_kwh <= self.price_ceiling_per_kwh
        ):
            raise InvalidRulesError("community price: outside [floor, ceiling]")


@dataclass(frozen=True, slots=True)
class TimeGrid:
    """Interval k covers [k*interval_seconds, (k+1)*interval_seconds); period P covers
    intervals [P*period_intervals, (P+1)*period_intervals). Fixed at deployment."""

    interval_seconds: int = 900
    period_intervals: int = 96

    def __post_init__(self) -> None:
        if not _is_uint(self.interval_seconds, UINT32_MAX) or self.interval_seconds == 0:
            raise InvalidRulesError("interval_seconds must be a positive uint32")
        if not _is_uint(self.period_intervals, UINT32_MAX) or self.period_intervals == 0:
            raise InvalidRulesError("period_intervals must be a positive uint32")

    def interval_at(self, unix_seconds: int) -> int:
        """The interval containing a moment."""
        return unix_seconds // self.interval_seconds

    def interval_start(self, interval_id: int) -> int:
        return interval_id * self.interval_seconds

    def interval_end(self, interval_id: int) -> int:
        return (interval_id + 1) * self.interval_seconds

    def period_of_interval(self, interval_id: int) -> int:
        return interval_id // self.period_intervals

    def period_at(self, unix_seconds: int) -> int:
        """The period containing a moment (the contract's currentPeriod at that time)."""
        return self.period_of_interval(self.interval_at(unix_seconds))

    def first_interval(self, period_id: int) -> int:
        return period_id * self.period_intervals

    def intervals(self, period_id: int) -> range:
        """The interval ids of a period, in order."""
        first = self.first_interval(period_id)
        return range(first, first + self.period_intervals)

    def period_start(self, period_id: int) -> int:
        return self.interval_start(self.first_interval(period_id))

    def period_end(self, period_id: int) -> int:
        return self.interval_start(self.first_interval(period_id + 1))

    def gate(self, interval_id: int, rules: Rules) -> int:
        """When posting for the interval closes: start(k) - gateLeadSeconds (exclusive)."""
        return self.interval_start(interval_id) - rules.gate_lead_seconds

    def settlement_deadline(self, period_id: int, rules: Rules) -> int:
        """From this moment on, a meter without data measures 0 Wh."""
        return self.period_end(period_id) + rules.settlement_deadline_seconds


@dataclass(frozen=True, slots=True)
class Window:
    """A membership or a meter's validity: from `admitted_at` until `removed_at` (0: open).

    It counts for interval k iff admitted_at <= start(k) and (removed_at == 0 or
    removed_at >= end(k)): a change inside an interval excludes the whole interval.
    On chain admitted_at is a block time, never 0 (QuartierExchange reads an admittedAt of 0
    as "never admitted"); tests use Window(0) for "since before the period".
    """

    admitted_at: int
    removed_at: int = 0

    def counts_for(self, start: int, end: int) -> bool:
        return self.admitted_at <= start and (self.removed_at == 0 or self.removed_at >= end)


@dataclass(frozen=True, slots=True)
class MeterInput:
    """One meter of `metersOf(household)` for the period: its validity and its `deltas`
    (8 bytes per interval: uint32 importWh, uint32 exportWh), or None when it has no data
    (past the deadline, it then measures 0 Wh)."""

    window: Window
    deltas: bytes | None


@dataclass(frozen=True, slots=True)
class HouseholdInput:
    """One household that posted for the period, with all its postings in posting order
    and its meters in admission order. `address` is a 0x-prefixed 20-byte hex string."""

    address: str
    membership: Window
    postings: Sequence[Posting]
    meters: Sequence[MeterInput] = ()

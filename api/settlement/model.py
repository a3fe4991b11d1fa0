"""Value types of the v2 settlement rule (IQuartierExchange, Rules.sol, IQuartierCommunity).

Frozen dataclasses over integers and bytes: no floats, no I/O, no chain types, so a period's
settlement is a pure function anyone can re-run. Field widths are the contract's (uint24
energy, uint32 price in entries, uint64 rule prices); a value outside them is refused here
rather than silently truncated. Entry, Rules and TimeGrid are those of `ledger.entries` and
`ledger.rules` (pure, no chain library; DESIGN: api -> ledger) with this package's errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from api.settlement.errors import InvalidEntriesError, InvalidPostingError, InvalidRulesError
from ledger import entries as _entries
from ledger import rules as _rules

UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

#: Byte 0 of an entry: `ledger.entries.EntrySide` itself.
Side = _entries.EntrySide
#: Rules.sol `Mechanism`: `ledger.rules.Mechanism` itself.
Mechanism = _rules.Mechanism


def _is_uint(value: object, maximum: int) -> bool:
    # bool is a subclass of int; `True` Wh is a bug, not an amount.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


class Entry(_entries.Entry):
    """One interval of a schedule: a sell's lowest ask or a buy's highest bid (or none).

    `ledger.entries.Entry` (fields, widths, a none entry all zeros, a sell or buy entry
    >= 1 Wh); this subclass only insists on a Side and refuses with this package's error
    root, so a caller maps every settlement error at once.
    """

    def __post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise InvalidEntriesError(-1, f"side must be a Side, got {self.side!r}")
        try:
            super().__post_init__()
        except _entries.ScheduleFormatError as error:
            raise InvalidEntriesError(-1, str(error)) from error


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


class Rules(_rules.Rules):
    """The rules of one period (Rules.sol), read from `rulesAt(P)`: `ledger.rules.Rules`.

    `ledger.rules` checks only the Solidity widths (it must be able to send the exchange
    rules it refuses); settlement also requires the bounds IQuartierCommunity enforces, so
    it never settles under rules no period can have.
    """

    @classmethod
    def of(cls, rules: _rules.Rules) -> Rules:
        """The chain's rules (`ledger.rules.Rules`, as `rulesAt` reads them), checked here."""
        return cls(*(getattr(rules, field.name) for field in fields(rules)))

    def __post_init__(self) -> None:
        if not isinstance(self.mechanism, Mechanism):
            raise InvalidRulesError(f"mechanism: {self.mechanism!r} is not a Mechanism")
        try:
            super().__post_init__()
        except _rules.RulesFormatError as error:
            raise InvalidRulesError(str(error)) from error
        if self.min_entry_wh < 1:
            raise InvalidRulesError("min entry: min_entry_wh must be >= 1")
        if self.price_floor_per_kwh > self.price_ceiling_per_kwh:
            raise InvalidRulesError("price bounds: floor above ceiling")
        # Only the community price mechanism uses c; other rules may leave it at anything.
        if self.mechanism is Mechanism.COMMUNITY_PRICE and not (
            self.price_floor_per_kwh <= self.community_price_per_kwh <= self.price_ceiling_per_kwh
        ):
            raise InvalidRulesError("community price: outside [floor, ceiling]")


class TimeGrid(_rules.TimeGrid):
    """Interval k covers [k*interval_seconds, (k+1)*interval_seconds); period P covers
    intervals [P*period_intervals, (P+1)*period_intervals). Fixed at deployment.

    `ledger.rules.TimeGrid`, refusing with this package's error root.
    """

    @classmethod
    def of(cls, grid: _rules.TimeGrid) -> TimeGrid:
        """The community's grid (`ledger.rules.TimeGrid`), checked here."""
        return cls(grid.interval_seconds, grid.period_intervals)

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except _rules.RulesFormatError as error:
            raise InvalidRulesError(str(error)) from error


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

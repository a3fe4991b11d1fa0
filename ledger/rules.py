"""The community's rules and time grid (protocol v2) as plain values, with no chain access.

Mirrors contracts/types/Rules.sol and the time rule of IQuartierCommunity: interval k covers
[k * interval_seconds, (k + 1) * interval_seconds), period P covers intervals
[P * period_intervals, (P + 1) * period_intervals). `ledger.community` reads them from the
chain; `api` imports them from here (api -> ledger). Widths are checked (a value the ABI
cannot carry fails here, not as an encoding error); the bounds (floor <= ceiling, ...) are
the contract's to judge (CommunityInvalidRules).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ledger.errors import LedgerError

_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1


class RulesFormatError(LedgerError, ValueError):
    """Rules or a time grid with a value outside its Solidity type."""


class Mechanism(IntEnum):
    """Rules.sol `Mechanism`, same numbering."""

    PAY_AS_CLEAR = 0
    PAY_AS_BID = 1
    COMMUNITY_PRICE = 2


def _uint(name: str, value: object, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise RulesFormatError(f"{name} must be an integer in [0, {maximum}], got {value!r}")


@dataclass(frozen=True)
class Rules:
    """The rules of one period (prices in token base units per kWh, times in seconds)."""

    mechanism: Mechanism
    gate_lead_seconds: int
    settlement_deadline_seconds: int
    min_entry_wh: int
    price_floor_per_kwh: int
    price_ceiling_per_kwh: int
    community_price_per_kwh: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "mechanism", Mechanism(self.mechanism))
        for name in ("gate_lead_seconds", "settlement_deadline_seconds", "min_entry_wh"):
            _uint(name, getattr(self, name), _UINT32_MAX)
        for name in ("price_floor_per_kwh", "price_ceiling_per_kwh", "community_price_per_kwh"):
            _uint(name, getattr(self, name), _UINT64_MAX)

    def as_abi(self) -> tuple[int, int, int, int, int, int, int]:
        """The Rules tuple in Solidity field order."""
        return (
            int(self.mechanism),
            self.gate_lead_seconds,
            self.settlement_deadline_seconds,
            self.min_entry_wh,
            self.price_floor_per_kwh,
            self.price_ceiling_per_kwh,
            self.community_price_per_kwh,
        )

    @classmethod
    def from_abi(cls, raw: tuple[int, ...] | list[int]) -> Rules:
        """Rules from the tuple a call or an event returns."""
        mechanism, gate, deadline, min_entry, floor, ceiling, community = (int(v) for v in raw)
        return cls(Mechanism(mechanism), gate, deadline, min_entry, floor, ceiling, community)


@dataclass(frozen=True)
class TimeGrid:
    """The community's fixed interval length and period length (set at deployment)."""

    interval_seconds: int = 900
    period_intervals: int = 96

    def __post_init__(self) -> None:
        _uint("interval_seconds", self.interval_seconds, _UINT32_MAX)
        _uint("period_intervals", self.period_intervals, _UINT32_MAX)
        if self.interval_seconds == 0 or self.period_intervals == 0:
            raise RulesFormatError("interval_seconds and period_intervals must be positive")

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
        return self.period_start(period_id + 1)

    def gate(self, interval_id: int, rules: Rules) -> int:
        """Posting for the interval is open while now < this (start - gate lead)."""
        return self.interval_start(interval_id) - rules.gate_lead_seconds

    def settlement_deadline(self, period_id: int, rules: Rules) -> int:
        """From this moment on, settlement may omit a meter's missing data (0 Wh)."""
        return self.period_end(period_id) + rules.settlement_deadline_seconds

"""Errors of the v2 settlement rule.

Exception tree (one root, so callers map the whole package at once)::

    SettlementError               root: the input breaks the rule of IQuartierExchange
    ├── InvalidRulesError         Rules or TimeGrid out of their bounds (IQuartierCommunity)
    ├── InvalidEntriesError       a schedule's `entries` bytes are malformed (ExchangeBadEntries)
    ├── InvalidPostingError       a posting cannot be one the contract accepted for the period
    ├── InvalidMeterDataError     a meter's `deltas` are not periodIntervals * 8 bytes
    ├── InvalidHouseholdsError    the household list cannot be a settlement's (duplicates, ...)
    ├── InvalidHintsError         hint bytes do not parse for the period
    └── EncodingError             a value does not fit the field the contract packs it into
"""

from __future__ import annotations


class SettlementError(Exception):
    """Root of every error raised by `api.settlement`."""


class InvalidRulesError(SettlementError):
    """A Rules or TimeGrid value breaks the bounds IQuartierCommunity enforces."""


class InvalidEntriesError(SettlementError):
    """Malformed `entries` bytes; `entry_index` names the 8-byte entry (or -1: the length)."""

    def __init__(self, entry_index: int, reason: str) -> None:
        super().__init__(f"entry {entry_index}: {reason}" if entry_index >= 0 else reason)
        self.entry_index = entry_index
        self.reason = reason


class InvalidPostingError(SettlementError):
    """A posting the contract could not have accepted for this period (range, version...)."""


class InvalidMeterDataError(SettlementError):
    """A meter's period deltas have the wrong length for the time grid."""


class InvalidHouseholdsError(SettlementError):
    """The household list is not a possible settlement input (duplicate or bad address...)."""


class InvalidHintsError(SettlementError):
    """Hint bytes that do not parse as `settlePeriod` documents them for this period."""


class EncodingError(SettlementError):
    """A value outside the range of the fixed-width field it must be packed into."""

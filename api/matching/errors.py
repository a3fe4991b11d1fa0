"""Errors of the matching engine.

Exception tree (one root, so the CLI and the API map the whole package at once)::

    MatchingError                 root; `exit_code` 2 = the input was refused
    ├── InvalidOrderError         an order or order book breaks a rule (duplicate id, bad field)
    ├── InvalidAllocationError    an allocation-key request is inconsistent
    └── BookFileError             a book file cannot be read or is malformed
"""

from __future__ import annotations


class MatchingError(Exception):
    """Root of every error raised by `api.matching`."""

    #: Exit status the CLI uses: 2 means "your input was refused" (as for a usage error).
    exit_code = 2


class InvalidOrderError(MatchingError):
    """An order, or the set of orders handed to the engine, breaks a rule."""


class InvalidAllocationError(MatchingError):
    """An allocation-key request is inconsistent (unknown member, negative weight, ...)."""


class BookFileError(MatchingError):
    """A book file is unreadable or malformed; the message names the order and the field."""

"""The statements' errors.

Exception tree::

    StatementError          root: the statement cannot be made from what was given (one
    │                       line on stderr, exit 2, no file written)
    ├── UnknownMemberError  the address is no member of the community file or directory
    └── NoSettledDataError  the member has no settled period in the month

Tariff refusals are `api.economics.errors.TariffError` (file, key, date), chain and file
refusals the ledger's own errors; each is one line too.
"""

from __future__ import annotations

from typing import ClassVar

from api.errors import ApiError


class StatementError(ApiError):
    """Root of the statements: the statement cannot be made (nothing is written)."""

    status: ClassVar[int] = 422
    default_slug = "statement-failed"
    title = "Statement cannot be made"
    exit_code: ClassVar[int] = 2


class UnknownMemberError(StatementError):
    """The address is not a member the community file (or the deployment's directory) names."""

    default_slug = "unknown-member"


class NoSettledDataError(StatementError):
    """No settled period of the month has the member in it."""

    default_slug = "no-settled-data"

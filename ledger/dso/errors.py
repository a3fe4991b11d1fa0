"""Errors of `ledger.dso`, one root for all of them.

DsoError                    (a LedgerError, so the CLI prints it as one line)
├── WorkbookRefusedError    the workbook is not a clean month (exit 2): sheet, cell, problem
├── KeyConfigError          the community's allocation key cannot be applied (exit 2)
└── ReconcileError          the comparison could not run: chain, deployment (exit 2)
"""

from __future__ import annotations

from typing import ClassVar

from ledger.errors import LedgerError

#: Exit status of a refused input or a comparison that could not run.
EXIT_REFUSED = 2


class DsoError(LedgerError):
    """Root of every error raised by `ledger.dso`."""

    exit_code: ClassVar[int] = EXIT_REFUSED


class WorkbookRefusedError(DsoError):
    """The workbook (or CSV export) is refused; the message names the sheet and the cell."""


class KeyConfigError(DsoError):
    """No allocation key applies (none in force on a date, a member the key names is absent)."""


class ReconcileError(DsoError):
    """The chain could not be read or does not hold the deployment's community."""

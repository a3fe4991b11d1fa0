"""The economics package's errors.

Exception tree::

    EconomicsError          root (a CLI reports it in one line, exit 2)
    ├── TariffError         a tariff file is unreadable, incomplete or inconsistent, or has no
    │                       data for a moment asked of it (names the file, the key, the date)
    └── FlowsError          a member's flows cannot be billed (shared more than metered)
"""

from __future__ import annotations

from typing import ClassVar

from api.errors import ApiError


class EconomicsError(ApiError):
    """Root of the economics package: bad tariff data or flows, the user's to fix."""

    default_slug = "economics-failed"
    title = "Bill cannot be computed"
    status: ClassVar[int] = 422
    exit_code: ClassVar[int] = 2


class TariffError(EconomicsError):
    """A tariff file is wrong or silent: `file: key: what (date)` in one line."""

    default_slug = "bad-tariff"

    def __init__(self, file: str, key: str, problem: str, when: str | None = None) -> None:
        at = f" ({when})" if when else ""
        super().__init__(f"{file}: {key}: {problem}{at}", file=file, key=key, date=when)
        self.file, self.key, self.problem, self.when = file, key, problem, when


class FlowsError(EconomicsError):
    """A member's interval flows are impossible (e.g. more bought than taken from the grid)."""

    default_slug = "bad-flows"

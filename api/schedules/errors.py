"""The refusals of v2 schedule intake (one problem type per broken rule)."""

from __future__ import annotations

from typing import ClassVar

from api.errors import _RejectionError


class ScheduleRejectedError(_RejectionError):
    """A signed schedule was refused; nothing was stored. Mirrors the exchange's
    postSchedules checks, made early so that the relayer's transactions do not revert."""

    title = "Schedule rejected"
    STATUS_BY_SLUG: ClassVar[dict[str, int]] = {
        "malformed-schedule": 422,
        "invalid-schedule-signature": 422,
        "interval-outside-period": 422,
        "entry-below-minimum": 422,
        "not-member": 403,
        "period-not-open": 409,
        "gate-closed": 409,
        "stale-version": 409,
        "version-conflict": 409,
        "too-many-postings": 409,
        "too-many-households": 409,
        "insufficient-escrow": 409,
    }

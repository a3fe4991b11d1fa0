"""The refusals of v2 meter batch intake (one problem type per broken rule)."""

from __future__ import annotations

from typing import ClassVar

from api.errors import _RejectionError


class MeterBatchRejectedError(_RejectionError):
    """A meter's period batch was refused; nothing was stored. Mirrors the exchange's
    batch checks (postMeterBatches and inline data at settlement)."""

    title = "Meter batch rejected"
    STATUS_BY_SLUG: ClassVar[dict[str, int]] = {
        "malformed-meter-batch": 422,
        "unknown-meter": 422,
        "wrong-public-key": 422,
        "invalid-meter-batch-signature": 422,
        "bad-deltas": 422,
        "period-not-over": 409,
        "meter-outside-period": 409,
        "batch-not-chained": 409,
        "conflicting-meter-batch": 409,
    }

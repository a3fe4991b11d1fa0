"""Which meters may post readings: QuartierCommunity's record, cached so a reading costs no
chain call.

A lookup goes to the chain only on a miss or when the cached answer is older than
`meter_cache_seconds` (unknown meters: at most 5 s, so a new admission shows up quickly).
A revocation therefore takes effect here within that time. Live readings are the households'
view; what settles is the meters' signed period batches, which the exchange checks against
the community itself, so a stale cache can delay a refusal here but never changes a payment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from ledger.community import MeterInfo

UNKNOWN_METER_CACHE_SECONDS = 5


class MeterStatus(IntEnum):
    """What a community record says of a meter now (stored in the meter index)."""

    UNKNOWN = 0
    ACTIVE = 1
    REVOKED = 2


def status_of(info: MeterInfo) -> MeterStatus:
    """UNKNOWN when never admitted (no admission time), REVOKED once a revocation time is
    recorded, else ACTIVE."""
    if info.window.admitted_at == 0:
        return MeterStatus.UNKNOWN
    if info.window.removed_at != 0:
        return MeterStatus.REVOKED
    return MeterStatus.ACTIVE


@dataclass(frozen=True)
class _Cached:
    info: MeterInfo
    fetched_at: float


class MeterDirectory:
    """Community lookups with a time-bounded process cache."""

    def __init__(
        self,
        lookup: Callable[[bytes], MeterInfo],
        ttl_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._cache: dict[bytes, _Cached] = {}
        self._lock = threading.Lock()

    def cached(self, meter_id: bytes) -> MeterInfo | None:
        """The cached record of `meter_id` while still fresh, else None (never a chain call)."""
        cached = self._cache.get(meter_id)
        if cached is None:
            return None
        ttl = (
            UNKNOWN_METER_CACHE_SECONDS
            if status_of(cached.info) is MeterStatus.UNKNOWN
            else self._ttl_seconds
        )
        if self._clock() - cached.fetched_at < min(ttl, self._ttl_seconds):
            return cached.info
        return None

    def get(self, meter_id: bytes) -> MeterInfo:
        """The community's record of `meter_id` (admitted_at 0 when never admitted)."""
        info = self.cached(meter_id)
        if info is not None:
            return info
        now = self._clock()
        info = self._lookup(meter_id)
        with self._lock:
            self._cache[meter_id] = _Cached(info, now)
        return info

    def forget(self, meter_id: bytes) -> None:
        """Drop a cached answer (after an admission or revocation through this service)."""
        with self._lock:
            self._cache.pop(meter_id, None)

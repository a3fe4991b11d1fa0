"""A time-limited cache whose expired entries are refreshed by ONE caller (single flight).

The service caches what intake asks the chain on every request (the chain head, memberships,
meters, the chain's identity). When such an entry expired, every request in flight read the
chain again at once (a herd: ~12 % of a schedule's CPU in the session-4 profile, 3.5 ms a
schedule for the identity's eth_getCode). Here, when an entry has expired, the first caller
reads it again and the callers meanwhile get the value it replaces (stale by at most that one
read); a failed read leaves the old value for the next caller to try again.

No lock is held across a load (a load is a chain call under its caller's deadline: a caller
without a deadline, like the relayer, must not keep the requests waiting behind a hung node),
so a key that has no value yet is loaded by each caller that asks for it meanwhile: only a
cold start pays duplicate reads. A lifetime of 0 means "load every time" (no stale answer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

#: Entries kept at most: a flood of unknown keys cannot grow the cache without bound.
MAX_ENTRIES = 100_000


class SingleFlightTtl(Generic[_K, _V]):
    """Values per key, fresh for `seconds` (thread-safe)."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._max_entries = max_entries
        #: key -> (clock time its load started, value).
        self._values: dict[_K, tuple[float, _V]] = {}
        #: Keys whose expired value one caller is loading again right now.
        self._refreshing: set[_K] = set()
        self._lock = threading.Lock()  # held for dict and set updates only, never a load

    def fresh(self, key: _K) -> _V | None:
        """The value of `key` while fresh, else None (never a load)."""
        hit = self._values.get(key)
        if hit is not None and self._clock() - hit[0] < self.seconds:
            return hit[1]
        return None

    def answered(self, key: _K) -> _V | None:
        """The value `get` would answer for `key` without loading it: the fresh one, or the
        expired one while another caller is loading it again; else None (never a load)."""
        hit = self._values.get(key)
        if hit is None:
            return None
        if self._clock() - hit[0] < self.seconds or key in self._refreshing:
            return hit[1]
        return None

    def get(
        self,
        key: _K,
        load: Callable[[], _V],
        *,
        keep: Callable[[_V], bool] | None = None,
        force: bool = False,
    ) -> _V:
        """The value of `key`: the cached one while fresh; once expired, the last one while
        another caller is loading it again; else `load()`'s (kept when `keep` says so, or
        always). `force` loads whatever is cached."""
        hit = self._values.get(key)
        if force or hit is None or self.seconds <= 0:
            return self._load(key, load, keep)
        if self._clock() - hit[0] < self.seconds:
            return hit[1]
        with self._lock:
            if key in self._refreshing:
                return hit[1]
            self._refreshing.add(key)
        try:
            return self._load(key, load, keep)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def forget(self, key: _K) -> None:
        """Drop the value of `key`: its next use loads it."""
        with self._lock:
            self._values.pop(key, None)

    def _load(self, key: _K, load: Callable[[], _V], keep: Callable[[_V], bool] | None) -> _V:
        started = self._clock()
        value = load()
        if keep is None or keep(value):
            with self._lock:
                if len(self._values) >= self._max_entries and key not in self._values:
                    self._values.clear()
                self._values[key] = (started, value)
        return value

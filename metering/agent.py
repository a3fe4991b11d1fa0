"""The meter agent: at each interval boundary read the meter, sign, spool, then POST.

Order of operations is what makes it lossless: a reading is durably spooled before any network
call, and the spool is flushed oldest-first, so a dead API, a kill or a reboot only delays
readings. The clock and sleep are injected so tests run a day of intervals in milliseconds.

API answers: 201 stored, 200 already stored (a re-send after a kill) -> sent; another 4xx ->
rejected for good (kept in the spool with the problem, reported); 5xx or no connection -> stop
and retry at the next boundary, keeping the order.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from metering.adapters.base import MeterAdapter
from metering.errors import MeteringError, RegistersWentBackwardsError
from metering.keys import MeterIdentity
from metering.reading import (
    INTERVAL_SECONDS,
    Reading,
    SignedReading,
    domain_separator,
    sign_reading,
)
from metering.spool import REJECTED, SENT, Spool


def _stderr(message: str) -> None:
    print(f"quartier meter: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AgentConfig:
    """Where readings go and how they are signed."""

    api_url: str
    chain_id: int
    market_address: str
    interval_s: int = INTERVAL_SECONDS
    http_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        # Fail at start-up, not once per interval: a bad address would never sign anything.
        if not self.api_url.startswith(("http://", "https://")):
            raise MeteringError(f"API URL must start with http:// or https://: {self.api_url!r}")
        if self.interval_s < 1:
            raise MeteringError("the interval must last at least 1 second")
        domain_separator(self.chain_id, self.market_address)


class MeterAgent:
    """Reads, signs, spools and delivers one meter's readings, one per interval boundary."""

    def __init__(
        self,
        adapter: MeterAdapter,
        private_key: ec.EllipticCurvePrivateKey,
        spool: Spool,
        config: AgentConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        http: httpx.Client | None = None,
        log: Callable[[str], None] = _stderr,
    ) -> None:
        self._adapter, self._key, self._spool, self._config = adapter, private_key, spool, config
        self._clock, self._sleep, self._log = clock, sleep, log
        self._http = http or httpx.Client(timeout=config.http_timeout_s)
        self._meter_id = MeterIdentity.of(private_key).meter_id
        self._url = config.api_url.rstrip("/") + "/readings"

    def tick(self, boundary_unix: int) -> SignedReading | None:
        """Read and spool the reading of the interval ending at `boundary_unix`.

        Returns None when that interval is already spooled (a restart within the interval).
        Raises `RegistersWentBackwardsError` (nothing is signed) if a register decreased.
        """
        interval_id = boundary_unix // self._config.interval_s - 1
        last = self._spool.last()
        if last is not None and interval_id <= last.reading.interval_id:
            return None
        snapshot = self._adapter.read()
        import_wh, export_wh = snapshot.import_wh.total_wh, snapshot.export_wh.total_wh
        if last is not None and (
            import_wh < last.reading.import_wh_total or export_wh < last.reading.export_wh_total
        ):
            raise RegistersWentBackwardsError(
                f"interval {interval_id}: registers went backwards (import {import_wh} Wh after "
                f"{last.reading.import_wh_total} Wh, export {export_wh} Wh after "
                f"{last.reading.export_wh_total} Wh); reading refused"
            )
        reading = Reading(
            meter_id=self._meter_id,
            interval_id=interval_id,
            import_wh_total=import_wh,
            export_wh_total=export_wh,
            seq=last.reading.seq + 1 if last is not None else 1,
        )
        signed = sign_reading(
            self._key, reading, self._config.chain_id, self._config.market_address
        )
        self._spool.add(signed)
        return signed

    def flush(self) -> int:
        """POST pending readings oldest-first; stop at the first delivery failure.

        Returns how many were acknowledged (201 or 200).
        """
        delivered = 0
        for signed in self._spool.pending():
            seq = signed.reading.seq
            try:
                response = self._http.post(self._url, json=signed.to_json())
            except httpx.HTTPError as error:
                self._log(f"API unreachable ({error.__class__.__name__}); seq {seq} kept")
                return delivered
            if response.status_code in (200, 201):
                self._spool.mark(seq, SENT)
                delivered += 1
            elif 400 <= response.status_code < 500:
                detail = f"{response.status_code}: {response.text[:500]}"
                self._spool.mark(seq, REJECTED, detail)
                self._log(f"API rejected seq {seq} ({detail})")
            else:
                self._log(f"API answered {response.status_code}; seq {seq} kept")
                return delivered
        return delivered

    def wait_for_boundary(self) -> int:
        """Sleep until the next interval boundary; return it (unix seconds)."""
        interval_s = self._config.interval_s
        boundary = (int(self._clock()) // interval_s + 1) * interval_s
        while (remaining := boundary - self._clock()) > 0:
            self._sleep(remaining)
        return boundary

    def run(self, max_intervals: int | None = None) -> None:
        """Deliver what is pending, then serve interval after interval (forever by default).

        A meter error at one boundary (unreachable, registers backwards) is reported and the
        agent carries on at the next boundary.
        """
        self.flush()
        done = 0
        while max_intervals is None or done < max_intervals:
            boundary = self.wait_for_boundary()
            try:
                self.tick(boundary)
            except MeteringError as error:
                self._log(str(error))
            self.flush()
            done += 1

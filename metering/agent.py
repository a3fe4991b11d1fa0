"""The meter agent: at each interval boundary read the meter, sign, spool, then POST; at each
period's end sign the period batch (protocol v2), spool it, then POST it.

Order of operations is what makes it lossless: a reading or a batch is durably spooled before
any network call, and each queue is flushed oldest-first, so a dead API, a kill or a reboot
only delays them. The clock and sleep are injected so tests run a day of intervals in
milliseconds. The time grid (interval and period lengths) is the community's, read from the
chain (`metering.config`): never a local default that could disagree with the exchange.

Per-interval readings (`POST /readings`) and period batches (`POST /meter-batches`) are both
signed in protocol v2's domain ("Quartier", "2", chain id, QuartierExchange).

The boundary registers of a period are the spooled readings (the reading of interval k holds
the registers at boundary (k + 1) * interval_seconds). Once the period's end boundary is
read (or a later one: the agent was down at the end), the period is decided, once, in order:
- every one of its period_intervals + 1 boundaries was read: build the MeterPeriod batch
  (`metering.period`), sign it, spool it as pending;
- a boundary is missing (the agent was down, or read it too late): NO batch. The meter signs
  only registers it read: filling a gap would sign boundary values nobody measured and move
  the gap's energy into intervals it was not used in. The exchange allows a gap between a
  meter's batches (the next batch starts at registers >= the last batch's end), so no energy
  is invented or lost from the registers' chain: the period is settled at zero delivery for
  this meter from its settlement deadline on, and the next complete period chains across it.
  The period is spooled as `incomplete` with the missing boundaries named, and logged.

A boundary counts as read only if the meter answered within `read_tolerance_s` of it (a read
an hour late is not the register at the boundary).

API answers (both queues): 201 stored, 200 already stored (a re-send after a kill) -> sent;
a 409 `period-not-over` (the chain's clock is behind ours), a 408 or 429, a 5xx or no
connection -> stop and retry at the next boundary, keeping the order; another 4xx ->
rejected for good (kept in the spool with the problem, logged, `quartier meter status`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.rules import TimeGrid
from metering.adapters.base import MeterAdapter
from metering.errors import MeteringError, RegistersWentBackwardsError
from metering.keys import MeterIdentity
from metering.period import build_meter_period, meter_batch_body, sign_meter_period
from metering.reading import Reading, SignedReading, domain_separator, sign_reading
from metering.spool import REJECTED, SENT, Spool

#: Problem types of a 4xx that only says "not yet": the batch is kept and sent again later.
RETRY_LATER_PROBLEMS = frozenset({"urn:quartier:problem:period-not-over"})
#: 4xx statuses that refuse nothing (timeout, rate limit): kept and sent again later.
RETRY_LATER_STATUSES = frozenset({408, 429})


def _stderr(message: str) -> None:
    print(f"quartier meter: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AgentConfig:
    """Where readings and batches go, how they are signed, and the community's time grid."""

    api_url: str
    chain_id: int
    exchange_address: str
    grid: TimeGrid
    http_timeout_s: float = 10.0
    #: Seconds after a boundary within which a read counts as that boundary's registers
    #: (default: a tenth of the interval, at least 1 s).
    read_tolerance_s: float | None = None

    def __post_init__(self) -> None:
        # Fail at start-up, not once per interval: a bad address would never sign anything.
        if not self.api_url.startswith(("http://", "https://")):
            raise MeteringError(f"API URL must start with http:// or https://: {self.api_url!r}")
        if not isinstance(self.grid, TimeGrid):
            raise MeteringError("the time grid must be the community's TimeGrid")
        if self.read_tolerance_s is not None and self.read_tolerance_s <= 0:
            raise MeteringError("the read tolerance must be positive")
        domain_separator(self.chain_id, self.exchange_address)

    @property
    def interval_s(self) -> int:
        return self.grid.interval_seconds

    @property
    def tolerance_s(self) -> float:
        if self.read_tolerance_s is not None:
            return self.read_tolerance_s
        return max(1.0, self.grid.interval_seconds / 10)

    def binding(self) -> dict[str, str]:
        """What a spool is bound to: one community's chain and grid."""
        return {
            "chain_id": str(self.chain_id),
            "exchange": self.exchange_address.lower(),
            "interval_seconds": str(self.grid.interval_seconds),
            "period_intervals": str(self.grid.period_intervals),
        }


class MeterAgent:
    """Reads, signs, spools and delivers one meter's readings and period batches."""

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
        spool.bind(config.binding())
        self._adapter, self._key, self._spool, self._config = adapter, private_key, spool, config
        self._clock, self._sleep, self._log = clock, sleep, log
        self._http = http or httpx.Client(timeout=config.http_timeout_s)
        self._identity = MeterIdentity.of(private_key)
        self._meter_id = self._identity.meter_id
        base = config.api_url.rstrip("/")
        self._readings_url, self._batches_url = base + "/readings", base + "/meter-batches"

    # ------------------------------------------------------------ reading boundaries

    def tick(self, boundary_unix: int) -> SignedReading | None:
        """Read and spool the reading of the interval ending at `boundary_unix`.

        Returns None when that interval is already spooled (a restart within the interval) or
        the boundary is missed (the meter answered later than the read tolerance).
        Raises `RegistersWentBackwardsError` (nothing is signed) if a register decreased.
        """
        interval_id = boundary_unix // self._config.interval_s - 1
        last = self._spool.last()
        if last is not None and interval_id <= last.reading.interval_id:
            return None
        if self._late(boundary_unix):
            return None
        snapshot = self._adapter.read()
        if self._late(boundary_unix):
            return None
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
            self._key, reading, self._config.chain_id, self._config.exchange_address
        )
        self._spool.add(signed)
        return signed

    def _late(self, boundary_unix: int) -> bool:
        lateness = self._clock() - boundary_unix
        if lateness > self._config.tolerance_s:
            self._log(f"boundary {boundary_unix} missed: read {lateness:.0f} s after it")
            return True
        return False

    # ------------------------------------------------------------ period batches

    def close_periods(self) -> list[int]:
        """Decide every period ended by the last boundary read and not decided yet, in order:
        a signed batch (spooled pending) or incomplete (see the module docstring).

        Returns the periods whose batch was spooled.
        """
        grid, batches = self._config.grid, self._spool.batches
        first, last = self._spool.first_interval(), self._spool.last()
        if first is None or last is None:
            return []
        last_boundary = grid.interval_end(last.reading.interval_id)
        # Periods P with end(P) <= last boundary read; from the first period that saw a
        # boundary (the agent's first boundary may lie inside it: that one is incomplete).
        ended = grid.period_at(last_boundary) - 1
        decided = batches.last_period()
        start = grid.period_at(grid.interval_end(first)) if decided is None else decided + 1
        signed_periods: list[int] = []
        for period_id in range(start, ended + 1):
            if self._close(period_id):
                signed_periods.append(period_id)
        return signed_periods

    def _close(self, period_id: int) -> bool:
        grid = self._config.grid
        # Boundary j of P (j = 0..N) is the end of interval first(P) - 1 + j.
        ends = range(grid.first_interval(period_id) - 1, grid.intervals(period_id).stop)
        registers = self._spool.registers(ends.start, ends.stop - 1)
        missing = [grid.interval_end(k) for k in ends if k not in registers]
        if missing:
            detail = (
                f"{len(missing)} of {len(ends)} boundaries not read (first missing at unix "
                f"{missing[0]}): no batch signed"
            )
            self._spool.batches.add(period_id, None, detail)
            self._log(f"period {period_id}: {detail}")
            return False
        try:
            period = build_meter_period(
                self._meter_id, period_id, [registers[k] for k in ends], grid.period_intervals
            )
        except MeteringError as error:  # cannot happen with a spool `tick` filled; kept honest
            self._spool.batches.add(period_id, None, str(error))
            self._log(f"period {period_id}: {error}")
            return False
        config = self._config
        signed = sign_meter_period(self._key, period, config.chain_id, config.exchange_address)
        self._spool.batches.add(period_id, meter_batch_body(signed, self._identity.public_key))
        return True

    # ------------------------------------------------------------ delivery

    def flush(self) -> int:
        """POST pending readings, then pending batches, each queue oldest-first, each stopping
        at its first delivery failure. Returns how many were acknowledged (201 or 200)."""
        return self.flush_readings() + self.flush_batches()

    def flush_readings(self) -> int:
        """POST pending readings oldest-first; stop at the first delivery failure."""
        delivered = 0
        for signed in self._spool.pending():
            seq = signed.reading.seq
            outcome = self._post(self._readings_url, signed.to_json(), f"seq {seq}")
            if outcome is None:
                return delivered
            status, detail = outcome
            self._spool.mark(seq, status, detail)
            delivered += status == SENT
        return delivered

    def flush_batches(self) -> int:
        """POST pending period batches oldest-first; stop at the first delivery failure."""
        delivered = 0
        for batch in self._spool.batches.pending():
            if batch.body is None:  # pending rows always carry a body
                continue
            what = f"batch of period {batch.period_id}"
            outcome = self._post(self._batches_url, batch.body, what)
            if outcome is None:
                return delivered
            status, detail = outcome
            self._spool.batches.mark(batch.period_id, status, detail)
            delivered += status == SENT
        return delivered

    def _post(self, url: str, body: dict[str, Any], what: str) -> tuple[str, str | None] | None:
        """(SENT, None) or (REJECTED, problem); None: keep it and retry later."""
        try:
            response = self._http.post(url, json=body)
        except httpx.HTTPError as error:
            self._log(f"API unreachable ({error.__class__.__name__}); {what} kept")
            return None
        if response.status_code in (200, 201):
            return SENT, None
        if 400 <= response.status_code < 500:
            if (
                response.status_code in RETRY_LATER_STATUSES
                or _problem_type(response) in RETRY_LATER_PROBLEMS
            ):
                self._log(f"API answered {response.status_code} (not yet); {what} kept")
                return None
            detail = f"{response.status_code}: {response.text[:500]}"
            self._log(f"API rejected {what} ({detail})")
            return REJECTED, detail
        self._log(f"API answered {response.status_code}; {what} kept")
        return None

    # ------------------------------------------------------------ the loop

    def wait_for_boundary(self) -> int:
        """Sleep until the next interval boundary; return it (unix seconds)."""
        interval_s = self._config.interval_s
        boundary = (int(self._clock()) // interval_s + 1) * interval_s
        while (remaining := boundary - self._clock()) > 0:
            self._sleep(remaining)
        return boundary

    def run(self, max_intervals: int | None = None) -> None:
        """Decide the periods a restart finds ended, deliver what is pending, then serve
        interval after interval (forever by default).

        A meter error at one boundary (unreachable, registers backwards) is reported and the
        agent carries on at the next boundary.
        """
        self.close_periods()
        self.flush()
        done = 0
        while max_intervals is None or done < max_intervals:
            boundary = self.wait_for_boundary()
            try:
                self.tick(boundary)
            except MeteringError as error:
                self._log(str(error))
            self.close_periods()
            self.flush()
            done += 1


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None

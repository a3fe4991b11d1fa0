"""Meter batches re-checked (IQuartierExchange, "Meter batches"): every batch the chain
accepted, posted or inline in a settlement, against the meter's key, its chain and its event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.audit.history import Logged, Position
from ledger.audit.model import Kind, Problem
from ledger.audit.timeline import Registry
from ledger.events_v2 import MeterBatchAccepted
from ledger.rules import TimeGrid
from metering.errors import MeteringError
from metering.period import MeterPeriod, SignedMeterPeriod, verify_meter_period
from metering.reading import PublicKey

#: Records one problem of the batch being checked.
_Add = Callable[[Kind, str], None]


@dataclass(frozen=True)
class Batch:
    """A batch's signed fields and (None: posted earlier, already checked) its signature."""

    meter_id: bytes
    period_id: int
    start_import_wh: int
    start_export_wh: int
    deltas: bytes
    signature: bytes | None

    def end_registers(self) -> tuple[int, int]:
        import_wh, export_wh = self.start_import_wh, self.start_export_wh
        for at in range(0, len(self.deltas) - 7, 8):
            import_wh += int.from_bytes(self.deltas[at : at + 4], "big")
            export_wh += int.from_bytes(self.deltas[at + 4 : at + 8], "big")
        return import_wh, export_wh

    def same_fields(self, other: Batch) -> bool:
        """The same signed batch (a posted batch re-supplied at settlement)."""
        return (
            self.meter_id,
            self.period_id,
            self.start_import_wh,
            self.start_export_wh,
            self.deltas,
        ) == (
            other.meter_id,
            other.period_id,
            other.start_import_wh,
            other.start_export_wh,
            other.deltas,
        )


@dataclass
class MeterChains:
    """Each meter's last accepted batch, and the posted ones by (meter, period)."""

    chain_id: int
    exchange: str
    grid: TimeGrid
    registry: Registry
    last: dict[bytes, tuple[int, int, int]] = field(default_factory=dict)
    posted: dict[tuple[bytes, int], tuple[Position, Batch]] = field(default_factory=dict)
    #: Batches posted by a transaction whose calldata is unreadable (named once there).
    unverified: dict[tuple[bytes, int], Position] = field(default_factory=dict)
    #: Periods with a posting, and periods settled, so far in chain order (the checkers of
    #: postings and settlements fill them): a batch may not skip an open period.
    posting_periods: set[int] = field(default_factory=set)
    settled_periods: set[int] = field(default_factory=set)
    signatures_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    def posted_before(self, meter_id: bytes, period_id: int, at: Position) -> Batch | None:
        found = self.posted.get((meter_id, period_id))
        return found[1] if found is not None and found[0] < at else None

    def accept(
        self,
        batch: Batch,
        at: Position,
        block_number: int,
        event: Logged[MeterBatchAccepted] | None,
        posted_call: bool,
    ) -> None:
        """Check one batch the chain accepted at `at`; `event` is its MeterBatchAccepted."""
        meter_hex = "0x" + batch.meter_id.hex()
        who = f"batch of meter {meter_hex} for period {batch.period_id}"

        def add(kind: Kind, detail: str) -> None:
            self.problems.append(
                Problem(kind, f"{who}: {detail}", batch.period_id, None, block_number)
            )

        if event is None:
            add(Kind.BATCH_EVENT_MISMATCH, "no MeterBatchAccepted event records it")
        elif (event.event.meter_id, event.event.period_id) != (batch.meter_id, batch.period_id):
            add(Kind.BATCH_EVENT_MISMATCH, "its MeterBatchAccepted names another batch")
        if posted_call and event is not None:
            ends_at = self.grid.period_end(batch.period_id)
            if event.block_time < ends_at:
                add(
                    Kind.BATCH_TOO_EARLY, f"posted at {event.block_time}, the period ends {ends_at}"
                )
        meter = self.registry.meter_at(batch.meter_id, at)
        if meter is None:
            add(Kind.BATCH_METER_NOT_COUNTING, "the meter is not registered")
            return
        if len(batch.deltas) != self.grid.period_intervals * 8:
            add(Kind.BATCH_BAD_DELTAS, f"{len(batch.deltas)} bytes of deltas")
            return
        window = self.registry.meter_window_at(batch.meter_id, at)
        grid = self.grid
        if not any(
            window.counts_for(grid.interval_start(k), grid.interval_end(k))
            for k in grid.intervals(batch.period_id)
        ):
            add(Kind.BATCH_METER_NOT_COUNTING, "the meter counts for no interval of the period")
        self._check_chain(batch, add)
        self._check_none_open(batch, meter.admitted.time, add)
        if batch.signature is not None:
            self._check_signature(batch, meter.public_key, add)
        end = batch.end_registers()
        if event is not None and (event.event.end_import_wh, event.event.end_export_wh) != end:
            add(
                Kind.BATCH_EVENT_MISMATCH,
                f"MeterBatchAccepted says end registers "
                f"{(event.event.end_import_wh, event.event.end_export_wh)}, the deltas give {end}",
            )
        self.last[batch.meter_id] = (batch.period_id, *end)
        if posted_call:
            self.posted[(batch.meter_id, batch.period_id)] = (at, batch)

    def _check_chain(self, batch: Batch, add: _Add) -> None:
        last = self.last.get(batch.meter_id)
        if last is None:
            return
        last_period, end_import, end_export = last
        start = (batch.start_import_wh, batch.start_export_wh)
        if batch.period_id == last_period + 1:
            chained = start == (end_import, end_export)
        else:
            chained = batch.period_id > last_period + 1 and (
                start[0] >= end_import and start[1] >= end_export
            )
        if not chained:
            add(
                Kind.BATCH_NOT_CHAINED,
                f"starts at {start} after period {last_period} ended at {(end_import, end_export)}",
            )

    def _check_none_open(self, batch: Batch, admitted_at: int, add: _Add) -> None:
        """Every period strictly between the meter's last accepted one and the batch's (a
        first batch: from the meter's admission period on) is settled or has no posting;
        else the batch of an open period could never chain in (IQuartierExchange)."""
        last = self.last.get(batch.meter_id)
        first = last[0] + 1 if last is not None else self.grid.period_at(admitted_at)
        for period_id in range(first, batch.period_id):
            if period_id in self.posting_periods and period_id not in self.settled_periods:
                add(
                    Kind.BATCH_EARLIER_PERIOD_OPEN,
                    f"accepted while period {period_id} (with postings) was not settled",
                )
                return

    def _check_signature(self, batch: Batch, public_key: PublicKey, add: _Add) -> None:
        self.signatures_checked += 1
        signature = batch.signature or b""
        valid = False
        if len(signature) == 64:
            try:
                period = MeterPeriod.from_deltas_bytes(
                    batch.meter_id,
                    batch.period_id,
                    batch.start_import_wh,
                    batch.start_export_wh,
                    batch.deltas,
                )
                signed = SignedMeterPeriod(
                    period,
                    int.from_bytes(signature[:32], "big"),
                    int.from_bytes(signature[32:], "big"),
                )
                valid = verify_meter_period(signed, public_key, self.chain_id, self.exchange)
            except MeteringError:
                valid = False
        if not valid:
            add(Kind.BATCH_SIGNATURE, "no valid low-s P-256 signature of the meter's key")

"""The meters' signed batches as the chain accepted them, per meter and period.

Read with the auditor's reader (`ledger.audit.source.read_history`: events and the calldata
of every call that accepted a batch): a batch is taken from the `postMeterBatches` call that
posted it or from the `settlePeriod` call that carried it inline (its meter is the entry of
the household's `metersOf` at that position), and only when a MeterBatchAccepted event
records it. Signatures and chaining were checked by the contract when it accepted them
(`quartier audit` re-checks them); this module only reads the registers' differences.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ledger.audit.history import BatchCall, History, SettleCall
from ledger.community import Window
from ledger.events_v2 import MeterAdmitted, MeterBatchAccepted, MeterRevoked
from ledger.exchange import MeterSource
from ledger.rules import TimeGrid


@dataclass(frozen=True)
class SignedBatch:
    """One accepted batch: start registers and (import, export) Wh per interval."""

    meter_id: bytes
    period_id: int
    start_import_wh: int
    start_export_wh: int
    deltas: np.ndarray  # shape (period_intervals, 2), uint32 as int64


@dataclass
class ChainMeters:
    """Every meter's window and accepted batches, and each household's meters in order."""

    grid: TimeGrid
    windows: dict[bytes, Window] = field(default_factory=dict)
    meters_of: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    batches: dict[tuple[bytes, int], SignedBatch] = field(default_factory=dict)


def _deltas(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=">u4").reshape(-1, 2).astype(np.int64)


def chain_meters(history: History) -> ChainMeters:
    """The meters and batches of `history` (see the module docstring)."""
    found = ChainMeters(history.grid)
    for logged in history.community_events:
        event = logged.event
        if isinstance(event, MeterAdmitted):
            found.windows[event.meter_id] = Window(event.admitted_at)
            found.meters_of[event.household.lower()].append(event.meter_id)
        elif isinstance(event, MeterRevoked) and event.meter_id in found.windows:
            found.windows[event.meter_id] = Window(
                found.windows[event.meter_id].admitted_at, event.revoked_at
            )
    accepted = {
        (logged.event.meter_id, logged.event.period_id): logged.tx_hash
        for logged in history.exchange_events
        if isinstance(logged.event, MeterBatchAccepted)
    }
    for (meter_id, period_id), tx_hash in accepted.items():
        call = history.calls.get(tx_hash)
        if isinstance(call, BatchCall):
            for raw in call.batches:
                if (raw.meter_id, raw.period_id) == (meter_id, period_id):
                    found.batches[meter_id, period_id] = SignedBatch(
                        meter_id,
                        period_id,
                        raw.start_import_wh,
                        raw.start_export_wh,
                        _deltas(raw.deltas),
                    )
        elif isinstance(call, SettleCall) and call.period_id == period_id:
            for household in call.households:
                meters = found.meters_of.get(household.household.lower(), [])
                for position, data in enumerate(household.meters):
                    if (
                        data.source == MeterSource.INLINE
                        and position < len(meters)
                        and meters[position] == meter_id
                    ):
                        found.batches[meter_id, period_id] = SignedBatch(
                            meter_id,
                            period_id,
                            data.start_import_wh,
                            data.start_export_wh,
                            _deltas(data.deltas),
                        )
    return found

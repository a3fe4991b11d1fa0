"""Meter batches: each defect planted in an otherwise honest history is named, and nothing
else is."""

from __future__ import annotations

from dataclasses import replace

from audit_world import CHAIN_ID, EXCHANGE, GRID, PERIOD, Scenario, edit, honest, tx_of
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.audit.history import BatchCall
from ledger.events_v2 import MeterBatchAccepted
from metering.period import MeterPeriod, SignedMeterPeriod, low_s, meter_period_digest
from metering.reading import P256_ORDER

#: The seller's registers at the end of PERIOD in the honest history.
SELLER_END = (10_003, 21_600)


def kinds(history: History) -> set[str]:
    return audit_history(history, settlement_rule).kinds()


def _posted_batch(history: History) -> tuple[bytes, BatchCall]:
    tx = tx_of(history, MeterBatchAccepted)
    call = history.calls[tx]
    assert isinstance(call, BatchCall)
    return tx, call


def test_batch_signature_in_its_high_s_twin() -> None:
    history = honest()
    tx, call = _posted_batch(history)
    (batch,) = call.batches
    s = int.from_bytes(batch.signature[32:], "big")
    twin = batch.signature[:32] + (P256_ORDER - s).to_bytes(32, "big")
    history.calls[tx] = replace(call, batches=(replace(batch, signature=twin),))
    assert kinds(history) == {"batch_signature"}


def test_batch_signature_by_another_key() -> None:
    history = honest()
    tx, call = _posted_batch(history)
    (batch,) = call.batches
    period = MeterPeriod.from_deltas_bytes(
        batch.meter_id, batch.period_id, batch.start_import_wh, batch.start_export_wh, batch.deltas
    )
    other = ec.generate_private_key(ec.SECP256R1())
    digest = meter_period_digest(period, CHAIN_ID, EXCHANGE)
    r, s = decode_dss_signature(other.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    forged = SignedMeterPeriod(period, r, low_s(s)).signature
    history.calls[tx] = replace(call, batches=(replace(batch, signature=forged),))
    assert kinds(history) == {"batch_signature"}


def _later(world: Scenario) -> None:
    world.builder.warp(GRID.period_end(PERIOD + 1) + 1)


def test_batch_not_chained_when_registers_go_back() -> None:
    def rewound(world: Scenario) -> None:
        _later(world)
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, (0, 0), [(0, 0)] * 4)])

    assert kinds(honest(after_settlement=rewound)) == {"batch_not_chained"}


def test_batch_chained_across_a_gap_may_start_higher() -> None:
    def gap(world: Scenario) -> None:
        world.builder.warp(GRID.period_end(PERIOD + 2) + 1)
        b = world.builder
        start = (SELLER_END[0] + 50, SELLER_END[1])
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 2, start, [(1, 1)] * 4)])

    assert kinds(honest(after_settlement=gap)) == set()


def test_batch_bad_deltas_of_the_wrong_length() -> None:
    def short(world: Scenario) -> None:
        _later(world)
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, SELLER_END, [(0, 0)] * 3)])

    assert kinds(honest(after_settlement=short)) == {"batch_bad_deltas"}


def test_batch_meter_not_counting_when_admitted_after_the_period() -> None:
    def after(world: Scenario) -> None:
        _later(world)
        b = world.builder
        meter = b.admit_meter(world.idle)
        b.post_batches([b.batch(meter, PERIOD + 1, (0, 0), [(1, 1)] * 4)])

    assert kinds(honest(after_settlement=after)) == {"batch_meter_not_counting"}


def test_batch_too_early_before_its_period_ends() -> None:
    def early(world: Scenario) -> None:
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, SELLER_END, [(0, 0)] * 4)])

    assert kinds(honest(after_settlement=early)) == {"batch_too_early"}


def test_batch_event_mismatch_when_the_event_misstates_the_end_registers() -> None:
    history = honest()
    logged = edit(history, MeterBatchAccepted)
    edit(history, MeterBatchAccepted, end_import_wh=logged.event.end_import_wh + 1)
    assert kinds(history) == {"batch_event_mismatch"}


def test_batch_earlier_period_open_when_a_later_batch_skips_an_unsettled_period() -> None:
    # The erase-your-purchases attack: the buyer's first batch is of PERIOD + 1 while PERIOD
    # (with postings) waits for settlement; its batch of PERIOD could then never chain in.
    def skipping(world: Scenario) -> None:
        world.builder.warp(GRID.period_end(PERIOD + 1) + 1)
        b = world.builder
        b.post_batches([b.batch(world.idle.meters[0], PERIOD + 1, (0, 0), [(0, 0)] * 4)])

    assert kinds(honest(before_settlement=skipping, settle=False)) == {
        "batch_earlier_period_open",
        "period_unsettled",
    }

"""Meter batches (ledger.audit.batches): each defect named with the meter, the period and the
figures a reader needs, at the batch's block; the chain rule's boundaries (same period,
next period, a gap) and the end registers. Written against the survivors of
scripts/mutation (issue 17); expected texts and numbers are derived here from the planted
defect, not from the checker.
"""

from __future__ import annotations

from dataclasses import replace

from audit_world import (
    GRID,
    PERIOD,
    Meter,
    Scenario,
    edit,
    entries,
    honest,
    tx_of,
)
from cryptography.hazmat.primitives.asymmetric import ec

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.audit.batches import Batch
from ledger.audit.history import BatchCall, Logged, RawBatch
from ledger.audit.model import Kind, Problem
from ledger.events_v2 import MeterBatchAccepted
from ledger.schedules import NO_ENTRY
from metering.reading import PublicKey, meter_id_of

#: The seller's registers at the end of PERIOD in the honest history (inline batch).
SELLER_END = (10_003, 21_600)
#: The buyer's posted batch of PERIOD: its start and its end registers.
BUYER_START = (10_000, 20_000)
BUYER_END = (10_000 + 600 + 450 + 7, 20_000 + 1)


def problems(history: History) -> list[Problem]:
    return list(audit_history(history, settlement_rule).problems)


def batch_problem(kind: Kind, meter_id: bytes, period_id: int, detail: str, block: int) -> Problem:
    return Problem(
        kind,
        f"batch of meter 0x{meter_id.hex()} for period {period_id}: {detail}",
        period_id,
        None,
        block,
    )


def last_batch(history: History) -> Logged[MeterBatchAccepted]:
    return [e for e in history.exchange_events if isinstance(e.event, MeterBatchAccepted)][-1]


def posted_batch(history: History) -> tuple[bytes, BatchCall]:
    tx = tx_of(history, MeterBatchAccepted)
    call = history.calls[tx]
    assert isinstance(call, BatchCall)
    return tx, call


def later(world: Scenario, period_id: int = PERIOD + 1) -> None:
    world.builder.warp(GRID.period_end(period_id) + 1)


def test_the_honest_history_checks_every_batch_signature() -> None:
    # One posted batch and two inline ones.
    assert audit_history(honest(), settlement_rule).batch_signatures == 3


def test_a_signature_of_the_wrong_length_is_refused_and_counted() -> None:
    history = honest()
    tx, call = posted_batch(history)
    (batch,) = call.batches
    history.calls[tx] = replace(call, batches=(replace(batch, signature=batch.signature[:63]),))
    block = last_batch_of(history, batch.meter_id).block_number
    report = audit_history(history, settlement_rule)
    assert list(report.problems) == [
        batch_problem(
            Kind.BATCH_SIGNATURE,
            batch.meter_id,
            PERIOD,
            "no valid low-s P-256 signature of the meter's key",
            block,
        )
    ]
    assert report.batch_signatures == 3


def test_a_signature_out_of_range_is_refused() -> None:
    # r = 0 is no P-256 signature at all (the verifier refuses it rather than raising).
    history = honest()
    tx, call = posted_batch(history)
    (batch,) = call.batches
    history.calls[tx] = replace(call, batches=(replace(batch, signature=bytes(64)),))
    assert {p.kind for p in problems(history)} == {Kind.BATCH_SIGNATURE}


def last_batch_of(history: History, meter_id: bytes) -> Logged[MeterBatchAccepted]:
    return [
        e
        for e in history.exchange_events
        if isinstance(e.event, MeterBatchAccepted) and e.event.meter_id == meter_id
    ][-1]


def test_batch_not_chained_names_the_start_and_the_last_end() -> None:
    def rewound(world: Scenario) -> None:
        later(world)
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, (0, 0), [(0, 0)] * 4)])

    history = honest(after_settlement=rewound)
    logged = last_batch(history)
    assert problems(history) == [
        batch_problem(
            Kind.BATCH_NOT_CHAINED,
            logged.event.meter_id,
            PERIOD + 1,
            f"starts at (0, 0) after period {PERIOD} ended at {SELLER_END}",
            logged.block_number,
        )
    ]


def _next_batch_from(start: tuple[int, int], period_id: int = PERIOD + 1) -> History:
    def next_one(world: Scenario) -> None:
        later(world, period_id)
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], period_id, start, [(1, 1)] * 4)])

    return honest(after_settlement=next_one)


def test_the_next_period_starts_exactly_at_the_last_end() -> None:
    assert problems(_next_batch_from(SELLER_END)) == []
    for start in (
        (SELLER_END[0] + 1, SELLER_END[1]),
        (SELLER_END[0], SELLER_END[1] + 1),
        (SELLER_END[0] - 1, SELLER_END[1]),
        (SELLER_END[0], SELLER_END[1] - 1),
    ):
        assert {p.kind for p in problems(_next_batch_from(start))} == {Kind.BATCH_NOT_CHAINED}


def test_across_a_gap_both_registers_may_only_go_up() -> None:
    gap = PERIOD + 2  # PERIOD + 1 had no posting: a batch may skip it
    assert problems(_next_batch_from(SELLER_END, gap)) == []
    assert problems(_next_batch_from((SELLER_END[0] + 5, SELLER_END[1] + 5), gap)) == []
    for start in ((SELLER_END[0] - 1, SELLER_END[1] + 5), (SELLER_END[0] + 5, SELLER_END[1] - 1)):
        assert {p.kind for p in problems(_next_batch_from(start, gap))} == {Kind.BATCH_NOT_CHAINED}


def test_a_second_batch_of_the_same_period_is_not_chained() -> None:
    def again(world: Scenario) -> None:
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD, SELLER_END, [(0, 0)] * 4)])

    history = honest(after_settlement=again)
    assert {p.kind for p in problems(history)} == {Kind.BATCH_NOT_CHAINED}


def test_batch_bad_deltas_names_the_length_and_checks_nothing_more() -> None:
    def short(world: Scenario) -> None:
        later(world)
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, SELLER_END, [(0, 0)] * 3)])
        # The short batch did not move the meter's chain: the next period still chains on.
        later(world, PERIOD + 2)
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 2, SELLER_END, [(1, 0)] * 4)])

    history = honest(after_settlement=short)
    bad = [e for e in history.exchange_events if isinstance(e.event, MeterBatchAccepted)][-2]
    report = audit_history(history, settlement_rule)
    assert list(report.problems) == [
        batch_problem(
            Kind.BATCH_BAD_DELTAS,
            bad.event.meter_id,
            PERIOD + 1,
            f"{3 * 8} bytes of deltas",
            bad.block_number,
        )
    ]
    assert report.batch_signatures == 3 + 1  # the short batch's signature is not checked


def test_a_batch_of_an_unregistered_meter_is_named() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = PublicKey.from_cryptography(key.public_key())
    stranger = Meter(key, meter_id_of(public_key), public_key)

    def unknown(world: Scenario) -> None:
        later(world)
        b = world.builder
        b.post_batches([b.batch(stranger, PERIOD + 1, (0, 0), [(1, 1)] * 4)])

    history = honest(after_settlement=unknown)
    report = audit_history(history, settlement_rule)
    assert list(report.problems) == [
        batch_problem(
            Kind.BATCH_METER_NOT_COUNTING,
            stranger.meter_id,
            PERIOD + 1,
            "the meter is not registered",
            last_batch(history).block_number,
        )
    ]
    assert report.batch_signatures == 3


def test_batch_meter_not_counting_names_why() -> None:
    def after(world: Scenario) -> None:
        later(world)
        b = world.builder
        meter = b.admit_meter(world.idle)
        b.post_batches([b.batch(meter, PERIOD + 1, (0, 0), [(1, 1)] * 4)])

    history = honest(after_settlement=after)
    logged = last_batch(history)
    assert problems(history) == [
        batch_problem(
            Kind.BATCH_METER_NOT_COUNTING,
            logged.event.meter_id,
            PERIOD + 1,
            "the meter counts for no interval of the period",
            logged.block_number,
        )
    ]


def test_a_meter_admitted_during_the_period_counts_for_its_later_intervals() -> None:
    def midway(world: Scenario) -> None:
        b = world.builder
        b.warp(GRID.interval_start(GRID.first_interval(PERIOD + 1) + 1))
        meter = b.admit_meter(world.idle)
        later(world)
        b.post_batches([b.batch(meter, PERIOD + 1, (0, 0), [(1, 1)] * 4)])

    assert problems(honest(after_settlement=midway)) == []


def test_batch_too_early_names_when_and_the_period_end() -> None:
    def early(world: Scenario) -> None:
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, SELLER_END, [(0, 0)] * 4)])

    history = honest(after_settlement=early)
    logged = last_batch(history)
    ends = GRID.period_end(PERIOD + 1)
    assert problems(history) == [
        batch_problem(
            Kind.BATCH_TOO_EARLY,
            logged.event.meter_id,
            PERIOD + 1,
            f"posted at {logged.block_time}, the period ends {ends}",
            logged.block_number,
        )
    ]


def test_a_batch_posted_exactly_when_its_period_ends_is_on_time() -> None:
    def on_the_dot(world: Scenario) -> None:
        b = world.builder
        b.warp(GRID.period_end(PERIOD + 1))
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, SELLER_END, [(0, 0)] * 4)])

    history = honest(after_settlement=on_the_dot)
    assert last_batch(history).block_time == GRID.period_end(PERIOD + 1)
    assert problems(history) == []


def test_batch_event_mismatch_names_both_end_registers() -> None:
    history = honest()
    logged = edit(history, MeterBatchAccepted, end_import_wh=BUYER_END[0] + 1)
    assert problems(history) == [
        batch_problem(
            Kind.BATCH_EVENT_MISMATCH,
            logged.event.meter_id,
            PERIOD,
            f"MeterBatchAccepted says end registers {(BUYER_END[0] + 1, BUYER_END[1])}, "
            f"the deltas give {BUYER_END}",
            logged.block_number,
        )
    ]


def test_an_event_naming_another_batch_is_named() -> None:
    history = honest()
    logged = edit(history, MeterBatchAccepted, period_id=PERIOD + 5)
    found = problems(history)
    _, call = posted_batch(history)
    assert found[0] == batch_problem(
        Kind.BATCH_EVENT_MISMATCH,
        call.batches[0].meter_id,
        PERIOD,
        "its MeterBatchAccepted names another batch",
        logged.block_number,
    )


def test_a_batch_without_its_event_is_named_and_still_chains() -> None:
    def two_posted_one_recorded(world: Scenario) -> None:
        later(world)
        b = world.builder
        seller = b.batch(world.seller.meters[0], PERIOD + 1, SELLER_END, [(1, 1)] * 4)
        b.post_batches([seller])
        tx = b.history.exchange_events[-1].tx_hash
        idle_end = (10_000 + 105, 20_000)
        idle = b.batch(world.idle.meters[0], PERIOD + 1, idle_end, [(1, 1)] * 4)
        call = b.history.calls[tx]
        assert isinstance(call, BatchCall)
        b.history.calls[tx] = replace(call, batches=(*call.batches, RawBatch(*idle.as_abi())))

    history = honest(after_settlement=two_posted_one_recorded)
    logged = last_batch(history)
    found = problems(history)
    call = history.calls[logged.tx_hash]
    assert isinstance(call, BatchCall)
    idle_meter = call.batches[1].meter_id
    assert found == [
        Problem(
            Kind.BATCH_EVENT_MISMATCH,
            "2 batches posted, 1 MeterBatchAccepted",
            PERIOD + 1,
            None,
            logged.block_number,
        ),
        batch_problem(
            Kind.BATCH_EVENT_MISMATCH,
            idle_meter,
            PERIOD + 1,
            "no MeterBatchAccepted event records it",
            logged.block_number,
        ),
    ]


def test_batch_earlier_period_open_names_the_open_period() -> None:
    def skipping(world: Scenario) -> None:
        later(world)
        b = world.builder
        b.post_batches([b.batch(world.idle.meters[0], PERIOD + 1, (0, 0), [(0, 0)] * 4)])

    history = honest(before_settlement=skipping, settle=False)
    logged = last_batch(history)
    assert problems(history)[0] == batch_problem(
        Kind.BATCH_EARLIER_PERIOD_OPEN,
        logged.event.meter_id,
        PERIOD + 1,
        f"accepted while period {PERIOD} (with postings) was not settled",
        logged.block_number,
    )


def test_end_registers_add_every_interval_of_the_deltas() -> None:
    deltas = b"".join(
        i.to_bytes(4, "big") + e.to_bytes(4, "big") for i, e in [(1, 10), (2, 20), (4, 40)]
    )
    batch = Batch(bytes(32), 1, 100, 1_000, deltas, None)
    assert batch.end_registers() == (107, 1_070)
    assert Batch(bytes(32), 1, 5, 6, b"", None).end_registers() == (5, 6)
    # Every byte of both uint32 halves counts (2^24 + 1 in each).
    wide = (2**24 + 1).to_bytes(4, "big") * 2
    assert Batch(bytes(32), 1, 0, 0, wide, None).end_registers() == (2**24 + 1, 2**24 + 1)


def test_same_fields_compares_every_signed_field_but_not_the_signature() -> None:
    base = Batch(bytes(32), 7, 1, 2, bytes(8), b"sig")
    assert base.same_fields(replace(base, signature=None))
    for changed in (
        replace(base, meter_id=b"\x01" * 32),
        replace(base, period_id=8),
        replace(base, start_import_wh=3),
        replace(base, start_export_wh=3),
        replace(base, deltas=bytes(7) + b"\x01"),
    ):
        assert not base.same_fields(changed)


def test_a_meter_revoked_during_the_period_counts_for_its_earlier_intervals() -> None:
    # The idle household leaves after the first interval of PERIOD + 1: its meter is revoked
    # then, still counts for interval 0, so its batch of the period is accepted as is.
    idle_end = (10_000 + 105, 20_000)

    def leaves_midway(world: Scenario) -> None:
        b = world.builder
        b.warp(GRID.interval_start(GRID.first_interval(PERIOD + 1) + 1) + 1)
        b.remove(world.idle)
        later(world)
        b.post_batches([b.batch(world.idle.meters[0], PERIOD + 1, idle_end, [(1, 1)] * 4)])

    assert problems(honest(after_settlement=leaves_midway)) == []


def test_an_open_period_is_looked_for_only_after_the_meters_last_batch() -> None:
    # PERIOD (with postings) and PERIOD + 1 (a posting) are both unsettled. The buyer's
    # batch of PERIOD was posted (its own period: fine); its next batch, of PERIOD + 2,
    # skips PERIOD + 1 and is named for that period: the first open one after its last
    # batch, not PERIOD before it.
    def skips_an_open_period(world: Scenario) -> None:
        b = world.builder
        b.post([(world.idle, PERIOD + 1, 1, 3, entries(NO_ENTRY))])
        b.warp(GRID.period_end(PERIOD + 2) + 1)
        b.post_batches([b.batch(world.buyer.meters[0], PERIOD + 2, BUYER_END, [(0, 0)] * 4)])

    history = honest(before_settlement=skips_an_open_period, settle=False)
    logged = last_batch(history)
    found = [p for p in problems(history) if p.kind.value.startswith("batch_")]
    assert found == [
        batch_problem(
            Kind.BATCH_EARLIER_PERIOD_OPEN,
            logged.event.meter_id,
            PERIOD + 2,
            f"accepted while period {PERIOD + 1} (with postings) was not settled",
            logged.block_number,
        )
    ]


def test_a_batch_right_after_its_meters_last_one_finds_no_open_period() -> None:
    # The buyer's batch of PERIOD is posted while PERIOD is open; its batch of PERIOD + 1
    # follows it directly: no period lies between them, whatever is open before.
    def next_one(world: Scenario) -> None:
        b = world.builder
        b.warp(GRID.period_end(PERIOD + 1) + 1)
        b.post_batches([b.batch(world.buyer.meters[0], PERIOD + 1, BUYER_END, [(0, 0)] * 4)])

    history = honest(before_settlement=next_one, settle=False)
    assert not [p for p in problems(history) if p.kind.value.startswith("batch_")]


def test_a_batch_whose_registers_overflow_is_no_valid_signed_batch() -> None:
    # A faulty exchange accepted a batch whose end registers pass 2^64 - 1: no meter can
    # have signed it (the signed format refuses it), so its signature is named invalid.
    def overflowing(world: Scenario) -> None:
        later(world)
        b = world.builder
        b.post_batches([b.batch(world.seller.meters[0], PERIOD + 1, SELLER_END, [(1, 1)] * 4)])
        tx = b.history.exchange_events[-1].tx_hash
        call = b.history.calls[tx]
        assert isinstance(call, BatchCall)
        (raw,) = call.batches
        b.history.calls[tx] = replace(call, batches=(replace(raw, start_import_wh=2**64 - 1),))

    kinds = {p.kind for p in problems(honest(after_settlement=overflowing))}
    assert Kind.BATCH_SIGNATURE in kinds

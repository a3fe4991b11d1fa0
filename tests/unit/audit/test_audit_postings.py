"""Postings: each defect planted in an otherwise honest history is named, and nothing else."""

from __future__ import annotations

from dataclasses import replace

import pytest
from audit_world import (
    GRID,
    PERIOD,
    RELAYER,
    Household,
    Scenario,
    edit,
    entries,
    honest,
    sign_raw,
    tx_of,
)
from eth_account import Account

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.audit.history import PostCall, Unreadable
from ledger.events_v2 import MeterBatchAccepted, PeriodSettled, SchedulePosted
from ledger.schedules import NO_ENTRY, Entry, EntrySide
from ledger.signatures import SECP256K1_N

FORWARDER = "0x" + "f0" * 20


def kinds(history: History) -> set[str]:
    return audit_history(history, settlement_rule).kinds()


@pytest.mark.parametrize("event", [MeterBatchAccepted, PeriodSettled])
def test_calldata_unavailable_when_a_call_came_through_another_contract(event: type) -> None:
    history = honest()
    tx = tx_of(history, event)
    history.calls[tx] = Unreadable(RELAYER, FORWARDER)
    assert kinds(history) == {"calldata_unavailable"}


def test_a_posting_through_another_contract_is_read_from_its_event() -> None:
    # SchedulePosted carries the entries: the book (and the settlement's re-check) needs no
    # calldata; only the signature, which the event lacks, goes unchecked.
    history = honest()
    tx = tx_of(history, SchedulePosted, lambda e: e.version == 2)
    history.calls[tx] = Unreadable(RELAYER, FORWARDER)
    report = audit_history(history, settlement_rule)
    assert report.kinds() == set()
    assert (
        report.schedule_signatures
        == audit_history(honest(), settlement_rule).schedule_signatures - 1
    )


def test_posting_event_mismatch_when_an_events_entries_are_not_what_was_hashed() -> None:
    history = honest()
    tx = tx_of(history, SchedulePosted, lambda e: e.version == 2)
    history.calls[tx] = Unreadable(RELAYER, FORWARDER)
    logged = edit(history, SchedulePosted, lambda e: e.version == 2)
    edit(
        history,
        SchedulePosted,
        lambda e: e.version == 2,
        entries=logged.event.entries[:-1] + b"\x01",
    )
    assert "posting_event_mismatch" in kinds(history)


def _second_posting(history: History) -> tuple[bytes, PostCall]:
    tx = tx_of(history, SchedulePosted, lambda e: e.version == 2)
    call = history.calls[tx]
    assert isinstance(call, PostCall)
    return tx, call


def test_posting_signature_by_another_key() -> None:
    history = honest()
    tx, call = _second_posting(history)
    (schedule,) = call.schedules
    forged = sign_raw(Account.create(), schedule)
    history.calls[tx] = replace(call, schedules=(forged,))
    assert kinds(history) == {"posting_signature"}


def test_posting_signature_in_its_high_s_twin() -> None:
    # (r, n - s) with the other v recovers the same household: only the low-s rule refuses.
    history = honest()
    tx, call = _second_posting(history)
    (schedule,) = call.schedules
    sig = schedule.signature
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    history.calls[tx] = replace(call, schedules=(replace(schedule, signature=twin),))
    assert kinds(history) == {"posting_signature"}


def test_posting_not_member_when_posted_before_admission() -> None:
    def stranger_posts_then_joins(world: Scenario) -> None:
        late = Household(Account.create())
        world.builder.post([(late, PERIOD, 1, 0, entries(Entry(EntrySide.SELL, 50, 60_000)))])
        world.builder.admit(meters=0, account=late.account)

    assert kinds(honest(after_posting=stranger_posts_then_joins)) == {"posting_not_member"}


def test_posting_gate_closed_when_posted_after_its_first_gate() -> None:
    def late_version(world: Scenario) -> None:
        b = world.builder
        first = GRID.first_interval(PERIOD) + 2
        b.post([(world.idle, PERIOD, 2, 2, b"")], at=GRID.interval_start(first) + 1)

    report = audit_history(honest(after_posting=late_version), settlement_rule)
    assert report.kinds() == {"posting_gate_closed"}
    assert report.problems[0].interval_id == GRID.first_interval(PERIOD) + 2


def test_posting_beyond_horizon_two_periods_ahead() -> None:
    def too_far(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 1, 1, 0, b"")])

    assert kinds(honest(after_posting=too_far)) == {"posting_beyond_horizon"}


def test_posting_outside_period_when_entries_run_past_its_end() -> None:
    def runs_over(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 1, 3, entries(NO_ENTRY, NO_ENTRY))])

    assert kinds(honest(after_settlement=runs_over)) == {"posting_outside_period"}


def test_posting_stale_version_when_a_version_repeats() -> None:
    def repeat(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 1, 0, b"")])
        world.builder.post([(world.idle, PERIOD + 2, 1, 0, entries(NO_ENTRY))])

    assert kinds(honest(after_settlement=repeat)) == {"posting_stale_version"}


def test_posting_too_many_beyond_the_cap() -> None:
    def flood(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, v, 0, b"") for v in range(1, 26)])

    report = audit_history(honest(after_settlement=flood), settlement_rule)
    assert report.kinds() == {"posting_too_many"}
    assert len(report.problems) == 1  # only the 25th


def test_posting_bad_entries_with_an_unknown_side() -> None:
    def bad(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 1, 0, bytes([3]) + bytes(7))])

    assert kinds(honest(after_settlement=bad)) == {"posting_bad_entries"}


def test_posting_lock_mismatch_when_the_lock_is_not_the_buy_entries_cost() -> None:
    def overlock(world: Scenario) -> None:
        buy = entries(Entry(EntrySide.BUY, 10, 100_000))
        world.builder.post([(world.buyer, PERIOD + 2, 1, 0, buy)], lock_delta=1)

    assert kinds(honest(after_settlement=overlock)) == {"posting_lock_mismatch"}


def test_posting_event_mismatch_when_the_event_names_another_version() -> None:
    history = honest()
    edit(history, SchedulePosted, lambda e: e.version == 2, version=9)
    assert kinds(history) == {"posting_event_mismatch"}


def test_posting_too_many_households_beyond_the_cap() -> None:
    # The honest period has three posting households; under a cap of two (the contract's is
    # MAX_HOUSEHOLDS_PER_PERIOD, read from it) the third household's posting is named, and
    # no other (the buyer's second posting included: it already counted).
    history = honest()
    history.max_households_per_period = 2
    report = audit_history(history, settlement_rule)
    assert report.kinds() == {"posting_too_many_households"}
    assert len(report.problems) == 1

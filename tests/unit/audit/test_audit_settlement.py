"""Settlements: each defect planted in an otherwise honest history is named, and nothing
else is (or only what the defect really implies, said in the test)."""

from __future__ import annotations

from dataclasses import replace

from audit_world import (
    GRID,
    PERIOD,
    RULES,
    edit,
    honest,
    resync,
    tx_of,
)

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.audit.history import Logged, SettleCall
from ledger.events_v2 import (
    HouseholdSettled,
    MeterBatchAccepted,
    PeriodCleared,
    PeriodSettled,
    RulesScheduled,
)
from ledger.exchange import MeterData, MeterSource


def kinds(history: History) -> set[str]:
    return audit_history(history, settlement_rule).kinds()


def _settlement(history: History) -> tuple[bytes, SettleCall]:
    tx = tx_of(history, PeriodSettled)
    call = history.calls[tx]
    assert isinstance(call, SettleCall)
    return tx, call


def _with_household(call: SettleCall, address: str, **changes: object) -> SettleCall:
    return replace(
        call,
        households=tuple(
            replace(h, **changes) if h.household == address else h for h in call.households
        ),
    )


def _buyer(history: History) -> str:
    _, call = _settlement(history)
    (buyer,) = [h.household for h in call.households if len(h.postings) == 2]
    return buyer


def test_settlement_too_early_before_the_period_ends() -> None:
    history = honest()
    tx, _ = _settlement(history)
    early = GRID.period_end(PERIOD) - 1
    history.exchange_events = [
        replace(e, block_time=early) if e.tx_hash == tx else e for e in history.exchange_events
    ]
    assert kinds(history) == {"settlement_too_early"}


def test_settlement_duplicate_releases_and_chains_twice() -> None:
    history = honest()
    tx, call = _settlement(history)
    copy = b"\xdd" * 32
    block = history.to_block + 1
    history.exchange_events += [
        replace(e, tx_hash=copy, block_number=block, block_time=history.last_block_time + 1)
        for e in history.exchange_events
        if e.tx_hash == tx
    ]
    history.calls[copy] = call
    history.to_block = block
    # The second run re-releases locks already released and re-accepts the inline batches.
    assert kinds(resync(history)) == {
        "settlement_duplicate",
        "escrow_overdrawn",
        "batch_not_chained",
    }


def test_settlement_households_mismatch_when_one_is_left_out() -> None:
    history = honest()
    tx, call = _settlement(history)
    left_out = call.households[-1]
    history.calls[tx] = replace(call, households=call.households[:-1])
    # Its inline batch went with it: the faulty contract's events follow its calldata.
    meters = set(history.state.meters_of[left_out.household])
    history.exchange_events = [
        e
        for e in history.exchange_events
        if not (isinstance(e.event, MeterBatchAccepted) and e.event.meter_id in meters)
    ]
    assert kinds(history) == {"settlement_households_mismatch"}


def test_settlement_postings_mismatch_when_a_version_is_left_out() -> None:
    history = honest()
    tx, call = _settlement(history)
    buyer = _buyer(history)
    (first_only,) = [h.postings[:1] for h in call.households if h.household == buyer]
    history.calls[tx] = _with_household(call, buyer, postings=first_only)
    assert kinds(history) == {"settlement_postings_mismatch"}


def test_settlement_meters_mismatch_when_a_meter_is_left_out() -> None:
    history = honest()
    tx, call = _settlement(history)
    history.calls[tx] = _with_household(call, _buyer(history), meters=())
    assert kinds(history) == {"settlement_meters_mismatch"}


def test_settlement_posted_batch_unused_when_resupplied_inline() -> None:
    history = honest()
    tx, call = _settlement(history)
    buyer = _buyer(history)
    (posted,) = [h.meters[0] for h in call.households if h.household == buyer]
    assert posted.source is MeterSource.POSTED
    inline = MeterData(
        MeterSource.INLINE, posted.start_import_wh, posted.start_export_wh, posted.deltas, b""
    )
    history.calls[tx] = _with_household(call, buyer, meters=(inline,))
    assert kinds(history) == {"settlement_posted_batch_unused"}


def test_settlement_meter_data_missing_before_the_deadline() -> None:
    assert kinds(honest(omit_inline=("idle",))) == {"settlement_meter_data_missing"}


def test_a_missing_meter_past_the_deadline_measures_zero() -> None:
    history = honest(
        before_settlement=lambda w: w.builder.warp(GRID.settlement_deadline(PERIOD, RULES)),
        omit_inline=("seller",),
    )
    report = audit_history(history, settlement_rule)
    assert report.problems == ()
    assert report.periods[0].delivered_wh == 0


def test_meter_data_of_source_none_must_be_empty() -> None:
    history = honest(
        before_settlement=lambda w: w.builder.warp(GRID.settlement_deadline(PERIOD, RULES)),
        omit_inline=("seller",),
    )
    tx, call = _settlement(history)
    history.calls[tx] = replace(
        call,
        households=tuple(
            replace(h, meters=(MeterData(MeterSource.NONE, 1),))
            if h.meters[0].source is MeterSource.NONE
            else h
            for h in call.households
        ),
    )
    assert kinds(history) == {"batch_bad_deltas"}


def test_settlement_rule_refused_when_entries_break_the_period_rules() -> None:
    history = honest()
    # The first rules ask entries of at least 700 Wh: the buyer's 600 and 500 Wh are not.
    edit(
        history,
        RulesScheduled,
        lambda e: e.effective_from_period_id == 0,
        rules=replace(RULES, min_entry_wh=700),
    )
    assert kinds(resync(history)) == {"posting_bad_entries", "settlement_rule_refused"}


def test_hints_mismatch_when_the_rankings_are_not_the_rule_s() -> None:
    history = honest()
    tx, call = _settlement(history)
    history.calls[tx] = replace(call, hints=call.hints[:-2] + b"\xff\xff")
    assert kinds(history) == {"hints_mismatch"}


def test_cleared_mismatch_names_the_interval() -> None:
    history = honest()
    logged: Logged[PeriodCleared] = edit(history, PeriodCleared)
    data = logged.event.intervals
    edit(history, PeriodCleared, intervals=(150_001).to_bytes(8, "big") + data[8:])
    report = audit_history(history, settlement_rule)
    assert report.kinds() == {"cleared_mismatch"}
    assert [p.interval_id for p in report.problems] == [GRID.first_interval(PERIOD)]


def test_household_settled_mismatch_when_delivery_is_misstated() -> None:
    history = honest()
    edit(history, HouseholdSettled, lambda e: e.delivered_wh > 0, delivered_wh=1_051)
    assert kinds(history) == {"household_settled_mismatch"}


def test_household_settled_money_out_of_thin_air_also_breaks_conservation() -> None:
    history = honest()
    edit(history, HouseholdSettled, lambda e: e.change_units > 0, change_units=180_001)
    assert kinds(resync(history)) == {"household_settled_mismatch", "escrow_conservation"}


def test_period_settled_mismatch_when_the_total_is_misstated() -> None:
    history = honest()
    edit(history, PeriodSettled, delivered_wh=1_051)
    assert kinds(history) == {"period_settled_mismatch"}


def test_period_unsettled_past_its_deadline() -> None:
    report = audit_history(honest(settle=False), settlement_rule)
    assert report.kinds() == {"period_unsettled"}
    assert report.problems[0].period_id == PERIOD


def test_period_unsettled_only_once_the_deadline_has_passed() -> None:
    history = honest(settle=False)
    history.last_block_time = GRID.settlement_deadline(PERIOD, RULES)
    assert kinds(history) == set()
    history.last_block_time += 1
    assert kinds(history) == {"period_unsettled"}

"""Postings (ledger.audit.postings): each defect is named with the figures a reader needs
(who, which version, the numbers that break the rule), at the posting's period, first
interval and block. Written against the survivors of scripts/mutation (issue 17); every
expected text and number is derived here from the planted defect, not from the checker.
"""

from __future__ import annotations

from dataclasses import replace

from audit_world import (
    GRID,
    PERIOD,
    RELAYER,
    RULES,
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
from ledger.audit.history import Logged, PostCall, RawPosting, SettleCall, Unreadable
from ledger.audit.model import Kind, Problem
from ledger.audit.postings import Book
from ledger.entries import EntriesFormatError, decode_entries
from ledger.events_v2 import PeriodCleared, RulesScheduled, SchedulePosted
from ledger.schedules import NO_ENTRY, Entry, EntrySide
from ledger.signatures import SECP256K1_N, SignatureRuleError, check_signature

FORWARDER = "0x" + "f0" * 20


def problems(history: History) -> list[Problem]:
    return list(audit_history(history, settlement_rule).problems)


def last_posting(history: History) -> Logged[SchedulePosted]:
    return [e for e in history.exchange_events if isinstance(e.event, SchedulePosted)][-1]


def buyer_v2(history: History) -> Logged[SchedulePosted]:
    return next(
        e
        for e in history.exchange_events
        if isinstance(e.event, SchedulePosted) and e.event.version == 2
    )


def who(posting: SchedulePosted) -> str:
    return f"{posting.household} v{posting.version} of period {posting.period_id}"


def at(logged: Logged[SchedulePosted], kind: Kind, detail: str) -> Problem:
    """The problem `kind` as it should be named for `logged`'s posting."""
    e = logged.event
    return Problem(kind, detail, e.period_id, e.first_interval_id, logged.block_number)


def test_a_call_posting_more_schedules_than_events_is_named_once_and_not_checked() -> None:
    history = honest()
    tx = tx_of(history, SchedulePosted, lambda e: e.version == 2)
    call = history.calls[tx]
    assert isinstance(call, PostCall)
    history.calls[tx] = replace(call, schedules=call.schedules * 2)
    logged = buyer_v2(history)
    report = audit_history(history, settlement_rule)
    assert list(report.problems) == [
        at(logged, Kind.POSTING_EVENT_MISMATCH, "the call posts 2 schedules, 1 events record")
    ]
    # The event still counts for the book (settlement finds the posting); its signature, which
    # no event carries, is not checked against a call that does not match.
    honest_report = audit_history(honest(), settlement_rule)
    assert report.schedule_signatures == honest_report.schedule_signatures - 1
    assert report.periods == honest_report.periods


def test_an_event_that_differs_from_its_calldata_says_so() -> None:
    history = honest()
    logged = edit(history, SchedulePosted, lambda e: e.version == 2, version=9)
    assert problems(history) == [
        at(
            logged,
            Kind.POSTING_EVENT_MISMATCH,
            f"{who(logged.event)}: the event differs from the calldata",
        )
    ]


def test_an_event_of_a_forwarded_posting_that_differs_from_its_own_hash_says_so() -> None:
    history = honest()
    tx = tx_of(history, SchedulePosted, lambda e: e.version == 2)
    history.calls[tx] = Unreadable(RELAYER, FORWARDER)
    original = buyer_v2(history)
    logged = edit(
        history,
        SchedulePosted,
        lambda e: e.version == 2,
        entries=original.event.entries[:-1] + b"\x01",
    )
    found = problems(history)
    assert found[0] == at(
        logged,
        Kind.POSTING_EVENT_MISMATCH,
        f"{who(logged.event)}: the event differs from its own schedule_hash",
    )


def test_posting_signature_by_another_key_names_the_signer() -> None:
    history = honest()
    tx = tx_of(history, SchedulePosted, lambda e: e.version == 2)
    call = history.calls[tx]
    assert isinstance(call, PostCall)
    forger = Account.create()
    history.calls[tx] = replace(call, schedules=(sign_raw(forger, call.schedules[0]),))
    logged = buyer_v2(history)
    assert problems(history) == [
        at(logged, Kind.POSTING_SIGNATURE, f"{who(logged.event)} is signed by {forger.address}")
    ]


def test_posting_signature_refused_by_rule_names_the_rule() -> None:
    history = honest()
    tx = tx_of(history, SchedulePosted, lambda e: e.version == 2)
    call = history.calls[tx]
    assert isinstance(call, PostCall)
    sig = call.schedules[0].signature
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    history.calls[tx] = replace(call, schedules=(replace(call.schedules[0], signature=twin),))
    try:
        check_signature(twin)
    except SignatureRuleError as error:
        reason = str(error)
    logged = buyer_v2(history)
    assert problems(history) == [
        at(logged, Kind.POSTING_SIGNATURE, f"{who(logged.event)}: {reason}")
    ]


def test_posting_not_member_names_who() -> None:
    def stranger_posts_then_joins(world: Scenario) -> None:
        late = Household(Account.create())
        world.builder.post([(late, PERIOD, 1, 0, entries(Entry(EntrySide.SELL, 50, 60_000)))])
        world.builder.admit(meters=0, account=late.account)

    history = honest(after_posting=stranger_posts_then_joins)
    logged = last_posting(history)
    assert problems(history) == [
        at(logged, Kind.POSTING_NOT_MEMBER, f"{who(logged.event)}: not a member when posted")
    ]


def test_posting_gate_closed_names_the_time_and_the_gate() -> None:
    first = GRID.first_interval(PERIOD) + 2
    posted_at = GRID.interval_start(first) + 1

    def late_version(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD, 2, 2, b"")], at=posted_at)

    history = honest(after_posting=late_version)
    logged = last_posting(history)
    gate = GRID.interval_start(first) - RULES.gate_lead_seconds
    assert problems(history) == [
        at(
            logged,
            Kind.POSTING_GATE_CLOSED,
            f"{who(logged.event)} posted at {posted_at}, the gate of interval {first} "
            f"closed at {gate}",
        )
    ]


def test_posting_exactly_at_the_gate_is_too_late() -> None:
    # IQuartierExchange: posting requires block.timestamp < the gate.
    first = GRID.first_interval(PERIOD) + 2

    def at_gate(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD, 2, 2, b"")], at=GRID.interval_start(first))

    assert {p.kind for p in problems(honest(after_posting=at_gate))} == {Kind.POSTING_GATE_CLOSED}


def test_posting_beyond_horizon_names_the_last_open_period() -> None:
    def too_far(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 1, 1, 0, b"")])

    history = honest(after_posting=too_far)
    logged = last_posting(history)
    horizon = GRID.period_at(logged.block_time) + 1
    assert horizon == PERIOD
    assert problems(history) == [
        at(
            logged,
            Kind.POSTING_BEYOND_HORIZON,
            f"{who(logged.event)} posted when {horizon} was the last open",
        )
    ]


def test_posting_for_the_next_period_is_within_the_horizon() -> None:
    # While PERIOD - 1 is current, PERIOD (the next) is open: the honest postings do that.
    history = honest()
    assert GRID.period_at(buyer_v2(history).block_time) == PERIOD - 1
    assert problems(history) == []


def test_posting_outside_period_names_the_intervals() -> None:
    def runs_over(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 1, 3, entries(NO_ENTRY, NO_ENTRY))])

    history = honest(after_settlement=runs_over)
    logged = last_posting(history)
    first = GRID.first_interval(PERIOD + 2) + 3
    assert problems(history) == [
        at(
            logged,
            Kind.POSTING_OUTSIDE_PERIOD,
            f"{who(logged.event)}: intervals {first}..{first + 1} leave the period",
        )
    ]


def test_a_posting_ending_exactly_at_the_period_end_is_inside() -> None:
    def to_the_end(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 1, 2, entries(NO_ENTRY, NO_ENTRY))])

    assert problems(honest(after_settlement=to_the_end)) == []


def test_a_posting_starting_before_its_period_is_outside() -> None:
    def early(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 1, -1, entries(NO_ENTRY))])

    assert {p.kind for p in problems(honest(after_settlement=early))} == {
        Kind.POSTING_OUTSIDE_PERIOD
    }


def test_posting_stale_version_names_the_version_it_follows() -> None:
    def repeat(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 3, 0, b"")])
        world.builder.post([(world.idle, PERIOD + 2, 2, 0, entries(NO_ENTRY))])

    history = honest(after_settlement=repeat)
    logged = last_posting(history)
    assert problems(history) == [
        at(logged, Kind.POSTING_STALE_VERSION, f"{who(logged.event)} follows version 3")
    ]


def test_posting_too_many_names_the_count_and_the_cap() -> None:
    def flood(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, v, 0, b"") for v in range(1, 6)])

    history = honest(after_settlement=flood)
    history.max_postings_per_period = 4
    logged = last_posting(history)
    assert problems(history) == [
        at(logged, Kind.POSTING_TOO_MANY, f"{who(logged.event)} is posting 5 of at most 4")
    ]


def test_posting_too_many_households_names_the_count_and_the_cap() -> None:
    history = honest()
    history.max_households_per_period = 2
    third = [e for e in history.exchange_events if isinstance(e.event, SchedulePosted)][2]
    assert problems(history) == [
        at(
            third,
            Kind.POSTING_TOO_MANY_HOUSEHOLDS,
            f"{who(third.event)} is household 3 of at most 2",
        )
    ]


def test_posting_bad_entries_names_the_entry_and_why() -> None:
    bad = bytes([3]) + bytes(7)

    def unknown_side(world: Scenario) -> None:
        world.builder.post([(world.idle, PERIOD + 2, 1, 0, bad)])

    try:
        decode_entries(bad)
    except EntriesFormatError as error:
        reason = str(error)
    history = honest(after_settlement=unknown_side)
    logged = last_posting(history)
    assert problems(history) == [
        at(logged, Kind.POSTING_BAD_ENTRIES, f"{who(logged.event)}: {reason}")
    ]


def test_posting_below_the_communitys_minimum_entry_names_the_entry() -> None:
    strict = replace(RULES, min_entry_wh=100)
    small = entries(NO_ENTRY, Entry(EntrySide.SELL, 99, 60_000))
    periods: list[int] = []

    def stricter_rules_then_small_entry(world: Scenario) -> None:
        b = world.builder
        b.schedule_rules(strict)
        effective = b.rules[-1][0]
        periods.append(effective)
        b.warp(GRID.period_start(effective - 1) + 1)
        b.post([(world.idle, effective, 1, 0, small)])
        b.post([(world.seller, effective, 1, 0, entries(Entry(EntrySide.SELL, 100, 60_000)))])

    history = honest(after_settlement=stricter_rules_then_small_entry)
    logged = [e for e in history.exchange_events if isinstance(e.event, SchedulePosted)][-2]
    assert logged.event.period_id == periods[0]
    assert problems(history) == [
        at(logged, Kind.POSTING_BAD_ENTRIES, f"{who(logged.event)}: entry 1 is below the minimum")
    ]


def test_posting_lock_mismatch_names_both_amounts() -> None:
    def overlock(world: Scenario) -> None:
        buy = entries(Entry(EntrySide.BUY, 10, 100_000))
        world.builder.post([(world.buyer, PERIOD + 2, 1, 0, buy)], lock_delta=1)

    history = honest(after_settlement=overlock)
    logged = last_posting(history)
    need = 10 * 100_000 // 1000
    assert problems(history) == [
        at(
            logged,
            Kind.POSTING_LOCK_MISMATCH,
            f"{who(logged.event)} locked {need + 1} units, its buy entries need {need}",
        )
    ]


def test_a_settlement_with_other_postings_is_still_recomputed_from_the_chains() -> None:
    # The settle call re-supplies the buyer's postings without its version 2: named; and the
    # period is recomputed from the postings the chain committed (kept by the book), so a
    # misreported clearing is named as well.
    history = honest()
    tx = tx_of(history, PeriodCleared)
    call = history.calls[tx]
    assert isinstance(call, SettleCall)
    buyer = str(buyer_v2(history).event.household)
    households = tuple(
        replace(h, postings=h.postings[:1]) if h.household == buyer else h for h in call.households
    )
    assert any(len(h.postings) == 2 for h in call.households)
    history.calls[tx] = replace(call, households=households)
    cleared = edit(history, PeriodCleared)
    packed = bytearray(cleared.event.intervals)
    packed[0:8] = (int.from_bytes(packed[0:8], "big") + 1).to_bytes(8, "big")
    edit(history, PeriodCleared, intervals=bytes(packed))
    kinds = {p.kind for p in problems(history)}
    assert kinds == {Kind.SETTLEMENT_POSTINGS_MISMATCH, Kind.CLEARED_MISMATCH}


def test_the_book_lists_postings_strictly_before_a_position_by_household() -> None:
    history = honest()
    events = [e for e in history.exchange_events if isinstance(e.event, SchedulePosted)]
    book = Book()
    for logged in events:
        book.posted.setdefault(logged.event.period_id, {}).setdefault(
            logged.event.household, []
        ).append(logged)
    v2 = buyer_v2(history)
    before_v2 = book.postings_at(PERIOD, v2.position)
    assert before_v2[v2.event.household] == [
        e.event for e in events if e.event.household == v2.event.household and e.event.version == 1
    ]
    assert book.postings_at(PERIOD, events[0].position) == {}
    assert book.postings_at(PERIOD + 7, v2.position) == {}


def test_postings_supplied_as_posted_settle_clean() -> None:
    # The counterpart of the mismatch above: the honest settlement's postings equal the book's.
    history = honest()
    call = history.calls[tx_of(history, PeriodCleared)]
    assert isinstance(call, SettleCall)
    buyer = str(buyer_v2(history).event.household)
    (supplied,) = [h.postings for h in call.households if h.household == buyer]
    assert [p.version for p in supplied] == [1, 2]
    assert all(isinstance(p, RawPosting) for p in supplied)
    assert problems(history) == []


def test_postings_are_judged_by_the_rules_in_force_when_posted() -> None:
    # A faulty community schedules rules for a period after a posting for it (too early): a
    # larger minimum entry and a gate that would have closed. The posting was made under the
    # old rules and is not blamed; the change is named.
    stricter = replace(
        RULES, min_entry_wh=101, gate_lead_seconds=GRID.interval_seconds * GRID.period_intervals
    )

    def post_then_change(world: Scenario) -> None:
        b = world.builder
        b.post([(world.idle, PERIOD + 2, 1, 0, entries(Entry(EntrySide.BUY, 100, 120_000)))])
        b.schedule_rules(stricter, effective=PERIOD + 2)

    kinds = {p.kind for p in problems(honest(after_settlement=post_then_change))}
    assert kinds == {Kind.RULES_CHANGE_TOO_EARLY}


def test_a_posting_before_any_rules_names_rules_missing() -> None:
    history = honest()
    postings = [e for e in history.exchange_events if isinstance(e.event, SchedulePosted)]
    deploy = next(
        i
        for i, e in enumerate(history.community_events)
        if isinstance(e.event, RulesScheduled) and e.event.effective_from_period_id == 0
    )
    after = postings[-1]
    history.community_events[deploy] = replace(
        history.community_events[deploy],
        block_number=after.block_number,
        log_index=after.log_index + 1,
    )
    missing = [p for p in problems(history) if p.kind is Kind.RULES_MISSING]
    assert missing == [
        at(e, Kind.RULES_MISSING, f"{who(e.event)}: no rules for period {PERIOD}") for e in postings
    ]

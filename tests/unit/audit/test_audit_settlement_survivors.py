"""Settlements (ledger.audit.settlement), the survivors of scripts/mutation's session 6 run
(issue 17): each planted defect named with its text at the settlement's period and block, and
the malformed settlement transactions the checker must read without failing. Every expected
text is derived here from the planted defect.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from audit_world import GRID, PERIOD, RULES, Scenario, edit, honest, tx_of
from test_audit_settlement_mutants import honest_world, problems, settlement

from ledger.audit import History, audit_history
from ledger.audit.history import Logged
from ledger.audit.model import Kind, Problem, RuleRefusedError
from ledger.community import Window
from ledger.events_v2 import (
    HouseholdSettled,
    MeterBatchAccepted,
    MeterRevoked,
    PeriodCleared,
    PeriodSettled,
    RulesScheduled,
)
from ledger.rules import Mechanism


def settlement_events(history: History) -> list[Logged[Any]]:
    tx = tx_of(history, PeriodSettled)
    return [e for e in history.exchange_events if e.tx_hash == tx]


def drop(history: History, cls: type[Any], where: Any = lambda e: True) -> None:
    """Remove the first event of `cls` in the settlement transaction (a faulty contract)."""
    tx = tx_of(history, PeriodSettled)
    for index, logged in enumerate(history.exchange_events):
        if logged.tx_hash == tx and isinstance(logged.event, cls) and where(logged.event):
            del history.exchange_events[index]
            return
    raise LookupError(cls.__name__)


def test_a_period_settled_twice_is_named_the_second_time() -> None:
    def again(world: Scenario) -> None:
        world.builder.settle(PERIOD, {})

    history = honest(after_settlement=again)
    second = [e for e in history.exchange_events if isinstance(e.event, PeriodSettled)][-1]
    assert Problem(
        Kind.SETTLEMENT_DUPLICATE,
        f"period {PERIOD} is settled a second time",
        PERIOD,
        None,
        second.block_number,
    ) in problems(history)


def test_a_settlement_without_period_cleared_is_a_cleared_mismatch() -> None:
    history = honest()
    _, _, block, _ = settlement(history)
    drop(history, PeriodCleared)
    detail = f"PeriodCleared has 0 intervals, the period {GRID.period_intervals}"
    assert Problem(Kind.CLEARED_MISMATCH, detail, PERIOD, None, block) in problems(history)


def test_settling_on_the_dot_of_the_period_end_is_in_time() -> None:
    history = honest()
    tx, _, _, _ = settlement(history)
    end = GRID.period_end(PERIOD)
    history.exchange_events = [
        replace(e, block_time=end) if e.tx_hash == tx else e for e in history.exchange_events
    ]
    assert [p for p in problems(history) if p.kind == Kind.SETTLEMENT_TOO_EARLY] == []


def next_seller_batch(start: tuple[int, int]) -> Any:
    def plant(world: Scenario) -> None:
        b = world.builder
        signed = b.batch(world.seller.meters[0], PERIOD + 1, start, [(1, 1)] * 4)
        b.warp(GRID.period_end(PERIOD + 1) + 5)
        b.post_batches([signed])

    return plant


#: Where the seller's inline batch of PERIOD ended (audit_world.honest's registers).
SELLER_END = (10_003, 21_600)


def test_an_unreadable_settlement_call_is_named_and_its_inline_batches_still_chain() -> None:
    history = honest(after_settlement=next_seller_batch(SELLER_END))
    tx, _, block, _ = settlement(history)
    del history.calls[tx]
    found = problems(history)
    assert (
        Problem(
            Kind.CALLDATA_UNAVAILABLE,
            f"the settlement 0x{tx.hex()} is not a readable settlePeriod call",
            PERIOD,
            None,
            block,
        )
        in found
    )
    assert {p.kind for p in found} == {Kind.CALLDATA_UNAVAILABLE}
    # The next batch is held to the inline batch's end registers all the same.
    history = honest(after_settlement=next_seller_batch((10_003, 21_601)))
    del history.calls[tx_of(history, PeriodSettled)]
    assert Kind.BATCH_NOT_CHAINED in {p.kind for p in problems(history)}


def test_a_transaction_without_period_settled_is_no_settlement() -> None:
    history = honest()
    drop(history, PeriodSettled)
    found = problems(history)
    assert all(p.kind != Kind.SETTLEMENT_DUPLICATE for p in found)
    assert not any(p.kind == Kind.CLEARED_MISMATCH for p in found)


def test_a_settled_period_does_not_hold_up_a_later_first_batch() -> None:
    def later(world: Scenario) -> None:
        b = world.builder
        signed = b.batch(world.idle.meters[0], PERIOD + 1, (0, 0), [(1, 0)] * 4)
        b.warp(GRID.period_end(PERIOD + 1) + 5)
        b.post_batches([signed])

    history = honest(omit_inline=("idle",), after_settlement=later)
    assert Kind.BATCH_EARLIER_PERIOD_OPEN not in {p.kind for p in problems(history)}


def test_a_period_without_rules_is_named() -> None:
    history = honest()
    edit(
        history,
        RulesScheduled,
        lambda e: e.effective_from_period_id == 0,
        effective_from_period_id=PERIOD + 10,
    )
    edit(
        history,
        RulesScheduled,
        lambda e: 0 < e.effective_from_period_id <= PERIOD + 1,
        effective_from_period_id=PERIOD + 11,
    )
    _, _, block, _ = settlement(history)
    assert Problem(
        Kind.RULES_MISSING, f"no rules for period {PERIOD}", PERIOD, None, block
    ) in problems(history)


def test_a_household_supplied_twice_is_out_of_order() -> None:
    history = honest()
    tx, call, block, _ = settlement(history)
    history.calls[tx] = replace(call, households=(call.households[0], *call.households))
    assert Problem(
        Kind.SETTLEMENT_HOUSEHOLDS_MISMATCH,
        "households are not in increasing order",
        PERIOD,
        None,
        block,
    ) in problems(history)


def test_a_household_supplied_that_did_not_post_is_named() -> None:
    def member(world: Scenario) -> None:
        seen.append(world.builder.admit(meters=0).address)

    seen: list[str] = []
    history, _ = honest_world(after_posting=member)
    tx, call, block, _ = settlement(history)
    stranger = seen[0]
    extra = replace(call.households[0], household=stranger, postings=(), meters=())
    households = tuple(sorted((*call.households, extra), key=lambda h: int(h.household, 16)))
    history.calls[tx] = replace(call, households=households)
    assert Problem(
        Kind.SETTLEMENT_HOUSEHOLDS_MISMATCH,
        f"supplied ['{stranger}'] that did not post, left out [] that did",
        PERIOD,
        None,
        block,
    ) in problems(history)


def test_a_meter_batch_event_too_many_is_named() -> None:
    history = honest()
    events = settlement_events(history)
    _, _, block, _ = settlement(history)
    batch = next(e for e in events if isinstance(e.event, MeterBatchAccepted))
    index = history.exchange_events.index(batch)
    history.exchange_events.insert(index, batch)
    assert Problem(
        Kind.BATCH_EVENT_MISMATCH, "1 MeterBatchAccepted too many", PERIOD, None, block
    ) in problems(history)


def test_an_inline_batch_without_its_event_is_named_at_the_settlement() -> None:
    history = honest()
    _, _, block, _ = settlement(history)
    batches = [e for e in settlement_events(history) if isinstance(e.event, MeterBatchAccepted)]
    last = batches[-1]
    history.exchange_events.remove(last)
    meter = "0x" + last.event.meter_id.hex()
    assert Problem(
        Kind.BATCH_EVENT_MISMATCH,
        f"batch of meter {meter} for period {PERIOD}: no MeterBatchAccepted event records it",
        PERIOD,
        None,
        block,
    ) in problems(history)


def test_a_release_that_is_not_the_postings_lock_is_named() -> None:
    history, world = honest_world()
    buyer = world.buyer.address
    logged = edit(history, HouseholdSettled, lambda e: e.household == buyer)
    released = logged.event.released_units
    edit(history, HouseholdSettled, lambda e: e.household == buyer, released_units=released + 1)
    _, _, block, _ = settlement(history)
    assert Problem(
        Kind.HOUSEHOLD_SETTLED_MISMATCH,
        f"{buyer} released {released + 1} units, its postings locked {released}",
        PERIOD,
        None,
        block,
    ) in problems(history)


def test_a_rule_that_refuses_the_input_is_named() -> None:
    def refusing(*args: Any) -> Any:
        raise RuleRefusedError("too many households")

    history = honest()
    _, _, block, _ = settlement(history)
    found = list(audit_history(history, refusing).problems)
    assert found == [
        Problem(
            Kind.SETTLEMENT_RULE_REFUSED,
            "the rule refuses the period's input: too many households",
            PERIOD,
            None,
            block,
        )
    ]


def test_a_household_settled_event_missing_is_named_with_both_counts() -> None:
    history, world = honest_world()
    drop(history, HouseholdSettled, lambda e: e.household == world.idle.address)
    _, _, block, _ = settlement(history)
    assert Problem(
        Kind.HOUSEHOLD_SETTLED_MISMATCH,
        "2 HouseholdSettled events for 3 households",
        PERIOD,
        None,
        block,
    ) in problems(history)


def test_a_later_period_left_unsettled_is_named_after_a_settled_one() -> None:
    def later(world: Scenario) -> None:
        b = world.builder
        b.post([(world.buyer, PERIOD + 2, 1, 0, b"")])
        late = GRID.period_end(PERIOD + 2) + 100_000
        b.warp(late)
        b.new_tx()

    history = honest(after_settlement=later)
    unsettled = [p for p in problems(history) if p.kind == Kind.PERIOD_UNSETTLED]
    assert [p.period_id for p in unsettled] == [PERIOD + 2]


def test_a_settlement_transaction_of_one_event_is_read() -> None:
    history = honest()
    tx = tx_of(history, PeriodSettled)
    history.exchange_events = [
        e for e in history.exchange_events if e.tx_hash != tx or isinstance(e.event, PeriodSettled)
    ]
    found = problems(history)
    assert Kind.CLEARED_MISMATCH in {p.kind for p in found}


SETTLED_FIGURES = {
    Kind.CLEARED_MISMATCH,
    Kind.HOUSEHOLD_SETTLED_MISMATCH,
    Kind.PERIOD_SETTLED_MISMATCH,
    Kind.HINTS_MISMATCH,
}


def test_a_household_removed_before_the_period_settles_as_a_non_member() -> None:
    # Its entries and its meter count for no interval: the chain's figures (the builder's,
    # from the real windows) are recomputed only from the membership and meter windows.
    def remove(world: Scenario) -> None:
        world.builder.remove(world.buyer)

    history = honest(after_posting=remove)
    assert SETTLED_FIGURES.isdisjoint({p.kind for p in problems(history)})


def test_a_settlement_is_recomputed_with_the_rules_it_was_settled_under() -> None:
    # A (too early) change after the settlement, for the settled period, does not change
    # what that settlement had to be.
    def change(world: Scenario) -> None:
        world.builder.schedule_rules(replace(RULES, mechanism=Mechanism.PAY_AS_BID), PERIOD)

    history = honest(after_settlement=change)
    kinds = {p.kind for p in problems(history)}
    assert Kind.RULES_CHANGE_TOO_EARLY in kinds
    assert SETTLED_FIGURES.isdisjoint(kinds)


def test_a_meter_revoked_before_the_period_measures_nothing_in_the_recomputation() -> None:
    def revoke(world: Scenario) -> None:
        b = world.builder
        meter = world.seller.meters[0]
        owner, window, key = b.meters[meter.meter_id]
        b.new_tx()
        b.community(MeterRevoked(meter.meter_id, owner, b.time))
        b.meters[meter.meter_id] = (owner, Window(window.admitted_at, b.time), key)

    history = honest(after_posting=revoke)
    assert SETTLED_FIGURES.isdisjoint({p.kind for p in problems(history)})

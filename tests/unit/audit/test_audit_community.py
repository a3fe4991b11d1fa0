"""Rules and registry: each defect planted in an otherwise honest history is named, and
nothing else is."""

from __future__ import annotations

import pytest
from audit_world import LATER_RULES, PERIOD, Household, Scenario, edit, find, honest, resync
from eth_account import Account

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.community import Window
from ledger.events_v2 import HouseholdAdmitted, HouseholdRemoved, RulesScheduled


def kinds(history: History) -> set[str]:
    return audit_history(history, settlement_rule).kinds()


def test_rules_missing_when_no_rules_apply_to_the_period() -> None:
    history = honest()
    target, index = find(history, RulesScheduled, lambda e: e.effective_from_period_id == 0)
    del target[index]
    assert kinds(resync(history)) == {"rules_missing"}


def test_rules_change_too_early_when_it_reaches_the_next_period() -> None:
    history = honest()
    # The manager's change lands in PERIOD, whose schedules may already be posted.
    edit(
        history,
        RulesScheduled,
        lambda e: e.effective_from_period_id == PERIOD + 1,
        effective_from_period_id=PERIOD,
    )
    report = audit_history(resync(history), settlement_rule)
    assert report.kinds() == {"rules_change_too_early"}
    assert report.problems[0].period_id == PERIOD


def test_rules_history_mismatch_when_the_view_differs_from_the_events() -> None:
    history = honest()
    history.state.rules_history.pop()
    assert kinds(history) == {"rules_history_mismatch"}


def test_rules_history_mismatch_when_rules_at_differs_from_the_events() -> None:
    history = honest()
    history.state.rules_at[PERIOD] = LATER_RULES
    report = audit_history(history, settlement_rule)
    assert report.kinds() == {"rules_history_mismatch"}
    assert report.problems[0].period_id == PERIOD


def test_registry_time_mismatch_when_an_admission_is_back_dated() -> None:
    history = honest()
    logged = edit(history, HouseholdAdmitted, lambda e: True)
    back_dated = logged.block_time - 100
    edit(history, HouseholdAdmitted, lambda e: True, admitted_at=back_dated)
    history.state.memberships[logged.event.household] = Window(back_dated)
    assert kinds(history) == {"registry_time_mismatch"}


def _readmit(world: Scenario) -> None:
    world.builder.new_tx()
    world.builder.community(HouseholdAdmitted(world.seller.address, world.builder.time))


def _meter_of_stranger(world: Scenario) -> None:
    world.builder.admit_meter(Household(Account.create()))


def _remove_keeping_meters(world: Scenario) -> None:
    b = world.builder
    b.new_tx()
    b.community(HouseholdRemoved(world.idle.address, b.time))
    b.members[world.idle.address] = Window(b.members[world.idle.address].admitted_at, b.time)


@pytest.mark.parametrize("plant", [_readmit, _meter_of_stranger, _remove_keeping_meters])
def test_registry_violation(plant: object) -> None:
    assert callable(plant)
    assert kinds(honest(after_settlement=plant)) == {"registry_violation"}


def test_registry_state_mismatch_when_meters_of_differs() -> None:
    history = honest()
    (household, _), *_ = history.state.meters_of.items()
    history.state.meters_of[household] = []
    assert kinds(history) == {"registry_state_mismatch"}

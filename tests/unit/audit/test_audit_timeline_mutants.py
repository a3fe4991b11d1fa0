"""Registry (ledger.audit.timeline): each meter admission or revocation that breaks the
community's rules is named with its text at its block. Written against the survivors of
scripts/mutation (issue 17); every expected text is derived here from the planted event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from audit_world import GRID, PERIOD, Meter, Scenario, edit, honest, resync
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from api.audit_cli import settlement_rule
from ledger.audit import History, audit_history
from ledger.audit.history import Logged
from ledger.audit.model import Kind, Problem
from ledger.audit.timeline import MAX_METERS_PER_HOUSEHOLD
from ledger.community import Window
from ledger.events_v2 import (
    HouseholdAdmitted,
    HouseholdRemoved,
    MeterAdmitted,
    MeterBatchAccepted,
    MeterRevoked,
    RulesScheduled,
)
from metering.reading import PublicKey, meter_id_of

REGISTRY = {Kind.REGISTRY_VIOLATION, Kind.REGISTRY_TIME_MISMATCH}


def planted(plant: Callable[[Scenario], Any]) -> tuple[list[Problem], Logged[Any]]:
    """The registry problems of an honest history with one event planted after settlement."""
    history = honest(after_settlement=plant)
    logged = history.community_events[-1]
    found = audit_history(history, settlement_rule).problems
    return [p for p in found if p.kind in REGISTRY], logged


def new_key() -> PublicKey:
    return PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256R1()).public_key())


def admit(meter_id: bytes | None, household: Callable[[Scenario], str], late: int = 0) -> Any:
    def plant(world: Scenario) -> None:
        key = new_key()
        b = world.builder
        b.new_tx()
        mid = meter_id_of(key) if meter_id is None else meter_id
        b.community(MeterAdmitted(mid, household(world), key.x, key.y, b.time + late))

    return plant


def test_a_meter_admitted_twice_is_named() -> None:
    def plant(world: Scenario) -> None:
        b = world.builder
        b.new_tx()
        meter = world.seller.meters[0]
        key = meter.public_key
        b.community(MeterAdmitted(meter.meter_id, world.seller.address, key.x, key.y, b.time))

    found, logged = planted(plant)
    meter = "0x" + logged.event.meter_id.hex()
    assert found == [
        Problem(
            Kind.REGISTRY_VIOLATION,
            f"meter {meter} is admitted twice",
            block_number=logged.block_number,
        )
    ]


def test_a_meter_id_that_is_not_its_key_s_is_named() -> None:
    found, logged = planted(admit(b"\x01" * 32, lambda w: w.seller.address))
    assert (
        Problem(
            Kind.REGISTRY_VIOLATION,
            f"meter 0x{'01' * 32} is not the id of its key",
            block_number=logged.block_number,
        )
        in found
    )


def test_a_meter_for_a_non_member_is_named() -> None:
    stranger = Account.create().address
    found, logged = planted(admit(None, lambda w: stranger))
    meter = "0x" + logged.event.meter_id.hex()
    assert (
        Problem(
            Kind.REGISTRY_VIOLATION,
            f"meter {meter} is admitted for {stranger}, who is not a member",
            block_number=logged.block_number,
        )
        in found
    )


def test_an_admission_time_that_is_not_its_block_s_is_named() -> None:
    found, logged = planted(admit(None, lambda w: w.seller.address, late=1))
    meter = "0x" + logged.event.meter_id.hex()
    assert (
        Problem(
            Kind.REGISTRY_TIME_MISMATCH,
            f"the admission of meter {meter} carries time {logged.block_time + 1} but its block's "
            f"time is {logged.block_time}",
            block_number=logged.block_number,
        )
        in found
    )


def test_a_meter_beyond_the_cap_is_named() -> None:
    def plant(world: Scenario) -> None:
        for _ in range(MAX_METERS_PER_HOUSEHOLD):  # the seller has 1 already
            world.builder.admit_meter(world.seller)

    found, logged = planted(plant)
    assert found == [
        Problem(
            Kind.REGISTRY_VIOLATION,
            f"{logged.event.household} gets a meter beyond the {MAX_METERS_PER_HOUSEHOLD} allowed",
            block_number=logged.block_number,
        )
    ]


def test_revoking_a_meter_that_is_not_active_is_named() -> None:
    def plant(world: Scenario) -> None:
        b = world.builder
        b.new_tx()
        b.community(MeterRevoked(world.buyer.meters[0].meter_id, world.seller.address, b.time))

    found, logged = planted(plant)
    meter = "0x" + logged.event.meter_id.hex()
    assert (
        Problem(
            Kind.REGISTRY_VIOLATION,
            f"meter {meter} of {logged.event.household} is revoked but not an active meter of it",
            block_number=logged.block_number,
        )
        in found
    )


def all_problems(history: History) -> list[Problem]:
    return list(audit_history(history, settlement_rule).problems)


def plant_event(make: Callable[[Scenario], Any]) -> Callable[[Scenario], None]:
    def plant(world: Scenario) -> None:
        world.builder.new_tx()
        world.builder.community(make(world))

    return plant


def test_household_admission_and_removal_problems_are_named() -> None:
    history = honest(
        after_settlement=plant_event(lambda w: HouseholdAdmitted(w.seller.address, w.builder.time))
    )
    logged = history.community_events[-1]
    twice = f"{logged.event.household} is admitted a second time"
    block = logged.block_number
    assert Problem(Kind.REGISTRY_VIOLATION, twice, block_number=block) in all_problems(history)
    stranger = Account.create().address
    history = honest(
        after_settlement=plant_event(lambda w: HouseholdRemoved(stranger, w.builder.time + 1))
    )
    logged = history.community_events[-1]
    found = all_problems(history)
    block = logged.block_number
    assert (
        Problem(
            Kind.REGISTRY_VIOLATION, f"{stranger} is removed but not a member", block_number=block
        )
        in found
    )
    assert (
        Problem(
            Kind.REGISTRY_TIME_MISMATCH,
            f"the removal of {stranger} carries time {logged.block_time + 1} but its block's time "
            f"is {logged.block_time}",
            block_number=block,
        )
        in found
    )
    history = honest(
        after_settlement=plant_event(lambda w: HouseholdRemoved(w.seller.address, w.builder.time))
    )
    logged = history.community_events[-1]
    active = f"{logged.event.household} is removed with 1 meter(s) still active"
    assert Problem(
        Kind.REGISTRY_VIOLATION, active, block_number=logged.block_number
    ) in all_problems(history)


def test_end_state_mismatches_are_named() -> None:
    history = honest()
    household, window = next(iter(history.state.memberships.items()))
    history.state.memberships[household] = Window(1, 2)
    history.state.meters_of[household] = []
    changes = len(history.state.rules_history)
    history.state.rules_history = []
    found = all_problems(history)
    assert (
        Problem(
            Kind.REGISTRY_STATE_MISMATCH,
            f"membership of {household} is {Window(1, 2)} but its events give {window}",
        )
        in found
    )
    assert (
        Problem(
            Kind.REGISTRY_STATE_MISMATCH,
            f"metersOf({household}) differs from the meters its events admitted",
        )
        in found
    )
    assert (
        Problem(
            Kind.RULES_HISTORY_MISMATCH,
            f"rulesHistory() lists 0 changes, the RulesScheduled events {changes} (or they differ)",
        )
        in found
    )


def test_a_rules_change_too_early_names_the_earliest_period() -> None:
    history = honest()
    logged = edit(
        history,
        RulesScheduled,
        lambda e: e.effective_from_period_id == PERIOD + 1,
        effective_from_period_id=PERIOD,
    )
    history = resync(history)
    delay = history.rule_change_delay_periods
    earliest = GRID.period_at(logged.block_time) + delay
    detail = (
        f"rules scheduled at {logged.block_time} for period {PERIOD}; the delay of {delay} "
        f"periods allows {earliest} at the earliest"
    )
    assert Problem(
        Kind.RULES_CHANGE_TOO_EARLY, detail, PERIOD, None, logged.block_number
    ) in all_problems(history)


def test_a_household_without_meters_is_removed_cleanly() -> None:
    def plant(world: Scenario) -> None:
        world.builder.remove(world.builder.admit(meters=0))

    history = honest(after_settlement=plant)
    assert all_problems(history) == []


def revoke_seller_meter(times: int, late: int = 0) -> Callable[[Scenario], None]:
    def plant(world: Scenario) -> None:
        b = world.builder
        meter = world.seller.meters[0]
        for _ in range(times):
            b.new_tx()
            b.community(MeterRevoked(meter.meter_id, world.seller.address, b.time + late))

    return plant


def test_a_revocation_time_that_is_not_its_block_s_is_named() -> None:
    found, logged = planted(revoke_seller_meter(1, late=1))
    meter = "0x" + logged.event.meter_id.hex()
    assert found == [
        Problem(
            Kind.REGISTRY_TIME_MISMATCH,
            f"the revocation of meter {meter} carries time {logged.block_time + 1} but its "
            f"block's time is {logged.block_time}",
            block_number=logged.block_number,
        )
    ]


def test_a_meter_revoked_twice_by_its_own_household_is_named_the_second_time() -> None:
    found, logged = planted(revoke_seller_meter(2))
    meter = "0x" + logged.event.meter_id.hex()
    assert found == [
        Problem(
            Kind.REGISTRY_VIOLATION,
            f"meter {meter} of {logged.event.household} is revoked but not an active meter of it",
            block_number=logged.block_number,
        )
    ]


def test_a_meter_recorded_otherwise_than_its_events_is_named() -> None:
    history = honest()
    meter_id, record = next(iter(history.state.meters.items()))
    changed = replace(record, household=Account.create().address)
    history.state.meters[meter_id] = changed
    stranger = b"\x07" * 32
    history.state.meters[stranger] = record
    found = all_problems(history)
    for mid, recorded in ((meter_id, changed), (stranger, record)):
        assert (
            Problem(
                Kind.REGISTRY_STATE_MISMATCH,
                f"meter 0x{mid.hex()} is recorded as {recorded} but its events differ",
            )
            in found
        )


def test_first_rules_after_period_zero_are_named_at_their_block() -> None:
    history = honest()
    logged = edit(
        history,
        RulesScheduled,
        lambda e: e.effective_from_period_id == 0,
        effective_from_period_id=5,
    )
    history = resync(history)
    assert Problem(
        Kind.RULES_MISSING,
        "the first rules take effect from period 5, not period 0",
        period_id=5,
        block_number=logged.block_number,
    ) in all_problems(history)


def test_rules_at_a_period_recorded_otherwise_is_named() -> None:
    history = honest()
    replayed = history.state.rules_at[PERIOD]
    other = replace(replayed, min_entry_wh=replayed.min_entry_wh + 1)
    history.state.rules_at[PERIOD] = other
    assert Problem(
        Kind.RULES_HISTORY_MISMATCH,
        f"rulesAt({PERIOD}) is {other}, the RulesScheduled events give {replayed}",
        PERIOD,
    ) in all_problems(history)


def test_a_household_admission_time_that_is_not_its_block_s_is_named() -> None:
    stranger = Account.create().address
    history = honest(
        after_settlement=plant_event(lambda w: HouseholdAdmitted(stranger, w.builder.time + 1))
    )
    logged = history.community_events[-1]
    assert Problem(
        Kind.REGISTRY_TIME_MISMATCH,
        f"the admission of {stranger} carries time {logged.block_time + 1} but its block's "
        f"time is {logged.block_time}",
        block_number=logged.block_number,
    ) in all_problems(history)


def test_a_batch_posted_before_its_meter_is_admitted_is_not_registered() -> None:
    seen: list[bytes] = []

    def plant(world: Scenario) -> None:
        b = world.builder
        key = ec.generate_private_key(ec.SECP256R1())
        public = PublicKey.from_cryptography(key.public_key())
        meter = Meter(key, meter_id_of(public), public)
        seen.append(meter.meter_id)
        signed = b.batch(meter, PERIOD + 1, (0, 0), [(0, 0)] * GRID.period_intervals)
        b.warp(GRID.period_end(PERIOD + 1) + 5)
        b.post_batches([signed])
        b.new_tx()
        household = world.seller.address
        b.community(MeterAdmitted(meter.meter_id, household, public.x, public.y, b.time))
        b.meters[meter.meter_id] = (household, Window(b.time), public)
        b.meters_of[household].append(meter.meter_id)

    history = honest(after_settlement=plant)
    meter = "0x" + seen[0].hex()
    assert Problem(
        Kind.BATCH_METER_NOT_COUNTING,
        f"batch of meter {meter} for period {PERIOD + 1}: the meter is not registered",
        PERIOD + 1,
        None,
        next(
            e
            for e in history.exchange_events
            if isinstance(e.event, MeterBatchAccepted) and e.event.meter_id == seen[0]
        ).block_number,
    ) in all_problems(history)

"""The diff from a chain state to a community file (pure: no chain)."""

from __future__ import annotations

import pytest

from ledger.community import MeterInfo, Window
from ledger.community_config.chain_state import ChainState
from ledger.community_config.diff import (
    AdmitMember,
    RegisterMeter,
    RemoveMember,
    RevokeMeter,
    ScheduleRules,
    plan,
)
from ledger.community_config.errors import ChainConflictError
from ledger.community_config.example import example_toml
from ledger.community_config.model import CommunityFile, parse_config
from ledger.rules import TimeGrid
from metering.reading import PublicKey, meter_id_of

CONFIG = parse_config(example_toml())


def state_of(config: CommunityFile, **changes: object) -> ChainState:
    """The chain state a full deployment of `config` leaves."""
    members = {m.address: Window(1_000) for m in config.members}
    meters = {
        meter_id_of(PublicKey(m.x, m.y)): MeterInfo(
            meter_id_of(PublicKey(m.x, m.y)),
            config.member_named(m.member).address,
            Window(1_000),
            m.x,
            m.y,
        )
        for m in config.meters
    }
    values: dict[str, object] = {
        "manager": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "grid": TimeGrid(900, 96),
        "rule_change_delay_periods": 2,
        "current_period": 5,
        "rules_history": ((0, config.rules.rules()),),
        "members": members,
        "meters": meters,
    }
    values.update(changes)
    return ChainState(**values)  # type: ignore[arg-type]


def test_a_matching_chain_needs_no_change() -> None:
    assert plan(CONFIG, state_of(CONFIG)) == []


def test_an_empty_community_gets_members_before_their_meters() -> None:
    changes = plan(CONFIG, state_of(CONFIG, members={}, meters={}))
    assert [type(c) for c in changes] == [AdmitMember] * 3 + [RegisterMeter] * 3
    assert [c.name for c in changes[:3] if isinstance(c, AdmitMember)] == [
        "Alice",
        "Bruno",
        "Chloé",
    ]


def test_a_dropped_member_is_removed_once_without_revoking_its_meters_first() -> None:
    text = example_toml()
    start = text.index('[[members]]\nname = "Chloé"')
    text = text[:start] + text[text.index("\n\n", start) + 2 :]
    meter = text.rindex("[[meters]]")
    config = parse_config(text[:meter])
    changes = plan(config, state_of(CONFIG))
    assert changes == [RemoveMember(None, CONFIG.members[2].address)]


def test_a_dropped_meter_is_revoked_and_a_new_rule_scheduled() -> None:
    text = example_toml()
    text = text[: text.rindex("[[meters]]")].replace(
        "price_floor_per_kwh = 50000", "price_floor_per_kwh = 60000"
    )
    config = parse_config(text)
    changes = plan(config, state_of(CONFIG))
    dropped = CONFIG.meters[2]
    assert changes == [
        RevokeMeter("Chloé", meter_id_of(PublicKey(dropped.x, dropped.y))),
        ScheduleRules(config.rules.rules()),
    ]


def test_a_scheduled_change_equal_to_the_file_is_not_scheduled_again() -> None:
    text = example_toml().replace("price_floor_per_kwh = 50000", "price_floor_per_kwh = 60000")
    config = parse_config(text)
    history = ((0, CONFIG.rules.rules()), (7, config.rules.rules()))
    assert plan(config, state_of(CONFIG, rules_history=history)) == []


def test_what_the_chain_fixed_for_ever_is_refused() -> None:
    with pytest.raises(ChainConflictError, match=r"time\.period_intervals"):
        plan(CONFIG, state_of(CONFIG, grid=TimeGrid(900, 48)))
    removed = {m.address: Window(1_000, 2_000) for m in CONFIG.members}
    with pytest.raises(ChainConflictError, match="admitted at most once"):
        plan(CONFIG, state_of(CONFIG, members=removed))
    state = state_of(CONFIG)
    moved = {
        meter_id: MeterInfo(
            meter_id, CONFIG.members[0].address, info.window, info.public_key_x, info.public_key_y
        )
        for meter_id, info in state.meters.items()
    }
    with pytest.raises(ChainConflictError, match="for ever"):
        plan(CONFIG, state_of(CONFIG, meters=moved))

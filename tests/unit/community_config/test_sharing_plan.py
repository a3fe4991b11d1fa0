"""The plan of the allocation keys' changes (pure: a ChainState, no chain)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ledger.community_config.diff import plan
from ledger.community_config.errors import ChainConflictError
from ledger.community_config.example import example_toml
from ledger.community_config.model import CommunityFile, parse_config
from ledger.community_config.sharing_plan import EndSharingKey, ScheduleSharingKey
from ledger.dso.keys import KeyRule
from ledger.sharing_keys import ChainKey, first_period_of
from tests.unit.community_config.test_community_diff import state_of

DAY = 86_400
SHARING_KEYS = "0x" + "11" * 20
PRO_RATA = '\n[[sharing]]\nvalid_from = 2027-01-01\ncascade = ["pro-rata"]\n'
THEN_EQUAL = (
    '\n[[sharing]]\nvalid_from = 2027-01-01\nvalid_until = 2027-01-31\ncascade = ["pro-rata"]\n'
    '\n[[sharing]]\nvalid_from = 2027-02-01\ncascade = ["equal"]\n'
)


def period(day: date) -> int:
    return first_period_of(day, DAY)


def config_with(sharing: str, text: str | None = None) -> CommunityFile:
    return parse_config((text or example_toml()) + sharing)


def addresses(config: CommunityFile) -> tuple[str, ...]:
    return tuple(member.address for member in config.members)


DEPLOYED = config_with(PRO_RATA)
FIRST_KEY = ChainKey(period(date(2027, 1, 1)), None, (KeyRule.PRO_RATA,), addresses(DEPLOYED))


def chain(keys: tuple[ChainKey, ...] = (FIRST_KEY,), today: date = date(2027, 1, 10)) -> object:
    return state_of(
        DEPLOYED,
        current_period=period(today),
        sharing_keys_address=SHARING_KEYS,
        sharing_keys=tuple(enumerate(keys)),
    )


def test_the_deployed_keys_need_no_change() -> None:
    assert plan(DEPLOYED, chain()) == []  # type: ignore[arg-type]


def test_a_key_replaced_from_a_later_date_is_ended_there_and_the_new_one_scheduled() -> None:
    february = period(date(2027, 2, 1))
    changes = plan(config_with(THEN_EQUAL), chain())  # type: ignore[arg-type]
    assert changes == [
        EndSharingKey(0, february),
        ScheduleSharingKey(1, ChainKey(february, None, (KeyRule.EQUAL,), addresses(DEPLOYED))),
    ]


def test_after_the_changes_a_rerun_plans_nothing_even_days_later() -> None:
    february = period(date(2027, 2, 1))
    ended = replace(FIRST_KEY, valid_until_period=february - 1)
    new = ChainKey(february, None, (KeyRule.EQUAL,), addresses(DEPLOYED))
    for today in (date(2027, 1, 10), date(2027, 3, 1)):
        assert plan(config_with(THEN_EQUAL), chain((ended, new), today)) == []  # type: ignore[arg-type]


def test_a_change_before_the_earliest_change_period_is_refused_naming_key_and_periods() -> None:
    today = date(2027, 2, 5)
    with pytest.raises(ChainConflictError) as refused:
        plan(config_with(THEN_EQUAL), chain(today=today))  # type: ignore[arg-type]
    message = str(refused.value)
    assert "sharing[1]: the key valid from 2027-02-01" in message
    assert f"changes period {period(date(2027, 2, 1))} (from 2027-02-01 UTC)" in message
    assert f"the earliest period a change may touch is {period(today) + 2}" in message


def test_a_dropped_key_is_withdrawn_if_not_begun_and_refused_if_it_has() -> None:
    dropped = DEPLOYED.model_copy(update={"sharing": []})
    before = date(2026, 12, 1)
    assert plan(dropped, chain(today=before)) == [EndSharingKey(0, FIRST_KEY.valid_from_period)]  # type: ignore[arg-type]
    with pytest.raises(ChainConflictError) as refused:
        plan(dropped, chain(today=date(2027, 1, 10)))  # type: ignore[arg-type]
    assert "sharing: ending the chain's key valid from period" in str(refused.value)
    assert f"changes period {FIRST_KEY.valid_from_period} " in str(refused.value)


def test_a_removed_member_replaces_the_key_from_the_earliest_change_period() -> None:
    text = example_toml()
    start = text.index('[[members]]\nname = "Chloé"')
    text = text[:start] + text[text.index("\n\n", start) + 2 :]
    config = config_with(PRO_RATA, text[: text.rindex("[[meters]]")])
    earliest = period(date(2027, 1, 10)) + 2
    changes = plan(config, chain())  # type: ignore[arg-type]
    assert changes[-2:] == [
        EndSharingKey(0, earliest),
        ScheduleSharingKey(0, ChainKey(earliest, None, (KeyRule.PRO_RATA,), addresses(config))),
    ]
    assert len(addresses(config)) == 2


def test_keys_need_the_sharing_keys_contract() -> None:
    state = state_of(DEPLOYED)
    with pytest.raises(ChainConflictError, match="no QuartierSharingKeys"):
        plan(DEPLOYED, state)
    assert plan(DEPLOYED.model_copy(update={"sharing": []}), state) == []


def test_a_key_split_in_two_on_chain_is_the_same_key_period_by_period() -> None:
    middle = period(date(2027, 1, 5))
    split = (
        replace(FIRST_KEY, valid_until_period=middle - 1),
        replace(FIRST_KEY, valid_from_period=middle),
    )
    assert plan(DEPLOYED, chain(split)) == []  # type: ignore[arg-type]


def test_a_key_added_after_a_gap_is_scheduled_alone() -> None:
    config = config_with(
        '\n[[sharing]]\nvalid_from = 2027-01-01\nvalid_until = 2027-01-31\ncascade = ["pro-rata"]\n'
        '\n[[sharing]]\nvalid_from = 2027-03-01\ncascade = ["equal"]\n'
    )
    ended = replace(FIRST_KEY, valid_until_period=period(date(2027, 2, 1)) - 1)
    march = period(date(2027, 3, 1))
    assert plan(config, chain((ended,))) == [  # type: ignore[arg-type]
        ScheduleSharingKey(1, ChainKey(march, None, (KeyRule.EQUAL,), addresses(DEPLOYED)))
    ]

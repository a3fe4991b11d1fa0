"""Who the statement is for: the member's name, EAN and contract from community.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.economics.tariff import Member
from api.statements.errors import StatementError, UnknownMemberError
from api.statements.members import checked_address, member_info
from ledger.community_config.errors import ConfigRefusedError
from ledger.community_config.example import EXAMPLE_ADDRESSES, example_toml
from ledger.community_config.files import Directory


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "community.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_contract_comes_from_the_members_entry(tmp_path: Path) -> None:
    info = member_info(EXAMPLE_ADDRESSES[1].lower(), _file(tmp_path, example_toml()), Directory())
    assert (info.name, info.ean, info.community) == (
        "Bruno",
        "541448820000000022",
        "Rue des Tilleuls",
    )
    assert info.contract == Member("ORES", "variable-day-night", "fixed", False)
    assert info.region == "wallonia"


def test_an_unknown_member_or_one_without_contract_is_refused_by_name(tmp_path: Path) -> None:
    path = _file(tmp_path, example_toml())
    with pytest.raises(
        UnknownMemberError, match="unknown member 0x000000000000000000000000000000000000dEaD"
    ):
        member_info("0x000000000000000000000000000000000000dEaD", path, Directory())
    bare = example_toml().replace(
        'contract = { dso = "ORES", supply = "variable-single", injection = "variable-monthly" }\n',
        "",
    )
    with pytest.raises(StatementError, match=r"members\.Alice: no contract"):
        member_info(EXAMPLE_ADDRESSES[0], _file(tmp_path, bare), Directory())
    with pytest.raises(StatementError, match=r"give --community community\.toml"):
        member_info(
            EXAMPLE_ADDRESSES[0],
            None,
            Directory(members={EXAMPLE_ADDRESSES[0].lower(): {"name": "Alice", "ean": "1"}}),
        )


def test_a_contract_without_its_dso_is_refused_with_line_and_key(tmp_path: Path) -> None:
    text = example_toml().replace(
        '{ dso = "ORES", supply = "variable-day-night"', '{ supply = "variable-day-night"'
    )
    with pytest.raises(
        ConfigRefusedError,
        match=r"community\.toml:\d+: members\[1\]\.contract\.dso: Field required",
    ):
        member_info(EXAMPLE_ADDRESSES[1], _file(tmp_path, text), Directory())


def test_an_address_is_checked_and_checksummed() -> None:
    assert checked_address(EXAMPLE_ADDRESSES[0].lower()) == EXAMPLE_ADDRESSES[0]
    with pytest.raises(StatementError, match="--member: 'alice' is not an Ethereum address"):
        checked_address("alice")

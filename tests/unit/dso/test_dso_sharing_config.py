"""`[[sharing]]` in community.toml: the allocation keys a community names, and its refusals
(one line naming the file, the line and the key)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ledger.community_config.errors import ConfigRefusedError
from ledger.community_config.model import parse_config
from ledger.dso.errors import KeyConfigError
from ledger.dso.keys import KeyRule

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "dso" / "community.toml"
BASE = FIXTURE.read_text(encoding="utf-8").split("# A fixed key")[0]


def test_the_sample_community_names_a_fixed_then_pro_rata_key() -> None:
    config = parse_config(FIXTURE.read_text(encoding="utf-8"))
    names = [member.name for member in config.members]
    (key,) = [entry.key(names) for entry in config.sharing]
    assert key.cascade == (KeyRule.FIXED, KeyRule.PRO_RATA)
    assert key.shares_bp == (4_000, 3_000, 2_000, 1_000)
    assert key.valid_from == date(2027, 1, 1)
    assert key.valid_until is None


def test_decimal_percentages_are_exact_basis_points() -> None:
    text = BASE + (
        '[[sharing]]\nvalid_from = 2027-01-01\nvalid_until = 2027-06-30\ncascade = ["fixed"]\n'
        'shares = { Alice = "33.34", Bruno = "33.33", "Chloé" = "33.33" }\n'
        '[[sharing]]\nvalid_from = 2027-07-01\ncascade = ["equal", "equal", "pro-rata"]\n'
    )
    config = parse_config(text)
    names = [member.name for member in config.members]
    first, second = (entry.key(names) for entry in config.sharing)
    assert first.shares_bp == (3_334, 3_333, 3_333, 0)
    assert second.cascade == (KeyRule.EQUAL, KeyRule.EQUAL, KeyRule.PRO_RATA)


@pytest.mark.parametrize(
    ("sharing", "message"),
    [
        (
            'cascade = ["fixed"]\nshares = { Alice = "60", Bruno = "30" }',
            r"sharing\[0\]: the shares add up to 90 %, not 100 %",
        ),
        ('cascade = ["fixed"]\nshares = { Alice = 60.0, Bruno = 40 }', "a TOML float is binary"),
        (
            'cascade = ["fixed"]\nshares = { Alice = "60", "Zoé" = "40" }',
            "no member is named 'Zoé'",
        ),
        ('cascade = ["equal", "equal", "equal", "equal"]', r"sharing\[0\]\.cascade"),
        ('cascade = ["fifty-fifty"]', r"sharing\[0\]\.cascade"),
        ('cascade = ["pro-rata"]\nshares = { Alice = "100" }', "shares are for a fixed key only"),
        ('cascade = ["fixed"]', "a fixed key needs shares"),
        ('cascade = ["equal"]\nvalid_until = 2026-12-31', "valid_until is before valid_from"),
    ],
)
def test_a_malformed_key_is_refused_naming_the_line(sharing: str, message: str) -> None:
    text = BASE + f"[[sharing]]\nvalid_from = 2027-01-01\n{sharing}\n"
    line = text.splitlines().index("[[sharing]]") + 1
    with pytest.raises(ConfigRefusedError, match=message) as refused:
        parse_config(text)
    where = int(str(refused.value).split(":")[1])
    assert line <= where <= len(text.splitlines())  # the sharing table's line, or its key's


def test_overlapping_validities_are_refused() -> None:
    text = BASE + (
        '[[sharing]]\nvalid_from = 2027-01-01\nvalid_until = 2027-06-30\ncascade = ["equal"]\n'
        '[[sharing]]\nvalid_from = 2027-06-30\ncascade = ["pro-rata"]\n'
    )
    with pytest.raises(ConfigRefusedError, match=r"sharing\[1\]\.valid_from: overlaps the"):
        parse_config(text)


def test_the_dso_commands_lean_reading_agrees_with_the_full_one(tmp_path: Path) -> None:
    from ledger.dso.members import load_members

    config = parse_config(FIXTURE.read_text(encoding="utf-8"))
    lean = load_members(FIXTURE)
    assert lean.names == tuple(m.name for m in config.members)
    assert lean.eans == tuple(m.ean for m in config.members)
    assert lean.keys() == [entry.key(list(lean.names)) for entry in config.sharing]
    bad = tmp_path / "community.toml"
    bad.write_text(
        FIXTURE.read_text(encoding="utf-8").replace("541448820000150017", "541448820000150018")
    )
    with pytest.raises(
        KeyConfigError, match=r"community.toml:\d+: members\[1\]\.ean: EAN 54144882"
    ):
        load_members(bad)

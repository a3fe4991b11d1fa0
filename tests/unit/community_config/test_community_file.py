"""community.toml: the example parses, and each bad input is refused naming its line and key."""

from __future__ import annotations

import pytest

from ledger.community_config.ean import ean_problem, gs1_check_digit
from ledger.community_config.errors import ConfigRefusedError
from ledger.community_config.example import example_toml
from ledger.community_config.model import parse_config


def refusal(text: str) -> str:
    with pytest.raises(ConfigRefusedError) as caught:
        parse_config(text, "c.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def line_number(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return lines[occurrence - 1]


def test_gs1_check_digit_matches_published_codes() -> None:
    assert gs1_check_digit("400638133393") == 1  # EAN-13 4006381333931
    assert gs1_check_digit("9638507") == 4  # EAN-8 96385074
    assert ean_problem("541448820000000015") is None
    assert ean_problem("541448820000000016") is not None
    assert ean_problem("54144882000000001") is not None  # 17 digits


def test_example_parses_with_three_members_and_their_meters() -> None:
    config = parse_config(example_toml())
    assert [m.name for m in config.members] == ["Alice", "Bruno", "Chloé"]
    assert [m.member for m in config.meters] == ["Alice", "Bruno", "Chloé"]
    assert config.rules.rules().price_ceiling_per_kwh == 350_000
    assert config.time.rule_change_delay_periods == 2


def test_malformed_toml_names_its_line() -> None:
    text = example_toml().replace('symbol = "qEUR"', 'symbol = "qEUR')
    message = refusal(text)
    assert message.startswith(f"c.toml:{line_number(text, 'symbol = ')}: malformed TOML")


def test_wrong_ean_check_digit_names_line_and_key() -> None:
    text = example_toml().replace('ean = "541448820000000022"', 'ean = "541448820000000023"')
    message = refusal(text)
    assert message.startswith(f"c.toml:{line_number(text, '541448820000000023')}: members[1].ean:")
    assert "GS1 gives 2" in message


def test_non_checksum_address_is_refused() -> None:
    good = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    text = example_toml().replace(good, good.lower())
    message = refusal(text)
    assert message.startswith(f"c.toml:{line_number(text, good.lower())}: members[1].address:")
    assert good in message  # the checksummed spelling is given


def test_duplicated_meter_is_refused_at_its_second_listing() -> None:
    text = example_toml()
    meters = text[text.index("[[meters]]") :]
    first = meters[: meters.index("[[meters]]", 1)]
    text = text + "\n" + first.replace('member = "Alice"', 'member = "Bruno"')
    message = refusal(text)
    assert message.startswith(f"c.toml:{line_number(text, 'public_key_x', 4)}: meters[3]")
    assert "duplicated meter key" in message


def test_meter_key_off_the_curve_is_refused() -> None:
    text = example_toml()
    x_line = next(line for line in text.splitlines() if line.startswith("public_key_y"))
    text = text.replace(x_line, 'public_key_y = "0x' + "1" * 64 + '"', 1)
    assert "not a point of P-256" in refusal(text)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "price_ceiling_per_kwh = 350000",
            "price_ceiling_per_kwh = 4294967296",
            "rules.price_ceiling_per_kwh",
        ),
        (
            "price_floor_per_kwh = 50000",
            "price_floor_per_kwh = 400000",
            "rules.price_floor_per_kwh",
        ),
        (
            "community_price_per_kwh = 150000",
            "community_price_per_kwh = 10",
            "rules.community_price_per_kwh",
        ),
        ("gate_lead_seconds = 900", "gate_lead_seconds = 86400", "rules.gate_lead_seconds"),
        (
            "settlement_deadline_seconds = 86400",
            "settlement_deadline_seconds = 0",
            "rules.settlement_deadline_seconds",
        ),
        ("min_entry_wh = 1", "min_entry_wh = 16777216", "rules.min_entry_wh"),
        (
            "rule_change_delay_periods = 2",
            "rule_change_delay_periods = 1",
            "time.rule_change_delay_periods",
        ),
        ('mechanism = "pay-as-clear"', 'mechanism = "lottery"', "rules.mechanism"),
    ],
)
def test_rule_out_of_range_names_its_line_and_key(old: str, new: str, key: str) -> None:
    text = example_toml()
    assert old in text
    text = text.replace(old, new)
    message = refusal(text)
    assert message.startswith(f"c.toml:{line_number(text, new)}: {key}:")


def test_meter_of_an_unknown_member_and_unknown_keys_are_refused() -> None:
    text = example_toml().replace('member = "Chloé"', 'member = "Zoé"')
    assert "no member is named 'Zoé'" in refusal(text)
    assert "Extra inputs" in refusal(example_toml() + "\n[extra]\nx = 1\n")


def test_duplicated_member_address_is_refused() -> None:
    text = example_toml().replace(
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    )
    assert "members[2].address: duplicated address" in refusal(text)

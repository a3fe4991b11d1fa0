"""The shipped tariff file and its refusals: every bad file is one line naming the file,
the key and, where it applies, the month or the time."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.economics.errors import EconomicsError, TariffError
from api.economics.tariff import TARIFF_DIR, Member, load_tariff, parse_tariff, tariff_of

SHIPPED = TARIFF_DIR / "wallonia-2026.toml"
TEXT = SHIPPED.read_text(encoding="utf-8")
BI_HOURLY = Member("ORES", "variable-day-night", "variable-monthly")


def _at(*moment: int) -> int:
    return int(datetime(*moment, tzinfo=UTC).timestamp())


def _refusal(text: str) -> str:
    with pytest.raises(TariffError) as caught:
        parse_tariff(text, "broken.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("broken.toml: ")
    return message


def test_the_shipped_file_prices_a_bi_hourly_member_by_local_time_with_summer_time() -> None:
    tariff = tariff_of("wallonia", 2026)
    assert tariff.year == 2026
    assert tariff.vat_percent == 6
    assert tariff.in_building_discount_percent == 80
    # 47.48 + 1.926 + 0.75 + 13.82 EUR/MWh
    assert tariff.taxes_total_per_kwh == 47_480 + 1_926 + 750 + 13_820
    # 2026-03-28 05:00 UTC is 06:00 in Brussels (winter time): off-peak
    before = tariff.prices(BI_HOURLY, _at(2026, 3, 28, 5, 0))
    assert (before.energy_per_kwh, before.network_per_kwh) == (122_000, 66_000 + 29_000)
    # the next day, summer time: 05:00 UTC is 07:00 local, the morning peak
    after = tariff.prices(BI_HOURLY, _at(2026, 3, 29, 5, 0))
    assert (after.energy_per_kwh, after.network_per_kwh) == (148_000, 101_000 + 29_000)
    # June noon local (10:00 UTC) is the new midday off-peak band; injection is June's
    noon = tariff.prices(BI_HOURLY, _at(2026, 6, 21, 10, 0))
    assert (noon.energy_per_kwh, noon.injection_per_kwh) == (110_000, 4_000)
    # 21:45 UTC on 30 April is 23:45 local, still April: a negative injection price
    april = tariff.prices(BI_HOURLY, _at(2026, 4, 30, 21, 45))
    assert april.injection_per_kwh == -10_000
    assert tariff.prices(BI_HOURLY, _at(2026, 4, 30, 22, 0)).injection_per_kwh == -6_000


def test_a_missing_component_is_named() -> None:
    text = TEXT.replace("excise_per_kwh = 47_480\n", "")
    assert _refusal(text) == "broken.toml: taxes.excise_per_kwh: missing"
    text = TEXT.replace("transmission_per_kwh = 29_000\n", "", 1)
    assert _refusal(text) == "broken.toml: network.ORES.transmission_per_kwh: missing"
    text = TEXT.replace(
        "impact = { eco = 56_000, medium = 92_000, peak = 154_000 }",
        "impact = { eco = 56_000, medium = 92_000 }",
    )
    assert _refusal(text) == "broken.toml: network.ORES.distribution_per_kwh.impact.peak: missing"


def test_a_negative_network_cost_is_refused() -> None:
    text = TEXT.replace("single = { all = 88_000 }", "single = { all = -88_000 }")
    assert _refusal(text) == (
        "broken.toml: network.RESA.distribution_per_kwh.single.all: a negative cost: -88000"
    )
    # a negative injection price is allowed (the member pays to inject)
    assert parse_tariff(
        TEXT.replace('"2026-03" = { all = 30_000 }', '"2026-03" = { all = -5_000 }'), "ok.toml"
    )


def test_overlapping_or_missing_time_bands_are_refused_with_the_time() -> None:
    text = TEXT.replace(
        'peak = ["07:00-11:00", "17:00-22:00"]', 'peak = ["07:00-11:30", "17:00-22:00"]', 1
    )
    assert _refusal(text) == (
        "broken.toml: bands.day_night.offpeak: 11:00-17:00 overlaps band 'peak' (at 11:00)"
    )
    text = TEXT.replace('peak = ["17:00-22:00"]', 'peak = ["17:00-21:00"]')
    assert _refusal(text) == "broken.toml: bands.impact: no band covers this time (at 21:00)"


def test_a_month_without_data_is_named_with_the_month() -> None:
    text = TEXT.replace('"2026-07" = { peak = 138_000, offpeak = 112_000 }\n', "")
    assert _refusal(text) == (
        "broken.toml: supply.variable-day-night.energy_per_kwh: no price for this month (2026-07)"
    )
    # a moment outside the file's year: the day asked for is named
    with pytest.raises(
        TariffError,
        match=re.escape(
            "wallonia-2026.toml: supply.variable-single.energy_per_kwh: "
            "no price for this month (2027-01-01)"
        ),
    ):
        tariff_of("wallonia", 2026).prices(
            Member("ORES", "variable-single", "fixed"), _at(2027, 1, 1, 9, 0)
        )


def test_an_unknown_contract_or_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TariffError, match=r"wallonia-2026.toml: supply.spot: not in the file"):
        tariff_of("wallonia", 2026).prices(Member("ORES", "spot", "fixed"), _at(2026, 6, 1))
    with pytest.raises(TariffError, match=re.escape("wallonia-2031.toml: (file): no tariff file")):
        tariff_of("wallonia", 2031)
    with pytest.raises(EconomicsError, match=re.escape("gone.toml: (file): cannot be read")):
        load_tariff(tmp_path / "gone.toml")
    assert _refusal("[file\n").startswith("broken.toml: (file): not TOML")


def test_the_demo_refuses_a_day_without_tariff_data_in_one_line_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "demo", "--date", "2027-06-21"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "quartier: wallonia-2027.toml: (file): no tariff file "
        "(shipped: flanders-2026.toml, wallonia-2026.toml) (2027)"
    ]

"""Own PV on the household's page (issue 16): from the production meter's quarter-hours of
QUARTIER_PRODUCTION, found by the member's EAN in the community file; "not measured" (None)
whenever a quarter-hour has no row, never a guessed 0."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from api.pages.production import OwnProduction, demo_production_rows
from ledger.community_config.example import example_ean, example_toml

HOUSEHOLD = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _community(tmp_path: Path) -> Path:
    header = example_toml().split("[[members]]")[0]
    path = tmp_path / "community.toml"
    path.write_text(
        header + f'[[members]]\nname = "Amélie Dubois"\nean = "{example_ean(1)}"\n'
        f'address = "{HOUSEHOLD}"\n',
        encoding="utf-8",
    )
    return path


def test_own_pv_is_summed_only_when_every_quarter_hour_was_measured(tmp_path: Path) -> None:
    production = tmp_path / "production.csv"
    production.write_text(
        "ean,interval_start_utc,production_wh\n"
        f"{example_ean(1)},2026-06-21T10:00:00Z,412\n"
        f"{example_ean(1)},2026-06-21T10:15:00Z,0\n"
        f"{example_ean(2)},2026-06-21T10:30:00Z,999\n",
        encoding="utf-8",
    )
    own = OwnProduction.of(production, _community(tmp_path), HOUSEHOLD.lower())
    first = 1_782_036_000  # 2026-06-21 10:00 UTC
    assert own.measured
    assert own.total([first, first + 900]) == 412
    assert own.at(first + 900) == 0  # measured: nothing produced
    assert own.total([first, first + 900, first + 1800]) is None  # 10:30 not measured
    assert own.total([]) is None


def test_no_file_no_ean_or_an_unreadable_file_is_not_measured(tmp_path: Path) -> None:
    community = _community(tmp_path)
    assert not OwnProduction.of(None, community, HOUSEHOLD).measured
    broken = tmp_path / "broken.csv"
    broken.write_text("ean,interval_start_utc,production_wh\nx,2026-06-21T10:00:00Z,-5\n")
    assert not OwnProduction.of(broken, community, HOUSEHOLD).measured
    other = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    good = tmp_path / "good.csv"
    good.write_text(
        f"ean,interval_start_utc,production_wh\n{example_ean(1)},2026-06-21T10:00:00Z,1\n"
    )
    assert not OwnProduction.of(good, community, other).measured


def test_the_demos_simulated_pv_has_rows_for_its_pv_homes_only() -> None:
    eans = [example_ean(n + 1) for n in range(4)]
    rows = demo_production_rows(4, 11, date(2026, 6, 21), 96, eans)
    by_ean: dict[str, int] = {}
    for ean, stamp, wh in rows:
        by_ean[ean] = by_ean.get(ean, 0) + wh
        assert stamp.startswith("2026-06-22T")  # moved one day on, as the demo moves it
    assert eans[0] in by_ean  # home 0 always has panels
    assert by_ean[eans[0]] > 5_000  # a June day of a few kWp
    assert len(rows) == 96 * len(by_ean)

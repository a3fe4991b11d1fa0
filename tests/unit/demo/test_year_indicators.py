"""The yearly run's indicators on hand-made data whose answers are worked out by hand, and one
day settled by the demo's own engine where the shared energy is known in advance."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime

import numpy as np
import pytest

from api import settlement
from api.demo.agents import draw_limits
from api.demo.errors import DemoError
from api.demo.neighbourhood import make_households
from api.demo.year import (
    FleetFlows,
    QuarterHourLimits,
    day_simulation,
    monthly_totals,
    run_year,
    settle_day,
)
from api.demo.year_indicators import PILOTS, MonthTotals, year_total
from ledger.deploy_v2 import DEFAULT_RULES


def test_one_month_by_hand() -> None:
    # used 1000, PV 500, taken 700, fed in 200, of which 100 went to neighbours
    month = MonthTotals("2026-06", 1_000, 500, 700, 200, 100)
    assert month.shared_share_of_offtake == 14.3  # 100 / 700
    assert month.self_consumption == 80.0  # (500 - (200 - 100)) / 500
    assert month.self_sufficiency == 40.0  # (1000 - (700 - 100)) / 1000
    dark = MonthTotals("2026-12", 1_000, 0, 1_000, 0, 0)
    assert (dark.self_consumption, dark.self_sufficiency) == (None, 0.0)


def test_the_year_is_summed_before_dividing() -> None:
    # Two months of 50 % and 100 % self-sufficiency weigh by consumption: 600 / 1100.
    year = year_total(
        [MonthTotals("2026-01", 1_000, 500, 500, 0, 0), MonthTotals("2026-07", 100, 300, 0, 200, 0)]
    )
    assert year.month == "2026-01..2026-07"
    assert (year.consumption_wh, year.offtake_wh, year.injection_wh) == (1_100, 500, 200)
    assert year.self_sufficiency == 54.5
    assert year.self_consumption == 75.0  # (800 - 200) / 800
    assert (year.possible_wh, year.mean_peak_w) == (None, None)
    peaks = year_total(
        [
            MonthTotals("2026-01", 1, 0, 1, 0, 0, 0, 3_000),
            MonthTotals("2026-02", 1, 0, 1, 0, 0, 0, 5_001),
        ]
    )
    assert (peaks.possible_wh, peaks.mean_peak_w) == (0, 4_000)  # the mean of the months, floored


def test_more_shared_than_metered_or_possible_is_refused() -> None:
    with pytest.raises(DemoError, match="more than"):
        MonthTotals("2026-06", 1_000, 500, 50, 200, 100)
    with pytest.raises(DemoError, match="more than the 90 Wh possible"):
        MonthTotals("2026-06", 1_000, 500, 500, 200, 100, 90)


def _flows(first: datetime, load: list[list[int]], pv: list[list[int]]) -> FleetFlows:
    load_wh, pv_wh = np.array(load, dtype=np.int64), np.array(pv, dtype=np.int64)
    net = load_wh - pv_wh
    return FleetFlows(
        first_interval_id=int(first.timestamp()) // 900,
        pv_kwp=tuple(4.0 if row.any() else 0.0 for row in pv_wh),
        annual_load_kwh=(3_500.0,) * len(load),
        battery_wh=(0,) * len(load),
        load_wh=load_wh,
        pv_wh=pv_wh,
        import_wh=net.clip(min=0),
        export_wh=(-net).clip(min=0),
    )


def test_months_split_at_the_month_and_count_behind_the_meter_use() -> None:
    # Two homes, 31 January 23:00 UTC to 1 February 01:00 UTC (8 quarter-hours).
    # Home 0 has PV: in each quarter-hour it uses 300 and makes 500 (200 fed in, 300 of
    # its own PV used behind the meter); home 1 uses 100 and takes it from the grid.
    flows = _flows(
        datetime(2026, 1, 31, 23, tzinfo=UTC), [[300] * 8, [100] * 8], [[500] * 8, [0] * 8]
    )
    shared = np.array([100, 100, 100, 100, 0, 0, 0, 0], dtype=np.int64)
    january, february = monthly_totals(flows, shared)
    # possible: per quarter-hour min(200 fed in, 100 taken) = 100, 4 quarter-hours a month
    # peak: home 0 takes nothing, home 1 100 Wh a quarter-hour = 400 W: a mean of 200 W
    assert january == MonthTotals("2026-01", 1_600, 2_000, 400, 800, 400, 400, 200)
    assert february == MonthTotals("2026-02", 1_600, 2_000, 400, 800, 0, 400, 200)
    # January: PV used at home 1,200 + shared 400 of 2,000 made; 400 shared of 400 taken
    assert (january.self_consumption, january.self_sufficiency) == (80.0, 100.0)
    assert january.shared_share_of_offtake == 100.0
    # February: nothing shared, only the behind-the-meter use counts
    assert (february.self_consumption, february.self_sufficiency) == (60.0, 75.0)


def test_a_june_day_settled_by_the_engine_shares_what_the_seller_fed_in() -> None:
    # Home 0 feeds 400 Wh into the grid every quarter-hour from 10:00 to 11:00 UTC; home 1
    # takes 1,000 Wh. The agents' sizes cover their forecast error, so the engine delivers
    # exactly the seller's metered 400 Wh in each of those 4 quarter-hours, nothing else.
    load = [[0] * 96, [1_000 if 40 <= q < 44 else 0 for q in range(96)]]
    pv = [[400 if 40 <= q < 44 else 0 for q in range(96)], [0] * 96]
    flows = _flows(datetime(2026, 6, 10, tzinfo=UTC), load, pv)
    day = day_simulation(flows, 0, seed=7)
    members = make_households(2, 7)
    limits = [QuarterHourLimits.of(x) for x in draw_limits(2, DEFAULT_RULES, 7)]
    metered = (flows.import_wh, flows.export_wh)
    shared = settle_day(day, metered, members, list(limits), settlement.Rules.of(DEFAULT_RULES))
    assert shared == [400 if 40 <= q < 44 else 0 for q in range(96)]


def test_quarter_hour_limits_are_the_agents_limits() -> None:
    for plain in draw_limits(6, DEFAULT_RULES, 7):
        remembered = QuarterHourLimits.of(plain)
        for moment in (datetime(2026, 3, 29, 5, 0), datetime(2026, 6, 21, 10, 15)):
            at = int(moment.replace(tzinfo=UTC).timestamp())
            for day in (0, 1, 2):  # the same quarter-hour on later days of the month
                t = at + day * 86_400
                assert remembered.ask_at(t) == plain.ask_at(t)
                assert remembered.bid_at(t) == plain.bid_at(t)


def test_a_short_run_is_consistent_and_its_json_keys_stable() -> None:
    run = run_year(3, 2, seed=7, first_day=date(2026, 6, 20))
    data = run.as_json()
    assert set(data) == {
        "households", "pv_share", "days", "first_day", "seed", "path", "months", "total",
        "pilots", "wall_seconds",
    }  # fmt: skip
    assert "off-chain" in data["path"]
    assert "PAY_AS_CLEAR" in data["path"]
    assert data["path"].endswith("tariffs wallonia-2026.toml (each member's own contract)")
    assert data["pilots"] == PILOTS
    (june,) = data["months"]
    assert set(june) == set(data["total"]) == {
        "month", "consumption_wh", "generation_wh", "offtake_wh", "injection_wh", "shared_wh",
        "possible_shared_wh", "mean_peak_w", "shared_share_of_offtake_percent",
        "self_consumption_percent", "self_sufficiency_percent",
    }  # fmt: skip
    assert june["month"] == "2026-06"
    # the meters' balance: taken - fed in = used - made (no battery in the default fleet)
    assert (
        june["offtake_wh"] - june["injection_wh"] == june["consumption_wh"] - june["generation_wh"]
    )
    assert 0 < june["shared_wh"] <= june["possible_shared_wh"]
    assert june["possible_shared_wh"] <= min(june["offtake_wh"], june["injection_wh"])


def test_days_out_of_range_are_refused() -> None:
    with pytest.raises(DemoError, match=r"--days must be 1\.\.366"):
        run_year(2, 0, seed=7, first_day=date(2026, 1, 1))


def test_the_command_prints_json_and_refuses_a_bad_days_in_one_line() -> None:
    command = [sys.executable, "-c", "from api.cli import main; main()", "demo"]
    result = subprocess.run(
        [*command, "--days", "1", "--households", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["days"], data["households"], data["first_day"]) == (1, 2, "2026-01-01")
    result = subprocess.run(
        [*command, "--days", "400"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # a year the shipped tariffs do not cover: refused in one line before the fleet runs
    result = subprocess.run(
        [*command, "--days", "365", "--date", "2027-06-21"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "quartier: wallonia-2027.toml: (file): no tariff file "
        "(shipped: flanders-2026.toml, wallonia-2026.toml) (2027)"
    ]

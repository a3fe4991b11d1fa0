"""An honest synthetic history audits clean, with the figures the chain recorded; the
report's JSON, CSV and HTML writers carry them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from audit_world import GRID, PERIOD, honest

from api.audit_cli import settlement_rule, summary
from ledger.audit import audit_history
from ledger.audit.report import render_html, write_csv


def test_honest_period_audits_clean_with_the_hand_computed_figures() -> None:
    report = audit_history(honest(), settlement_rule)
    assert report.problems == ()
    (period,) = report.periods
    assert (period.period_id, period.households, period.postings, period.settled) == (
        PERIOD,
        3,
        4,
        True,
    )
    # Interval 0: ask 100_000, bid 200_000 -> p = 150_000 on 600 Wh; interval 1 (version 2
    # of the buyer): p = 200_000 on 500 Wh traded, 450 Wh delivered (the buyer imported 450).
    first = GRID.first_interval(PERIOD)
    assert [
        (i.interval_id, i.price_per_kwh, i.traded_wh, i.delivered_wh) for i in period.intervals
    ] == [
        (first, 150_000, 600, 600),
        (first + 1, 200_000, 500, 450),
        (first + 2, 0, 0, 0),
        (first + 3, 0, 0, 0),
    ]
    assert (period.traded_wh, period.delivered_wh, period.rounding_units) == (1_100, 1_050, 0)
    # 600 * 150 + 450 * 200 = 180_000 units from the buyer to the seller.
    changes = sorted(line.change_units for line in report.settlements)
    assert changes == [-180_000, 0, 180_000]
    # Four schedules signed; one posted and two inline meter batches.
    assert (report.schedule_signatures, report.batch_signatures) == (4, 3)


def test_json_csv_and_html_carry_the_periods(tmp_path: Path) -> None:
    report = audit_history(honest(), settlement_rule)
    data = json.loads(json.dumps(report.as_json()))
    assert data["ok"] is True
    assert data["signatures_checked"] == {"schedules": 4, "meter_batches": 3}
    assert [p["period_id"] for p in data["periods"]] == [PERIOD]
    assert len(data["periods"][0]["intervals"]) == GRID.period_intervals
    paths = write_csv(report, tmp_path)
    assert sorted(p.name for p in paths) == [
        "households.csv",
        "intervals.csv",
        "periods.csv",
        "problems.csv",
    ]
    with (tmp_path / "intervals.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["delivered_wh"]) for r in rows] == [600, 450, 0, 0]
    page = render_html(report)
    assert "OK: everything checks" in page
    assert page.count("<svg") == 3
    assert summary(report).startswith("audit ok:")


def test_every_problem_kind_is_planted_by_some_test() -> None:
    from ledger.audit import Kind

    # The settlement versions' kinds are planted with the grid operator's tests (tests/unit/dso).
    folders = (Path(__file__).parent, Path(__file__).parents[1] / "dso")
    sources = "".join(p.read_text() for folder in folders for p in folder.glob("test_*.py"))
    unplanted = [kind.value for kind in Kind if f'"{kind.value}"' not in sources]
    assert unplanted == []

"""The main job as a newcomer runs it: `quartier demo` on a fresh local chain.

A small day (5 households, 8 quarter-hours around noon, so the sun shines and neighbours
trade) runs through the real API, worker, contracts and audit; the assertions recompute what
they can from the chain's own records rather than trusting the summary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.demo.checks import settlement_problems
from api.demo.run import DayRun, DemoConfig, run_day
from api.demo.summary import bill_units, summarise
from ledger.orders import payment_units

SMALL = DemoConfig(households=5, intervals=8, start_slot=44)  # 11:00-13:00 UTC


@pytest.fixture(scope="module")
def day() -> DayRun:
    return run_day(SMALL)


def test_every_interval_is_settled_and_the_audit_passes(day: DayRun) -> None:
    assert day.audit_problems == ()
    assert day.audit_signatures > 0
    assert settlement_problems(day.facts, day.households, day.simulation.interval_ids()) == []
    assert set(day.intervals) == set(day.simulation.interval_ids())
    assert {outcome.status for outcome in day.intervals.values()} <= {"settled", "empty"}
    assert day.facts.committed_intervals == day.facts.settled_intervals
    assert len(day.facts.committed) > 0, "a sunny noon with 5 households should trade"


def test_energy_is_conserved(day: DayRun) -> None:
    facts = day.facts
    traded = sum(t.energy_wh for t in facts.committed)
    settled = sum(t.delivered_wh for t in facts.settled)
    assert 0 < settled <= traded
    # every reading of every meter, plus the baseline before the first interval
    assert len(facts.readings) == SMALL.households * (SMALL.intervals + 1)
    sim = day.simulation
    for trade in facts.settled:
        seller = next(i for i, h in enumerate(day.households) if h.account.address == trade.seller)
        buyer = next(i for i, h in enumerate(day.households) if h.account.address == trade.buyer)
        assert trade.delivered_wh <= sim.metered(seller, trade.interval_id)[1]
        assert trade.delivered_wh <= sim.metered(buyer, trade.interval_id)[0]


def test_credits_are_conserved(day: DayRun) -> None:
    before, after = day.facts.tokens_before, day.facts.tokens_after
    assert before.total_supply_units == after.total_supply_units == 5 * SMALL.minted_units
    assert before.market_units == after.market_units == 5 * SMALL.deposit_units
    assert sum(after.free_units) + sum(after.locked_units) == after.market_units
    assert sum(after.locked_units) == 0
    prices = {(t.interval_id, t.seller, t.buyer): t.price_per_kwh for t in day.facts.committed}
    for trade in day.facts.settled:
        price = prices[(trade.interval_id, trade.seller, trade.buyer)]
        assert trade.payment_units == payment_units(trade.delivered_wh, price)
    paid = sum(t.payment_units for t in day.facts.settled)
    assert paid > 0
    moved = [a - b for a, b in zip(after.free_units, before.free_units, strict=True)]
    assert sum(moved) == 0
    assert any(moved)


def test_summary_figures_follow_from_the_chain(day: DayRun) -> None:
    summary = summarise(day, True, "test", (), 1.0)
    assert summary.trades == len(day.facts.committed)
    assert summary.settled_wh <= summary.traded_wh
    assert 0 < summary.self_consumption <= 1
    assert 0 < summary.self_sufficiency <= 1
    prices = SMALL.prices
    for bill in summary.bills:
        alone = bill_units(
            bill.imported_wh, bill.exported_wh, prices.retail_per_kwh, prices.feed_in_per_kwh
        )
        assert bill.bill_without_units == alone
        # trading between feed-in and retail can only help (up to one unit of rounding)
        assert bill.savings_units >= -1
    assert summary.savings_units == sum(b.savings_units for b in summary.bills) > 0
    assert summary.gas_per_trade > 0
    assert summary.gas_per_reading > 0


def test_demo_command_prints_the_json_summary_and_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "day.html"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from api.cli import main; main()",
            "demo",
            "--households",
            "3",
            "--intervals",
            "4",
            "--start",
            "12:00",
            "--json",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("households", "intervals", "trades", "traded_wh", "settled_wh", "savings_units"):
        assert isinstance(summary[key], int), key
    assert summary["households"] == 3
    assert summary["intervals"] == 4
    assert summary["audit_ok"] is True
    assert summary["settled_wh"] <= summary["traded_wh"]
    assert isinstance(summary["wall_seconds"], float)
    assert {"self_consumption", "self_sufficiency", "gas_per_trade", "gas_per_reading"} <= set(
        summary
    )
    page = report.read_text()
    assert page.count("<svg") == 4
    assert "<script" not in page


def test_demo_command_refuses_a_bad_date_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "demo", "--date", "21/06"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "quartier: --date must be YYYY-MM-DD, got '21/06'"
    ]


def test_the_workers_figures_match_the_chains_own_events(day: DayRun) -> None:
    """The worker records each settlement from its receipt, decoded by `ledger.events`; the
    facts come from web3.py's own decoding of the logs: two decoders, one chain."""
    settled_intervals = [k for k, o in day.intervals.items() if o.status == "settled"]
    assert settled_intervals, "a sunny noon should settle something"
    for interval_id in settled_intervals:
        outcome = day.intervals[interval_id]
        settled = [t for t in day.facts.settled if t.interval_id == interval_id]
        assert outcome.delivered_wh == sum(t.delivered_wh for t in settled)
        assert outcome.paid_units == sum(t.payment_units for t in settled)

"""What `household schedule` and `cancel` post: from the first open interval, later entries
kept by a cancel, the exchange's replacement rule for the book."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ledger.community_config.household_plan import (
    GATE_MARGIN_SECONDS,
    Request,
    ScheduleRefusedError,
    book_of,
    first_open_interval,
    load_request,
    plan_cancel,
    plan_schedule,
)
from ledger.deploy_v2 import DEFAULT_RULES
from ledger.entries import NO_ENTRY, Entry, EntrySide
from ledger.rules import TimeGrid
from ledger.schedules import Schedule

GRID = TimeGrid(interval_seconds=60, period_intervals=4)
RULES = replace(DEFAULT_RULES, gate_lead_seconds=30)
HOUSEHOLD = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SELL = Entry(EntrySide.SELL, 100, 60_000)
BUY = Entry(EntrySide.BUY, 50, 200_000)
PERIOD = 10  # intervals 40 .. 43, interval k starts at 60 k


def test_the_first_open_interval_keeps_the_margin() -> None:
    gate_41 = 41 * 60 - 30
    assert first_open_interval(GRID, RULES, PERIOD, gate_41 - GATE_MARGIN_SECONDS - 1) == 41
    assert first_open_interval(GRID, RULES, PERIOD, gate_41 - GATE_MARGIN_SECONDS) == 42
    with pytest.raises(ScheduleRefusedError, match="no interval whose gate is still open"):
        first_open_interval(GRID, RULES, PERIOD, 43 * 60)


def test_a_schedule_starts_at_the_first_open_interval_and_fills_none() -> None:
    now = 40 * 60  # interval 40 closed, 41 open
    planned = plan_schedule(HOUSEHOLD, 3, PERIOD, Request({3: BUY}), GRID, RULES, now)
    assert (planned.first_interval_id, planned.version) == (41, 3)
    assert planned.entries == (NO_ENTRY, NO_ENTRY, BUY)
    assert planned.lock_units == 10_000
    with pytest.raises(ScheduleRefusedError, match="interval 0 of period 10: its gate closed"):
        plan_schedule(HOUSEHOLD, 3, PERIOD, Request({0: SELL}), GRID, RULES, now)
    with pytest.raises(ScheduleRefusedError, match="interval 4 is not in a period of 4"):
        plan_schedule(HOUSEHOLD, 3, PERIOD, Request({4: SELL}), GRID, RULES, 0)
    small = replace(RULES, min_entry_wh=101)
    with pytest.raises(ScheduleRefusedError, match="below the community's min_entry_wh"):
        plan_schedule(HOUSEHOLD, 3, PERIOD, Request({1: SELL}), GRID, small, 0)


def test_the_book_is_the_last_posting_from_its_first_interval_on() -> None:
    first = Schedule(HOUSEHOLD, PERIOD, 1, 40, (SELL, SELL, SELL, SELL))
    second = Schedule(HOUSEHOLD, PERIOD, 2, 42, (BUY,))
    assert book_of([first, second]) == {40: SELL, 41: SELL, 42: BUY}
    assert book_of([first, Schedule(HOUSEHOLD, PERIOD, 3, 41, ())]) == {40: SELL}


def test_a_cancel_empties_its_range_and_resupplies_later_entries() -> None:
    book = {40: SELL, 41: SELL, 42: BUY, 43: SELL}
    planned = plan_cancel(HOUSEHOLD, 5, PERIOD, book, GRID, RULES, 0, 1, 3)
    assert (planned.first_interval_id, planned.entries) == (41, (NO_ENTRY, NO_ENTRY, SELL))
    assert book_of([Schedule(HOUSEHOLD, PERIOD, 1, 40, (SELL, SELL, BUY, SELL)), planned]) == {
        40: SELL,
        43: SELL,
    }
    everything = plan_cancel(HOUSEHOLD, 5, PERIOD, book, GRID, RULES, 40 * 60, None, None)
    assert (everything.first_interval_id, everything.entries) == (41, ())
    with pytest.raises(
        ScheduleRefusedError, match=r"no entry of .* to cancel in intervals 2 \.\. 2"
    ):
        plan_cancel(HOUSEHOLD, 5, PERIOD, {40: SELL}, GRID, RULES, 0, 2, 3)
    with pytest.raises(ScheduleRefusedError, match="interval 0 of period 10: its gate closed"):
        plan_cancel(HOUSEHOLD, 5, PERIOD, book, GRID, RULES, 40 * 60, 0, None)


def test_a_schedule_file_is_checked_key_by_key(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        'period = 10\nversion = 4\n[[entries]]\ninterval = 2\nside = "buy"\n'
        "energy_wh = 50\nprice_per_kwh = 200000\n"
    )
    assert load_request(good) == Request({2: BUY}, 10, 4)
    for text, message in [
        ("perod = 1\n", "unknown key 'perod'"),
        ('[[entries]]\ninterval = 1\nside = "sell"\n', "needs exactly interval, side"),
        (
            '[[entries]]\ninterval = 1\nside = "hold"\nenergy_wh = 1\nprice_per_kwh = 1\n',
            "side is sell or buy, not 'hold'",
        ),
        ("period = -1\n", "period: a non-negative integer"),
        ("period = \n", "Invalid value"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ScheduleRefusedError, match=message):
            load_request(bad)

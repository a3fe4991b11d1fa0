"""The standing plan as the next period's Schedule (issue 16): prices as people type them,
the day band in Brussels time, the first open interval, what the wallet is asked to sign."""

from __future__ import annotations

from datetime import datetime

import pytest

from api.errors import ValidationFailedError
from api.pages.i18n import BRUSSELS
from api.pages.plan import DAY_FROM_HOUR, DAY_TO_HOUR, Plan, next_schedule, price_units
from ledger.deploy_v2 import DEFAULT_RULES
from ledger.entries import EntrySide
from ledger.rules import TimeGrid
from ledger.schedules import schedule_struct_hash, schedule_typed_data

GRID = TimeGrid()
HOUSEHOLD = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PERIOD = 20625  # 2026-06-21 UTC


@pytest.mark.parametrize(
    ("typed", "units"), [("0,09", 90_000), ("0.28", 280_000), (" 1 ", 1_000_000), ("0", 0)]
)
def test_prices_typed_in_euros_per_kwh(typed: str, units: int) -> None:
    assert price_units(typed, "price") == units


@pytest.mark.parametrize("typed", ["abc", "-0.1", "0.0000001", "NaN", "5000", ""])
def test_a_price_that_is_not_one_is_refused(typed: str) -> None:
    with pytest.raises(ValidationFailedError):
        price_units(typed, "price")


def test_the_plan_is_the_next_periods_schedule_from_its_first_open_interval() -> None:
    plan = Plan(sell_wh=250, sell_min_per_kwh=90_000, buy_wh=120, buy_max_per_kwh=280_000)
    now = GRID.period_start(PERIOD) + 12 * 3600  # noon UTC of PERIOD
    schedule = next_schedule(plan, HOUSEHOLD, 3, GRID, DEFAULT_RULES, now)
    assert schedule.period_id == PERIOD + 1
    assert schedule.version == 3
    assert schedule.first_interval_id == GRID.first_interval(PERIOD + 1)
    assert len(schedule.entries) == 96
    for offset, entry in enumerate(schedule.entries):
        start = GRID.interval_start(schedule.first_interval_id + offset)
        hour = datetime.fromtimestamp(start, BRUSSELS).hour
        if DAY_FROM_HOUR <= hour < DAY_TO_HOUR:
            assert (entry.side, entry.energy_wh, entry.price_per_kwh) == (
                EntrySide.SELL,
                250,
                90_000,
            )
        else:
            assert (entry.side, entry.energy_wh, entry.price_per_kwh) == (
                EntrySide.BUY,
                120,
                280_000,
            )
    # Summer: 09:00 Brussels is 07:00 UTC, interval 28 of the UTC day.
    assert schedule.entries[27].side == EntrySide.BUY
    assert schedule.entries[28].side == EntrySide.SELL
    # The wallet is asked to sign exactly this schedule (FORMATS.md §3).
    typed = schedule_typed_data(schedule, 31337, "0xf0E38dBF027442ba3002a90E210f8EC65a291E89")
    assert typed["message"]["entries"] == "0x" + schedule.entries_bytes.hex()
    assert len(schedule_struct_hash(schedule)) == 32


def test_late_in_the_day_the_schedule_starts_at_the_first_open_interval() -> None:
    plan = Plan(sell_wh=0, sell_min_per_kwh=0, buy_wh=100, buy_max_per_kwh=200_000)
    # 23:50 UTC: the next period's first quarter-hour closes at 23:45 (15 min gate lead).
    now = GRID.period_start(PERIOD + 1) - 600
    schedule = next_schedule(plan, HOUSEHOLD, 1, GRID, DEFAULT_RULES, now)
    assert schedule.period_id == PERIOD + 1
    assert schedule.first_interval_id > GRID.first_interval(PERIOD + 1)
    assert all(e.side in (EntrySide.BUY, EntrySide.NONE) for e in schedule.entries)
    assert schedule.first_interval_id + len(schedule.entries) == GRID.first_interval(PERIOD + 2)


def test_one_body_for_post_schedules_signed_or_not() -> None:
    """ledger.schedules.schedule_body: the page's unsigned body, the demo's and the household
    CLI's signed one; the service's own schema reads it back to the signed entries."""
    from api.schedules.schemas import ScheduleIn
    from ledger.schedules import schedule_body, sign_schedule

    plan = Plan(sell_wh=250, sell_min_per_kwh=90_000, buy_wh=120, buy_max_per_kwh=280_000)
    now = GRID.period_start(PERIOD) + 12 * 3600
    key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Anvil 1
    schedule = next_schedule(plan, HOUSEHOLD, 1, GRID, DEFAULT_RULES, now)
    unsigned = schedule_body(schedule)
    assert "signature" not in unsigned
    signed = sign_schedule(key, schedule, 31337, "0xf0E38dBF027442ba3002a90E210f8EC65a291E89")
    body = ScheduleIn.model_validate(schedule_body(schedule, signed.signature))
    assert body.signature == "0x" + signed.signature.hex()
    assert (body.household, body.period_id, body.version, body.first_interval_id) == (
        HOUSEHOLD,
        PERIOD + 1,
        1,
        schedule.first_interval_id,
    )
    sides = {"none": EntrySide.NONE, "sell": EntrySide.SELL, "buy": EntrySide.BUY}
    assert [(sides[e["side"]], e["energy_wh"], e["price_per_kwh"]) for e in body.entries] == [
        (e.side, e.energy_wh, e.price_per_kwh) for e in schedule.entries
    ]

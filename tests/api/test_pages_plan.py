"""The standing plan as the next period's Schedule (issue 16): prices as people type them,
time bands in Brussels time (past midnight, overlaps refused), the first open interval, what
the wallet is asked to sign."""

from __future__ import annotations

from datetime import datetime

import pytest

from api.errors import ValidationFailedError
from api.pages.i18n import BRUSSELS
from api.pages.plan import (
    MAX_BANDS,
    Band,
    OverlappingBandsError,
    band_of_hours,
    next_schedule,
    price_units,
)
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


BANDS = [
    Band(22, 7, "buy", 200, 250_000),  # past midnight
    Band(7, 11, "buy", 150, 300_000),
    Band(11, 17, "sell", 300, 80_000),
    Band(17, 22, "none", 0, 0),
]


def _hour(schedule_first: int, offset: int) -> int:
    return datetime.fromtimestamp(GRID.interval_start(schedule_first + offset), BRUSSELS).hour


def test_the_plan_is_the_next_periods_schedule_band_by_band() -> None:
    now = GRID.period_start(PERIOD) + 12 * 3600  # noon UTC of PERIOD
    schedule = next_schedule(BANDS, HOUSEHOLD, 3, GRID, DEFAULT_RULES, now)
    assert schedule.period_id == PERIOD + 1
    assert schedule.version == 3
    assert schedule.first_interval_id == GRID.first_interval(PERIOD + 1)
    assert len(schedule.entries) == 96
    expected = {}
    for band in BANDS:
        for hour in band.hours():
            expected[hour] = band
    assert sorted(expected) == list(range(24))
    for offset, entry in enumerate(schedule.entries):
        band = expected[_hour(schedule.first_interval_id, offset)]
        if band.side == "none":
            assert (entry.side, entry.energy_wh, entry.price_per_kwh) == (EntrySide.NONE, 0, 0)
        else:
            side = EntrySide.SELL if band.side == "sell" else EntrySide.BUY
            assert (entry.side, entry.energy_wh, entry.price_per_kwh) == (
                side,
                band.energy_wh,
                band.limit_per_kwh,
            )
    # Summer: 11:00 Brussels is 09:00 UTC (interval 36 of the UTC day), 07:00 is 05:00 UTC.
    assert schedule.entries[35].price_per_kwh == 300_000
    assert schedule.entries[36].side == EntrySide.SELL
    assert schedule.entries[19].price_per_kwh == 250_000  # 06:45 Brussels: the night band
    assert schedule.entries[20].price_per_kwh == 300_000  # 07:00: the morning band
    assert schedule.entries[60].side == EntrySide.NONE  # 17:00 Brussels: the evening band
    # The wallet is asked to sign exactly this schedule (FORMATS.md §3).
    typed = schedule_typed_data(schedule, 31337, "0xf0E38dBF027442ba3002a90E210f8EC65a291E89")
    assert typed["message"]["entries"] == "0x" + schedule.entries_bytes.hex()
    assert len(schedule_struct_hash(schedule)) == 32


def test_hours_no_band_covers_get_no_entry_and_dust_is_none() -> None:
    dust = DEFAULT_RULES.min_entry_wh - 1
    bands = [Band(11, 17, "sell", 300, 80_000), Band(18, 19, "buy", dust, 200_000)]
    now = GRID.period_start(PERIOD) + 12 * 3600
    schedule = next_schedule(bands, HOUSEHOLD, 1, GRID, DEFAULT_RULES, now)
    for offset, entry in enumerate(schedule.entries):
        hour = _hour(schedule.first_interval_id, offset)
        assert (entry.side == EntrySide.SELL) == (11 <= hour < 17)
        assert entry.side != EntrySide.BUY  # below the community's smallest entry


@pytest.mark.parametrize(
    ("bands", "hour"),
    [
        ([Band(22, 7, "buy", 1, 1), Band(6, 9, "sell", 1, 1)], 6),
        ([Band(11, 17, "sell", 1, 1), Band(16, 18, "buy", 1, 1)], 16),
        ([Band(0, 24, "buy", 1, 1), Band(23, 1, "buy", 1, 1)], 23),
    ],
)
def test_overlapping_bands_are_refused_naming_the_hour(bands: list[Band], hour: int) -> None:
    with pytest.raises(OverlappingBandsError, match=f"{hour:02d}:00"):
        band_of_hours(bands)


def test_a_band_of_no_hours_and_too_many_bands_are_refused() -> None:
    with pytest.raises(ValidationFailedError, match="starts and ends"):
        band_of_hours([Band(7, 7, "buy", 1, 1)])
    with pytest.raises(ValidationFailedError, match="at most"):
        band_of_hours([Band(h, h + 1, "buy", 1, 1) for h in range(MAX_BANDS + 1)])


def test_late_in_the_day_the_schedule_starts_at_the_first_open_interval() -> None:
    bands = [Band(0, 24, "buy", 100, 200_000)]
    # 23:50 UTC: the next period's first quarter-hour closes at 23:45 (15 min gate lead).
    now = GRID.period_start(PERIOD + 1) - 600
    schedule = next_schedule(bands, HOUSEHOLD, 1, GRID, DEFAULT_RULES, now)
    assert schedule.period_id == PERIOD + 1
    assert schedule.first_interval_id > GRID.first_interval(PERIOD + 1)
    assert all(e.side == EntrySide.BUY for e in schedule.entries)
    assert schedule.first_interval_id + len(schedule.entries) == GRID.first_interval(PERIOD + 2)


def test_one_body_for_post_schedules_signed_or_not() -> None:
    """ledger.schedules.schedule_body: the page's unsigned body, the demo's and the household
    CLI's signed one; the service's own schema reads it back to the signed entries."""
    from api.schedules.schemas import ScheduleIn
    from ledger.schedules import schedule_body, sign_schedule

    now = GRID.period_start(PERIOD) + 12 * 3600
    key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Anvil 1
    schedule = next_schedule(BANDS, HOUSEHOLD, 1, GRID, DEFAULT_RULES, now)
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

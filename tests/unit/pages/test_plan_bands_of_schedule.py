"""The household's form opens with its own plan (issue 16): a signed schedule read back as
the bands it was made from, round the clock and across the DST changes; a schedule that
is not bands (sized quarter-hour by quarter-hour) falls back to the defaults, said so."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from api.pages.plan import (
    DEFAULT_BANDS,
    MAX_BANDS,
    Band,
    bands_of_schedule,
    household_bands,
    next_schedule,
)
from api.schedules.models import ScheduleRow, ScheduleStatus
from ledger.entries import Entry, EntrySide
from ledger.rules import Mechanism, Rules, TimeGrid
from ledger.schedules import Schedule

GRID = TimeGrid()
RULES = Rules(Mechanism.PAY_AS_CLEAR, 300, 3600, 10, 0, 10**6, 150_000)
HOUSEHOLD = "0x" + "ab" * 20
#: A plan of the form's kind, none of it the defaults: a night band past midnight, a band
#: ending at midnight (24:00 in the form), hours with different figures on either side.
OWN_BANDS = (
    Band(1, 6, "buy", 120, 280_000),
    Band(6, 12, "sell", 250, 90_000),
    Band(12, 18, "buy", 75, 310_000),
    Band(18, 24, "sell", 40, 120_000),
    Band(0, 1, "buy", 60, 200_000),
)
PAST_MIDNIGHT = (
    Band(22, 7, "buy", 120, 280_000),
    Band(7, 11, "sell", 90, 95_000),
    Band(11, 17, "sell", 250, 90_000),
    Band(17, 22, "buy", 90, 335_000),
)


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


#: Mornings (UTC) whose next period is a winter day, a summer day, the spring DST day
#: (Brussels 02:00 never happens) and the autumn one (02:00 happens twice).
MORNINGS = ["2026-12-02T10:00", "2026-06-20T10:00", "2026-03-28T10:00", "2026-10-24T10:00"]


def _by_start(bands: tuple[Band, ...] | list[Band]) -> list[Band]:
    return sorted(bands, key=lambda band: band.from_hour)


@pytest.mark.parametrize(
    ("bands", "morning"),
    [
        (bands, morning)
        for bands in (DEFAULT_BANDS, PAST_MIDNIGHT, OWN_BANDS)
        for morning in MORNINGS
        if not (bands is OWN_BANDS and morning == MORNINGS[3])  # below
    ],
)
def test_a_plan_signed_as_a_schedule_reads_back_as_the_same_bands(
    bands: tuple[Band, ...], morning: str
) -> None:
    schedule = next_schedule(bands, HOUSEHOLD, 1, GRID, RULES, _at(morning))
    assert len(schedule.entries) == GRID.period_intervals  # the whole next period
    assert _by_start(bands_of_schedule(schedule, GRID) or []) == _by_start(bands)


def test_a_band_edge_at_an_hour_the_period_never_reaches_leaves_that_hour_as_nothing() -> None:
    # The autumn DST day's period (UTC) runs Brussels 02:00 (summer) to 01:00 (winter):
    # 01:00 is in none of its quarter-hours, so 00:00-01:00 and 01:00-06:00 cannot be told
    # apart from a plan with nothing at 01:00; the hour is not guessed.
    schedule = next_schedule(OWN_BANDS, HOUSEHOLD, 1, GRID, RULES, _at(MORNINGS[3]))
    assert _by_start(bands_of_schedule(schedule, GRID) or []) == [
        Band(0, 1, "buy", 60, 200_000),
        Band(1, 2, "none", 0, 0),
        Band(2, 6, "buy", 120, 280_000),
        *_by_start(OWN_BANDS)[2:],
    ]


def test_uncovered_hours_and_nothing_bands_read_back_as_nothing_bands() -> None:
    typed = (
        Band(22, 7, "buy", 120, 280_000),
        Band(7, 11, "none", 150, 300_000),  # the form keeps figures of a "nothing" band
        Band(11, 17, "sell", 250, 90_000),
    )  # 17:00-22:00 is in no band
    schedule = next_schedule(typed, HOUSEHOLD, 1, GRID, RULES, _at(MORNINGS[0]))
    assert _by_start(bands_of_schedule(schedule, GRID) or []) == [
        Band(7, 11, "none", 0, 0),
        Band(11, 17, "sell", 250, 90_000),
        Band(17, 22, "none", 0, 0),
        Band(22, 7, "buy", 120, 280_000),
    ]


def test_one_entry_all_day_is_one_band_from_midnight_to_midnight() -> None:
    schedule = next_schedule([Band(0, 24, "sell", 100, 50_000)], HOUSEHOLD, 1, GRID, RULES, 0)
    assert bands_of_schedule(schedule, GRID) == (Band(0, 24, "sell", 100, 50_000),)


def test_hours_a_late_schedule_does_not_reach_take_the_band_around_them() -> None:
    full = next_schedule(DEFAULT_BANDS, HOUSEHOLD, 1, GRID, RULES, _at(MORNINGS[0]))
    # Brussels 01:00-05:00 (a night band's hours) missing: begun 4 hours into the period.
    late = dataclasses.replace(
        full, first_interval_id=full.first_interval_id + 16, entries=full.entries[16:]
    )
    assert _by_start(bands_of_schedule(late, GRID) or []) == _by_start(DEFAULT_BANDS)
    # Missing hours between two different bands are nothing.
    begun_midday = dataclasses.replace(
        full, first_interval_id=full.first_interval_id + 40, entries=full.entries[40:]
    )  # from Brussels 11:00 (UTC 10:00) on: 01:00-11:00 missing, 00:00 buys, 11:00 sells
    assert _by_start(bands_of_schedule(begun_midday, GRID) or []) == [
        Band(1, 11, "none", 0, 0),
        Band(11, 17, "sell", 300, 80_000),
        Band(17, 22, "buy", 100, 320_000),
        Band(22, 1, "buy", 200, 250_000),
    ]


def _sized_per_quarter_hour() -> Schedule:
    schedule = next_schedule(DEFAULT_BANDS, HOUSEHOLD, 1, GRID, RULES, _at(MORNINGS[0]))
    entries = list(schedule.entries)
    entries[41] = Entry(EntrySide.SELL, 299, 80_000)  # one quarter-hour of 11:00 differs
    return dataclasses.replace(schedule, entries=tuple(entries))


def test_an_hour_whose_quarter_hours_differ_is_not_bands() -> None:
    assert bands_of_schedule(_sized_per_quarter_hour(), GRID) is None


def test_more_runs_than_the_form_has_rows_is_not_bands() -> None:
    hourly = [Band(h, h + 1, "sell", 100 + h, 80_000) for h in range(MAX_BANDS)]
    # As many bands as the form takes and the hours none covers: one run too many.
    schedule = next_schedule(hourly, HOUSEHOLD, 1, GRID, RULES, _at(MORNINGS[0]))
    assert bands_of_schedule(schedule, GRID) is None


def _row(schedule: Schedule, status: ScheduleStatus) -> ScheduleRow:
    return ScheduleRow(
        schedule_hash=f"0x{schedule.period_id:064x}{schedule.version}",
        household=schedule.household,
        period_id=schedule.period_id,
        version=schedule.version,
        first_interval_id=schedule.first_interval_id,
        entries="0x" + schedule.entries_bytes.hex(),
        signature="0x" + "00" * 65,
        lock_units=schedule.lock_units,
        status=status,
        created_at=0,
    )


def test_the_form_opens_with_the_latest_accepted_schedule() -> None:
    now = _at(MORNINGS[0])
    older = next_schedule(PAST_MIDNIGHT, HOUSEHOLD, 1, GRID, RULES, now - 86_400)
    latest = next_schedule(OWN_BANDS, HOUSEHOLD, 1, GRID, RULES, now)
    refused = next_schedule(PAST_MIDNIGHT, HOUSEHOLD, 2, GRID, RULES, now)
    rows = [
        _row(refused, ScheduleStatus.REFUSED),  # newest first, as own_schedules orders them
        _row(latest, ScheduleStatus.PENDING),
        _row(older, ScheduleStatus.POSTED),
    ]
    bands, shown = household_bands(rows, GRID)
    assert shown
    assert _by_start(bands) == _by_start(OWN_BANDS)
    bands, shown = household_bands(rows[2:], GRID)
    assert shown
    assert _by_start(bands) == _by_start(PAST_MIDNIGHT)


def test_no_schedule_opens_the_defaults_and_one_not_bands_says_so() -> None:
    assert household_bands([], GRID) == (DEFAULT_BANDS, True)
    assert household_bands([_row(_sized_per_quarter_hour(), ScheduleStatus.POSTED)], GRID) == (
        DEFAULT_BANDS,
        False,
    )

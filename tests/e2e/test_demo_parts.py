"""The demo's pure parts (no chain): the simulated day, the agents' schedules and batches,
bills, charts.

They live beside the e2e test because they exist only for it; each runs in milliseconds once
the (cached) year of pvlib/demandlib profiles is computed.
"""

from __future__ import annotations

import tomllib
import xml.dom.minidom
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from api.demo.agents import (
    MIN_ENTRY_WH,
    draw_limits,
    entry_size,
    household_schedule,
    meter_batch,
)
from api.demo.neighbourhood import make_households
from api.demo.report import euros, kwh, price
from api.demo.simulation import FORECAST_ERROR, SLOTS_PER_DAY, DaySimulation, simulate_day
from ledger.charts import Series, bar_chart, line_chart
from ledger.deploy_v2 import DEFAULT_RULES
from ledger.rules import TimeGrid
from ledger.schedules import EntrySide, SignedSchedule, sign_schedule, verify_schedule
from metering.period import verify_meter_period

DAY = date(2026, 6, 21)
BRUSSELS = ZoneInfo("Europe/Brussels")
TARIFF = tomllib.loads(
    (Path(__file__).parents[2] / "api/economics/tariffs/wallonia-2026.toml").read_text()
)


def _band(supply: str, local: datetime) -> str:
    """The band of a local time, by a literal reading of the file's ranges."""
    bands = TARIFF["bands"][TARIFF["supply"][supply]["bands"]]
    now = f"{local:%H:%M}"
    for band, ranges in bands.items():
        for text in ranges:
            start, end = text.split("-")
            if start <= now < end:
                return str(band)
    raise AssertionError(now)


EXCHANGE = "0x" + "ab" * 20
GRID = TimeGrid()


@pytest.fixture(scope="module")
def day() -> DaySimulation:
    return simulate_day(4, DAY, 96, seed=3)


def test_the_same_seed_gives_the_same_day_and_another_seed_another(
    day: DaySimulation,
) -> None:
    assert simulate_day(4, DAY, 96, seed=3) == day
    assert simulate_day(4, DAY, 96, seed=4).import_wh != day.import_wh


def test_a_later_start_is_the_same_meters_over_the_same_whole_day(day: DaySimulation) -> None:
    noon = simulate_day(4, DAY, 8, seed=3, start_slot=48)
    assert noon.first_interval_id == day.first_interval_id + 48
    assert (
        noon.base_interval_id
        == day.base_interval_id
        == GRID.first_interval(GRID.period_of_interval(day.first_interval_id))
    )
    # meters run all day, whatever the traded window
    assert noon.import_wh == day.import_wh
    for k in noon.interval_ids():
        for h in range(4):
            assert noon.registers(h, k) == day.registers(h, k)
            assert noon.metered(h, k) == day.metered(h, k)


def test_registers_never_decrease_and_a_window_over_midnight_covers_two_days() -> None:
    late = simulate_day(2, DAY, 8, seed=3, start_slot=92)  # 23:00 to 01:00
    for h in range(2):
        assert list(late.import_wh[h]) == sorted(late.import_wh[h])
        assert list(late.export_wh[h]) == sorted(late.export_wh[h])
    assert len(late.import_wh[0]) == 2 * SLOTS_PER_DAY + 1
    last = late.first_interval_id + 7
    assert GRID.period_of_interval(last) == GRID.period_of_interval(late.first_interval_id) + 1
    late.metered(0, last)  # inside the simulated days
    with pytest.raises(IndexError):
        late.boundary(0, late.base_interval_id + 2 * SLOTS_PER_DAY + 1)


def test_a_shifted_day_is_the_same_meters_whole_days_later(day: DaySimulation) -> None:
    later = day.shifted(3)
    assert later.first_interval_id == day.first_interval_id + 3 * SLOTS_PER_DAY
    for k in day.interval_ids():
        assert later.metered(1, k + 3 * SLOTS_PER_DAY) == day.metered(1, k)
        assert later.is_daylight(k + 3 * SLOTS_PER_DAY) == day.is_daylight(k)
    # nobody's meter exports in the dark, and June has daylight at noon only
    assert day.is_daylight(day.first_interval_id + 48)
    assert not day.is_daylight(day.first_interval_id)
    for k in day.interval_ids():
        if not day.is_daylight(k):
            assert all(day.metered(h, k)[1] == 0 for h in range(day.households))


def test_entry_sizes_cover_the_worst_forecast_error() -> None:
    for truth in (5, 37, 400, 2_500):
        lowest_forecast = int(truth * (1 - FORECAST_ERROR))
        assert entry_size(lowest_forecast) >= truth
        assert entry_size(truth) <= truth * 1.25 + 3  # no more than the margin asks


def test_schedules_follow_the_forecast_within_the_chains_band(day: DaySimulation) -> None:
    households = make_households(4, seed=3)
    limits = draw_limits(4, DEFAULT_RULES, seed=3)
    period = GRID.period_of_interval(day.first_interval_id)
    posted = 0
    for index, household in enumerate(households):
        schedule = household_schedule(
            household, index, limits[index], day, period, day.interval_ids()
        )
        if schedule is None:
            continue
        posted += 1
        assert schedule.household == household.account.address
        assert schedule.entries[0].side is not EntrySide.NONE  # trimmed
        assert schedule.entries[-1].side is not EntrySide.NONE
        for k, entry in zip(schedule.interval_ids(), schedule.entries, strict=True):
            forecast = day.forecast(index, k)
            # the member's own prices, read here from the tariff file with tomllib
            contract = limits[index].member
            local = datetime.fromtimestamp(k * 900, tz=UTC).astimezone(BRUSSELS)
            month = f"{local:%Y-%m}"
            if entry.side is EntrySide.SELL:
                assert forecast.export_wh >= MIN_ENTRY_WH
                assert entry.energy_wh == entry_size(forecast.export_wh)
                injection = TARIFF["injection"][contract.injection]["price_per_kwh"][month]["all"]
                assert entry.price_per_kwh == max(
                    DEFAULT_RULES.price_floor_per_kwh, injection + 1_000
                )
            elif entry.side is EntrySide.BUY:
                assert day.is_daylight(k)
                assert entry.energy_wh == entry_size(forecast.import_wh)
                band = _band(contract.supply, local)
                energy = TARIFF["supply"][contract.supply]["energy_per_kwh"][month][band]
                assert entry.price_per_kwh == min(
                    DEFAULT_RULES.price_ceiling_per_kwh, energy * 106 // 100 - 1_000
                )
        signed = sign_schedule(household.account.key, schedule, 31337, EXCHANGE)
        assert verify_schedule(signed, 31337, EXCHANGE)
        forged = SignedSchedule(schedule, signed.signature[:-1] + bytes([signed.signature[-1] ^ 1]))
        assert not verify_schedule(forged, 31337, EXCHANGE)
    assert posted >= 2


def test_a_meter_batch_signs_its_whole_period(day: DaySimulation) -> None:
    household = make_households(4, seed=3)[2]
    period = GRID.period_of_interval(day.first_interval_id)
    signed = meter_batch(household, 2, day, GRID, period, 31337, EXCHANGE)
    assert verify_meter_period(signed, household.meter.public_key, 31337, EXCHANGE)
    assert not verify_meter_period(signed, household.meter.public_key, 31337, "0x" + "cd" * 20)
    batch = signed.period
    assert batch.interval_count == GRID.period_intervals
    assert batch.boundaries() == [
        day.boundary(2, k) for k in range(day.base_interval_id, day.base_interval_id + 97)
    ]


def test_reports_show_euros_to_the_cent_and_kwh_to_a_tenth() -> None:
    # The demo's report and CLI table use ledger.display.euros, as the status and statements.
    assert euros(12_658_360) == "12.66 €"
    assert euros(-170_000) == "-0.17 €"
    assert euros(4_999) == "0.00 €"
    assert euros(5_000) == "0.01 €"
    assert euros(-5_000) == "-0.01 €"  # halves away from zero, both signs
    assert kwh(12_345) == "12.3"
    assert kwh(50) == "0.1"
    assert kwh(-50) == "-0.1"
    assert price(132_500) == "0.133 €/kWh"
    assert price(-10_000) == "-0.010 €/kWh"
    assert price(-10_500) == "-0.011 €/kWh"


def test_charts_are_well_formed_svg() -> None:
    labels = ["00:00", "00:15", "00:30"]
    for svg in (
        line_chart("t", "Wh", labels, [Series("a", "#000", [1.0, None, 3.0])]),
        bar_chart("t", "Wh", labels, [Series("a", "#000", [1.0, 0.0, -2.0])]),
        line_chart("empty", "Wh", [], []),
    ):
        document = xml.dom.minidom.parseString(svg)
        assert document.documentElement.tagName == "svg"
        assert "<script" not in svg
    # The titles and legends are text of the SVG (readable in the PDF made from it).
    svg = bar_chart("Energy shared", "kWh", labels, [Series("bought", "#000", [1.0, 2.0, 3.0])])
    assert "Energy shared" in svg
    assert "bought" in svg

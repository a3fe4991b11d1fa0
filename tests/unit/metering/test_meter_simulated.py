"""The simulated fleet: seeded, deterministic, monotone integer registers, plausible energy."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from metering.adapters.simulated import (
    SimulatedFleet,
    SimulatedMeter,
    _easter,
    belgian_holidays,
)
from metering.errors import MeterDataError

MIDSUMMER = date(2026, 6, 21)


@pytest.fixture(scope="module")
def fleet() -> SimulatedFleet:
    return SimulatedFleet(6, seed=42)


def test_easter_and_belgian_holidays() -> None:
    assert _easter(2026) == date(2026, 4, 5)
    assert _easter(2027) == date(2027, 3, 28)
    holidays = belgian_holidays(2026)
    assert holidays[date(2026, 7, 21)] == "National Day"
    assert holidays[date(2026, 5, 14)] == "Ascension"
    assert len(holidays) == 10


def test_registers_are_integers_and_never_decrease(fleet: SimulatedFleet) -> None:
    day = fleet.day_registers(MIDSUMMER)
    assert day.first_interval_id == int(datetime(2026, 6, 21, tzinfo=UTC).timestamp()) // 900
    for rows in (day.import_wh, day.export_wh):
        assert len(rows) == 6
        assert all(len(row) == 97 for row in rows)
        for row in rows:
            assert all(type(v) is int for v in row)
            assert all(a <= b for a, b in itertools.pairwise(row))


def test_pv_households_export_around_noon_not_at_night(fleet: SimulatedFleet) -> None:
    day = fleet.day_registers(MIDSUMMER)
    with_pv = [i for i, m in enumerate(fleet.members) if m.pv_kwp > 0]
    assert with_pv, "seed 42 must give at least one PV household"
    for i in with_pv:
        row = day.export_wh[i]
        night = row[8] - row[0]  # 00:00-02:00 UTC
        noon = row[52] - row[44]  # 11:00-13:00 UTC
        assert night == 0
        assert noon > 0
    for i, member in enumerate(fleet.members):
        if member.pv_kwp == 0:
            assert day.export_wh[i][-1] == day.export_wh[i][0]


def test_same_seed_same_registers_and_household_independent_of_fleet_size(
    fleet: SimulatedFleet,
) -> None:
    small = SimulatedFleet(2, seed=42)
    assert small.day_registers(MIDSUMMER).import_wh == fleet.day_registers(MIDSUMMER).import_wh[:2]
    other = SimulatedFleet(2, seed=43)
    assert other.day_registers(MIDSUMMER).import_wh != small.day_registers(MIDSUMMER).import_wh


def test_a_day_of_load_is_plausible(fleet: SimulatedFleet) -> None:
    day = fleet.day_registers(date(2026, 1, 14))
    for i, member in enumerate(fleet.members):
        imported_kwh = (day.import_wh[i][-1] - day.import_wh[i][0]) / 1000
        # A winter day of a 2,500-5,000 kWh/year household: several kWh, not 0, not 50.
        assert 2 < imported_kwh < 30, (member, imported_kwh)


def test_meter_reads_the_last_boundary(fleet: SimulatedFleet) -> None:
    noon = int(datetime(2026, 6, 21, 12, 7, tzinfo=UTC).timestamp())
    snapshot = SimulatedMeter(fleet, 3, clock=lambda: noon).read()
    day = fleet.day_registers(MIDSUMMER)
    assert snapshot.import_wh.total_wh == day.import_wh[3][48]  # 12:00 boundary
    assert snapshot.export_wh.total_wh == day.export_wh[3][48]
    assert snapshot.meter_timestamp == datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


def test_before_the_epoch_and_bad_index_are_refused(fleet: SimulatedFleet) -> None:
    with pytest.raises(MeterDataError, match="start"):
        fleet.registers_at(int(datetime(2025, 12, 31, tzinfo=UTC).timestamp()))
    with pytest.raises(MeterDataError):
        SimulatedMeter(fleet, 6)

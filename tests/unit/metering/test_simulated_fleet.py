"""The simulated neighbourhood: a quarter of homes with PV, Walloon sizes and roofs, real
peaks, batteries that conserve energy, and the same seed giving the same neighbourhood."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metering.adapters.simulated import (
    ROOFS,
    FleetSettings,
    Household,
    SimulatedFleet,
    YearFlows,
    has_share,
)
from metering.errors import MeterDataError

YEAR = 2026
SLOTS = 96
JANUARY = slice(0, 31 * SLOTS)
JUNE = slice(151 * SLOTS, 181 * SLOTS)
BATTERIES = FleetSettings(pv_share=0.5, battery_share=1.0)


@pytest.fixture(scope="module")
def fleet() -> SimulatedFleet:
    return SimulatedFleet(20, seed=7)


@pytest.fixture(scope="module")
def flows(fleet: SimulatedFleet) -> YearFlows:
    return fleet.year_flows(YEAR)


@pytest.fixture(scope="module")
def battery_flows() -> YearFlows:
    return SimulatedFleet(6, seed=11, settings=BATTERIES).year_flows(YEAR)


def test_a_quarter_of_the_homes_have_pv_by_default_whatever_the_fleet_size() -> None:
    assert FleetSettings().pv_share == 0.25
    for share in (0.0, 0.25, 0.3, 0.5, 1.0):
        picked = [has_share(i, share) for i in range(60)]
        for n in range(1, 61):
            assert sum(picked[:n]) == math.ceil(n * share - 1e-9), (share, n)
    fleet = SimulatedFleet(20, seed=7)
    assert sum(1 for m in fleet.members if m.pv_kwp > 0) == 5
    assert sum(1 for m in SimulatedFleet(20, 7, FleetSettings(0.55)).members if m.pv_kwp) == 11


def test_pv_homes_have_walloon_sizes_and_roofs_of_their_own() -> None:
    members = SimulatedFleet(200, seed=5, settings=FleetSettings(pv_share=1.0)).members
    sizes = np.array([m.pv_kwp for m in members])
    assert sizes.min() >= 2.5
    assert sizes.max() <= 8.0
    assert 4.0 <= np.median(sizes) <= 5.5
    roofs = {m.roof for m in members}
    assert roofs == {name for name, *_ in ROOFS}
    assert len({m.tilt_deg for m in members}) >= 4
    for m in members:
        assert 15.0 <= m.tilt_deg <= 45.0
    assert {m.azimuth_deg for m in members if m.roof == "east"} == {90.0}
    assert {m.azimuth_deg for m in members if m.roof == "west"} == {270.0}


def test_a_setting_changes_what_it_sets_and_nothing_else() -> None:
    plain = [Household.draw(7, i) for i in range(12)]
    solar = [Household.draw(7, i, FleetSettings(pv_share=1.0)) for i in range(12)]
    for a, b in zip(plain, solar, strict=True):
        assert a.annual_load_kwh == b.annual_load_kwh
        assert a.appliances == b.appliances
        if a.pv_kwp:
            assert (a.pv_kwp, a.roof, a.tilt_deg) == (b.pv_kwp, b.roof, b.tilt_deg)
    with pytest.raises(MeterDataError, match="pv_share"):
        FleetSettings(pv_share=1.5)
    with pytest.raises(MeterDataError, match="battery_share"):
        FleetSettings(battery_share=-0.1)


def test_east_roofs_produce_before_west_roofs() -> None:
    fleet = SimulatedFleet(120, seed=3, settings=FleetSettings(pv_share=1.0))
    flows = fleet.year_flows(YEAR)
    by_roof = {
        roof: [h for h, m in enumerate(fleet.members) if m.roof == roof]
        for roof in ("east", "west")
    }
    minutes = (np.arange(SLOTS) * 15 + 7.5)[None, :]
    centre = {}
    for roof, homes in by_roof.items():
        assert homes
        days = flows.pv_wh[homes][:, JUNE].reshape(len(homes), -1, SLOTS).sum(axis=1)
        centre[roof] = float((days * minutes).sum() / days.sum())  # mean production time, UTC
    assert centre["east"] + 120 < centre["west"]  # hours apart, not minutes


def test_monthly_quarter_hour_peaks_are_three_to_nine_kw(flows: YearFlows) -> None:
    for month in (JANUARY, JUNE):
        peaks_w = flows.load_wh[:, month].max(axis=1) * 4
        assert (peaks_w >= 3_000).all(), peaks_w
        assert (peaks_w <= 9_000).all(), peaks_w
        assert np.median(peaks_w) < 7_000  # most homes have no car charging at dinner


def test_the_load_has_a_season(flows: YearFlows) -> None:
    january = flows.load_wh[:, JANUARY].sum() / 31
    june = flows.load_wh[:, JUNE].sum() / 30
    assert january > 1.15 * june
    yearly_kwh = flows.load_wh.sum(axis=1) / 1000
    assert (yearly_kwh > 2_000).all()
    assert np.median(yearly_kwh) < 5_500


def test_pv_yields_like_belgian_roofs(fleet: SimulatedFleet, flows: YearFlows) -> None:
    """Some 800-1,050 kWh a year per kWp (south best, east or west less)."""
    for h, member in enumerate(fleet.members):
        if member.pv_kwp:
            specific = flows.pv_wh[h].sum() / 1000 / member.pv_kwp
            assert 650 < specific < 1_100, (member, specific)
            assert flows.pv_wh[h][JUNE].sum() > 4 * flows.pv_wh[h][JANUARY].sum()
        else:
            assert not flows.pv_wh[h].any()


def test_meters_see_load_minus_pv_plus_the_battery_in_whole_wh(
    flows: YearFlows, battery_flows: YearFlows
) -> None:
    for year in (flows, battery_flows):
        for array in (year.load_wh, year.pv_wh, year.import_wh, year.export_wh):
            assert array.dtype == np.int64
            assert (array >= 0).all()
        net = year.load_wh - year.pv_wh + year.battery_charged_wh - year.battery_discharged_wh
        assert np.array_equal(year.import_wh - year.export_wh, net)
        assert not (year.import_wh.astype(bool) & year.export_wh.astype(bool)).any()


def test_batteries_conserve_energy_and_never_export_what_they_did_not_store(
    battery_flows: YearFlows,
) -> None:
    fleet = SimulatedFleet(6, seed=11, settings=BATTERIES)
    year = battery_flows
    with_battery = [h for h, m in enumerate(fleet.members) if m.battery_wh]
    assert with_battery == [h for h, m in enumerate(fleet.members) if m.pv_kwp]
    for h in range(6):
        charged, discharged = year.battery_charged_wh[h], year.battery_discharged_wh[h]
        exported, stored = year.battery_exported_wh[h], year.battery_stored_wh[h]
        if h not in with_battery:
            assert not charged.any()
            assert not discharged.any()
            assert not stored.any()
            continue
        capacity = fleet.members[h].battery_wh
        assert (stored >= 0).all()
        assert (stored <= capacity).all()
        # charged from its own surplus only, never from the grid
        surplus = (year.pv_wh[h] - year.load_wh[h]).clip(min=0)
        assert (charged <= surplus).all()
        assert not (charged.astype(bool) & discharged.astype(bool)).any()
        # what leaves was stored before: the charge in the cells pays for every Wh out
        before = np.concatenate([[0], stored[:-1]])
        assert (discharged <= before).all()
        assert (exported <= discharged).all()
        assert (np.cumsum(discharged) <= np.cumsum(charged)).all()
        # energy in = energy out + still stored + losses (>= 0, at most what efficiency loses)
        losses = int(charged.sum()) - int(discharged.sum()) - int(stored[-1])
        assert 0 <= losses <= 0.12 * int(charged.sum())
        # it is used: a summer's surplus cycles through it
        assert discharged[JUNE].sum() > 30 * 1_000
        # what the grid gets from the battery is what the meter exports outside PV surplus
        selling = exported > 0
        assert selling.any()
        assert np.array_equal(year.export_wh[h][selling], exported[selling])


def test_the_same_seed_gives_the_same_neighbourhood() -> None:
    first = SimulatedFleet(4, seed=9, settings=BATTERIES)
    again = SimulatedFleet(4, seed=9, settings=BATTERIES)
    assert first.members == again.members
    a, b = first.year_flows(YEAR), again.year_flows(YEAR)
    for name in ("load_wh", "pv_wh", "battery_stored_wh", "import_wh", "export_wh"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    other = SimulatedFleet(4, seed=10, settings=BATTERIES)
    assert other.members != first.members
    assert not np.array_equal(other.year_flows(YEAR).load_wh, a.load_wh)
    # a household does not depend on how many neighbours are simulated
    small = SimulatedFleet(2, seed=9, settings=BATTERIES).year_flows(YEAR)
    assert np.array_equal(small.import_wh, a.import_wh[:2])

"""The capacity charge (Flanders): each month billed on its peak, at least 2.5 kW, prorated
by the quarter-hours covered, VAT on top, integers rounded up once; the same on both bills."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.economics.bill import IntervalFlows, member_bill
from api.economics.capacity import capacity_charge, monthly_peaks
from api.economics.errors import TariffError
from api.economics.tariff import TARIFF_DIR, Member, parse_tariff, tariff_of

FLANDERS = tariff_of("flanders", 2026)
TEXT = (TARIFF_DIR / "flanders-2026.toml").read_text(encoding="utf-8")
IMEWO = Member("Imewo", "variable-single", "variable-monthly")


def _quarter_hours(local_start: datetime, count: int, wh: int = 100) -> list[IntervalFlows]:
    first = int(local_start.replace(tzinfo=FLANDERS.zone).astimezone(UTC).timestamp())
    return [IntervalFlows(first + 900 * q, wh, 0) for q in range(count)]


def test_a_june_day_pays_a_thirtieth_of_its_months_charge_on_its_peak() -> None:
    flows = _quarter_hours(datetime(2026, 6, 10), 96)
    flows[70] = IntervalFlows(flows[70].start, 1_500, 0)  # 1.5 kWh in 15 min: 6 kW
    charge = capacity_charge(FLANDERS, IMEWO, flows)
    (june,) = charge.months
    assert (june.month, june.peak_w, june.billed_w) == ("2026-06", 6_000, 6_000)
    assert june.peak_start == flows[70].start
    assert (june.covered_quarter_hours, june.month_quarter_hours) == (96, 30 * 96)
    # 40.4 EUR/kW/year x 6 kW / 12 x 1.06 x 96 / 2880 = 0.71373... EUR, rounded up
    assert charge.units == 713_734


def test_a_month_below_the_minimum_pays_for_2_5_kw_and_summer_time_counts() -> None:
    march = _quarter_hours(datetime(2026, 3, 1), 31 * 96 - 4)  # the spring hour never was
    charge = capacity_charge(FLANDERS, IMEWO, march)
    (month,) = charge.months
    assert (month.peak_w, month.billed_w) == (400, 2_500)
    assert month.covered_quarter_hours == month.month_quarter_hours == 2_972
    # a whole month: 40.4 / 12 x 2.5 kW x 1.06 = 8.921666... EUR
    assert charge.units == 8_921_667
    october = monthly_peaks(FLANDERS, _quarter_hours(datetime(2026, 10, 1), 1))
    assert october[0].month_quarter_hours == 31 * 96 + 4


def test_two_months_each_on_their_own_peak() -> None:
    # 30 April 23:00 local to 1 May 01:00: two local months, whatever the UTC date says
    flows = _quarter_hours(datetime(2026, 4, 30, 23, 0), 8, wh=200)
    flows[7] = IntervalFlows(flows[7].start, 2_000, 0)
    peaks = monthly_peaks(FLANDERS, flows, FLANDERS.capacity_minimum_w)
    assert [(p.month, p.peak_w, p.billed_w, p.covered_quarter_hours) for p in peaks] == [
        ("2026-04", 800, 2_500, 4),
        ("2026-05", 8_000, 8_000, 4),
    ]


def test_the_charge_is_on_both_bills_and_changes_no_saving() -> None:
    flows = _quarter_hours(datetime(2026, 6, 10), 96)
    flows[50] = IntervalFlows(flows[50].start, 900, 0, bought_wh=600)
    with_capacity = member_bill(FLANDERS, IMEWO, flows, change_units=-60_000)
    text = TEXT.replace("capacity_per_kw_year = 40_400_000\n", "")
    without_capacity = member_bill(
        parse_tariff(text, "flanders-2026.toml"), IMEWO, flows, change_units=-60_000
    )
    capacity = capacity_charge(FLANDERS, IMEWO, flows).units
    assert with_capacity.capacity_units == capacity > 0
    assert without_capacity.capacity_units == 0
    assert with_capacity.without_units == without_capacity.without_units + capacity
    assert with_capacity.with_units == without_capacity.with_units + capacity
    assert with_capacity.network_and_taxes_units == (
        without_capacity.network_and_taxes_units + capacity
    )
    assert with_capacity.savings_units == without_capacity.savings_units > 0


def test_a_walloon_member_pays_no_capacity_charge() -> None:
    wallonia = tariff_of("wallonia", 2026)
    member = Member("ORES", "variable-single", "fixed")
    start = int(datetime(2026, 6, 10, tzinfo=UTC).timestamp())
    flows = [IntervalFlows(start + 900 * q, 3_000, 0) for q in range(4)]
    assert capacity_charge(wallonia, member, flows).units == 0
    assert member_bill(wallonia, member, flows, 0).capacity_units == 0


def _refusal(text: str) -> str:
    with pytest.raises(TariffError) as caught:
        parse_tariff(text, "broken.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "capacity_per_kw_year = 40_400_000",
            "capacity_per_kw_year = -1",
            "broken.toml: network.Imewo.capacity_per_kw_year: a negative cost: -1",
        ),
        (
            "capacity_per_kw_year = 40_400_000",
            "capacity_per_kw_year = 40.4",
            "broken.toml: network.Imewo.capacity_per_kw_year: must be an integer, got 40.4",
        ),
        (
            "[capacity]\nminimum_monthly_peak_w = 2_500\n",
            "",
            "broken.toml: capacity: missing (network.Imewo bills a capacity rate)",
        ),
        (
            "minimum_monthly_peak_w = 2_500\n",
            "",
            "broken.toml: capacity.minimum_monthly_peak_w: missing",
        ),
        (
            '"2026-08" = { all = 126_000 }\n',
            "",
            "broken.toml: supply.variable-single.energy_per_kwh: no price for this month (2026-08)",
        ),
    ],
)
def test_a_bad_capacity_component_is_named(old: str, new: str, message: str) -> None:
    assert old in TEXT
    assert _refusal(TEXT.replace(old, new, 1)) == message


def test_a_moment_outside_the_year_names_the_date() -> None:
    after = int(datetime(2027, 1, 1, 12, tzinfo=UTC).timestamp())
    with pytest.raises(
        TariffError, match=r"flanders-2026.toml: .*no price for this month \(2027-01-01\)"
    ):
        member_bill(FLANDERS, IMEWO, [IntervalFlows(after, 100, 0)], 0)

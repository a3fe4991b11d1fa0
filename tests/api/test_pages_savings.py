"""The household page's saving against being alone (issue 16): the member's contract from the
community file, its bills derived here again from the tariff's prices (exact fractions, each
bill rounded up once), and the reasons no figure is shown."""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction
from pathlib import Path

from api.economics.tariff import Member, tariff_of
from api.pages.i18n import Formats
from api.pages.replay import HouseholdQuarter
from api.pages.savings import NO_CONTRACT, NO_FILE, NO_TARIFF, bill_of, member_contract, savings
from ledger.community_config.example import EXAMPLE_ADDRESSES, example_toml
from ledger.rules import TimeGrid

GRID = TimeGrid(interval_seconds=900, period_intervals=96)
#: 2026-06-21, 12:00 UTC (14:00 in Brussels): interval ids on a grid from the epoch.
NOON = 1_782_043_200
ALICE = EXAMPLE_ADDRESSES[0]


def _quarter(start: int, **values: int) -> HouseholdQuarter:
    return HouseholdQuarter(
        interval_id=start // 900,
        import_wh=values.get("import_wh", 0),
        export_wh=values.get("export_wh", 0),
        from_neighbours_wh=values.get("from_neighbours_wh", 0),
        to_neighbours_wh=values.get("to_neighbours_wh", 0),
        money_milli=values.get("money_milli", 0),
        side="buy",
        limit_per_kwh=0,
        price_per_kwh=0,
    )


def _community_file(tmp_path: Path) -> Path:
    path = tmp_path / "community.toml"
    path.write_text(example_toml(), encoding="utf-8")
    return path


def test_the_contract_comes_from_the_community_file(tmp_path: Path) -> None:
    path = _community_file(tmp_path)
    assert member_contract(path, ALICE.lower()) == (
        "wallonia",
        Member("ORES", "variable-single", "variable-monthly"),
    )
    assert member_contract(path, "0x" + "12" * 20) == NO_CONTRACT
    assert member_contract(None, ALICE) == NO_FILE
    assert member_contract(tmp_path / "missing.toml", ALICE) == NO_FILE


def _expected(
    member: Member, flows: list[tuple[int, int, int, int, int]], change: int
) -> tuple[int, int]:
    """(alone, with) from the tariff's prices: the energy price is the only one a kWh from a
    neighbour displaces; network, taxes and VAT stay on every kWh taken from the grid."""
    tariff = tariff_of("wallonia", 2026)
    alone = shared = Fraction(0)
    for start, offtake, injection, bought, sold in flows:
        p = tariff.prices(member, start)
        vat = Fraction(100 + p.vat_percent, 100)
        kwh = Fraction(1, 1000)
        grid_costs = p.network_per_kwh + p.taxes_per_kwh
        alone += offtake * kwh * (p.energy_per_kwh + grid_costs) * vat
        alone -= injection * kwh * p.injection_per_kwh
        shared += (offtake - bought) * kwh * p.energy_per_kwh * vat
        shared += offtake * kwh * grid_costs * vat
        shared -= (injection - sold) * kwh * p.injection_per_kwh
    shared -= change
    return math.ceil(alone), math.ceil(shared)


def test_the_bills_with_and_without_the_community() -> None:
    member = Member("ORES", "variable-single", "variable-monthly")
    quarters = [
        _quarter(NOON, import_wh=800, from_neighbours_wh=500, money_milli=-62_500_000),
        _quarter(NOON + 900, export_wh=900, to_neighbours_wh=300, money_milli=37_500_123),
        _quarter(NOON + 1800, import_wh=120),
    ]
    bill = bill_of(tariff_of("wallonia", 2026), member, GRID, quarters)
    assert bill is not None
    # The change: -62,500 + 37,500.123 units, floored to whole units.
    alone, shared = _expected(
        member,
        [(NOON, 800, 0, 500, 0), (NOON + 900, 0, 900, 0, 300), (NOON + 1800, 120, 0, 0, 0)],
        -25_000,
    )
    assert (bill.without_units, bill.with_units) == (alone, shared)
    assert bill.savings_units == alone - shared > 0
    assert Formats("fr").euros(bill.savings_units).endswith("\u00a0€")
    assert "," in Formats("fr").euros(bill.savings_units)


def test_a_shared_kwh_displaces_only_the_energy_price() -> None:
    member = Member("ORES", "variable-single", "variable-monthly")
    tariff = tariff_of("wallonia", 2026)
    prices = tariff.prices(member, NOON)
    bought = bill_of(
        tariff, member, GRID, [_quarter(NOON, import_wh=1000, from_neighbours_wh=1000)]
    )
    assert bought is not None
    # Nothing paid to the neighbour here: the saving is one kWh of energy with its VAT.
    energy = Fraction(prices.energy_per_kwh * (100 + prices.vat_percent), 100)
    assert bought.savings_units in (math.floor(energy), math.ceil(energy))
    assert bought.network_and_taxes_units == bought.with_units


def test_live_quarters_are_not_billed_and_no_tariff_says_so(tmp_path: Path) -> None:
    live = HouseholdQuarter(NOON // 900, 500, 0, 0, 0, 0, "none", 0, 0, settled=False)
    member = Member("ORES", "variable-single", "variable-monthly")
    assert bill_of(tariff_of("wallonia", 2026), member, GRID, [live]) is None
    path = _community_file(tmp_path)
    found = savings(path, ALICE, GRID, date(2026, 6, 21), [live], [])
    assert (found.day, found.month, found.missing) == (None, None, None)
    assert savings(path, ALICE, GRID, date(2031, 6, 21), [], []).missing == NO_TARIFF
    assert savings(None, ALICE, GRID, date(2026, 6, 21), [], []).missing == NO_FILE

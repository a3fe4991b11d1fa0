"""The community's open data never carries a household's own figure (issue 16).

A made-up community of four households over one period, settled by `api.settlement` (the
rule the chain runs), with figures chosen so that each household's own numbers are unique:
one interval has a single producer (its export, and the energy it alone shared, must be
withheld), another three producers and a single consumer. Every number published, in CSV
and JSON, per quarter-hour and per month, is checked against every per-household figure.
"""

from __future__ import annotations

import csv
import io
import json

from api import settlement
from api.pages import open_data
from api.pages.replay import replay_settlement
from ledger.deploy_v2 import DEFAULT_RULES
from ledger.entries import Entry, EntrySide, encode_entries
from ledger.rules import TimeGrid

GRID = TimeGrid()
PERIOD = 20625  # 2026-06-21 (UTC)
ADDRESSES = [
    "0x1000000000000000000000000000000000000001",
    "0x2000000000000000000000000000000000000002",
    "0x3000000000000000000000000000000000000003",
    "0x4000000000000000000000000000000000000004",
]
SOLO, TRIO = 40, 41  # interval indexes in the period
NONE = Entry(EntrySide.NONE, 0, 0)


def _household(n: int) -> settlement.HouseholdInput:
    entries = [NONE] * 96
    deltas = [(0, 0)] * 96
    if n == 0:  # the only producer at SOLO: sells all of its 1,237 Wh
        entries[SOLO] = Entry(EntrySide.SELL, 1237, 60_000)
        deltas[SOLO] = (0, 1237)
    else:  # three buyers at SOLO with their own imports
        imports = {1: 411, 2: 523, 3: 689}[n]
        entries[SOLO] = Entry(EntrySide.BUY, imports, 300_000)
        deltas[SOLO] = (imports, 0)
    if n < 3:  # TRIO: three producers, the fourth household the only consumer
        deltas[TRIO] = (0, (1009, 2017, 3023)[n])
    else:
        deltas[TRIO] = (777, 0)
    first = GRID.first_interval(PERIOD)
    return settlement.HouseholdInput(
        ADDRESSES[n],
        settlement.Window(0),
        [settlement.Posting(1, first, encode_entries(entries))],
        [settlement.MeterInput(settlement.Window(0), settlement.encode_deltas(deltas))],
    )


def _published() -> tuple[list[str], list[object], dict[str, object]]:
    replayed = replay_settlement(
        settlement.Rules.of(DEFAULT_RULES),
        settlement.TimeGrid.of(GRID),
        PERIOD,
        [_household(n) for n in range(4)],
    )
    quarters = open_data.open_quarters(GRID, [replayed])
    months = open_data.open_months(quarters)
    texts = [
        open_data.as_csv(quarters, open_data.QUARTER_FIELDS),
        open_data.as_csv(months, open_data.MONTH_FIELDS),
        json.dumps(open_data.as_json(quarters)),
        json.dumps(open_data.as_json(months)),
    ]
    values: list[object] = []
    for text in texts[:2]:
        for row in csv.DictReader(io.StringIO(text)):
            values.extend(row.values())
    for text in texts[2:]:
        for row in json.loads(text)["rows"]:
            values.extend(row.values())
    return texts, values, {"replayed": replayed, "quarters": quarters, "months": months}


def _own_figures(replayed: object) -> set[int]:
    figures: set[int] = set()
    for quarters in replayed.households.values():  # type: ignore[attr-defined]
        for q in quarters:
            for wh in (q.import_wh, q.export_wh, q.from_neighbours_wh, q.to_neighbours_wh):
                if wh:
                    figures.add(wh)
            if q.money_milli:
                figures.add(abs(q.money_milli))
                figures.add(abs(q.money_milli) // 1000)
    return figures


def test_no_household_figure_or_address_is_published() -> None:
    texts, values, facts = _published()
    own = _own_figures(facts["replayed"])
    assert {1237, 411, 523, 689, 1009, 2017, 3023, 777} <= own
    published = {int(str(v)) for v in values if str(v).isdigit()}
    assert not own & published, own & published
    for text in texts:
        for address in ADDRESSES:
            assert address.lower() not in text.lower()


def test_sums_over_enough_households_are_published_and_the_rest_withheld() -> None:
    _texts, _values, facts = _published()
    quarters = facts["quarters"]
    solo, trio = quarters[SOLO], quarters[TRIO]  # type: ignore[index]
    # SOLO: one producer (withheld), three consumers (published), one seller (withheld).
    assert solo.production_wh is None
    assert solo.consumption_wh == 411 + 523 + 689
    assert solo.shared_wh is None
    assert solo.clearing_price_per_kwh > 0  # public on chain (PeriodCleared) anyway
    # TRIO: three producers (published), one consumer (withheld).
    assert trio.production_wh == 1009 + 2017 + 3023
    assert trio.consumption_wh is None
    # The month adds up published quarter-hours only: no difference rebuilds a withheld one.
    (month,) = facts["months"]  # type: ignore[misc]
    assert month.month == "2026-06"
    assert month.production_wh == 1009 + 2017 + 3023
    assert month.consumption_wh == 411 + 523 + 689
    assert month.shared_wh == 0


def test_the_json_states_its_licence_and_rule() -> None:
    texts, _values, _facts = _published()
    document = json.loads(texts[2])
    assert document["licence"] == "CC-BY-4.0"
    assert document["licence_url"].startswith("https://creativecommons.org/licenses/by/4.0")
    assert str(open_data.MIN_HOUSEHOLDS) in document["anonymisation"]
    assert len(document["rows"]) == 96

"""Who shared with whom: the pro rata split of a pooled interval adds up to what the
settlement delivered and paid, per seller and per buyer."""

from __future__ import annotations

from fractions import Fraction

from api import settlement as engine
from api.statements.sharing import interval_pairs
from ledger.deploy_v2 import DEFAULT_RULES

GRID = engine.TimeGrid(900, 4)
PERIOD = 1_000
ADDRESSES = [f"0x{n:040x}" for n in (0xA1, 0xA2, 0xB1, 0xB2)]


def _household(
    address: str, entry: engine.Entry, imported: int, exported: int
) -> engine.HouseholdInput:
    first = GRID.first_interval(PERIOD)
    entries = engine.encode_entries([entry, engine.NO_ENTRY, engine.NO_ENTRY, engine.NO_ENTRY])
    deltas = engine.encode_deltas([(imported, exported), (0, 0), (0, 0), (0, 0)])
    return engine.HouseholdInput(
        address,
        engine.Window(0),
        [engine.Posting(1, first, entries)],
        [engine.MeterInput(engine.Window(0), deltas)],
    )


def test_pairs_split_each_buyers_energy_and_payment_over_the_sellers_pro_rata() -> None:
    sell, buy = engine.Side.SELL, engine.Side.BUY
    households = [
        _household(ADDRESSES[0], engine.Entry(sell, 700, 60_000), 0, 600),  # delivers 600
        _household(ADDRESSES[1], engine.Entry(sell, 300, 80_000), 0, 300),
        _household(ADDRESSES[2], engine.Entry(buy, 500, 300_000), 500, 0),
        _household(ADDRESSES[3], engine.Entry(buy, 700, 250_000), 650, 0),
    ]
    period = engine.settle_period(engine.Rules.of(DEFAULT_RULES), GRID, PERIOD, households)
    interval = period.intervals[0]
    addresses = tuple(h.address for h in period.households)
    pairs = interval_pairs(interval, addresses)
    assert interval.netting.delivered_total_wh > 0
    assert len(pairs) == 4
    delivered = dict(zip(addresses, interval.netting.delivered_wh, strict=True))
    money = dict(zip(addresses, interval.netting.money_milli, strict=True))
    for seller in ADDRESSES[:2]:
        assert sum(p.energy_wh for p in pairs if p.seller == seller) == delivered[seller]
    for buyer in ADDRESSES[2:]:
        assert sum(p.energy_wh for p in pairs if p.buyer == buyer) == delivered[buyer]
        assert sum(p.paid_milli for p in pairs if p.buyer == buyer) == -money[buyer]
    # Pay-as-clear: what a seller is paid through its pairs is what settlement credits it.
    for seller in ADDRESSES[:2]:
        assert sum(p.paid_milli for p in pairs if p.seller == seller) == Fraction(money[seller])

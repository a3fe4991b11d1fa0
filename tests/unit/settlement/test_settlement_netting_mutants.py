"""api.settlement.netting: a household's meters add up (a meter without data measures 0 Wh and
does not stop the sum), a household without entry measures nothing, and a single delivered Wh is
paid. Written for scripts/mutation's survivors (issue 17); the figures are worked out in the
comments.
"""

from __future__ import annotations

from dataclasses import replace

from api.settlement import Mechanism, Rules
from api.settlement.book import Book
from api.settlement.clearing import clear_interval
from api.settlement.codec import encode_deltas
from api.settlement.model import MeterInput, TimeGrid, Window
from api.settlement.netting import metered_of_period, net_interval

RULES = Rules(
    mechanism=Mechanism.PAY_AS_CLEAR,
    gate_lead_seconds=300,
    settlement_deadline_seconds=3600,
    min_entry_wh=1,
    price_floor_per_kwh=10,
    price_ceiling_per_kwh=100,
    community_price_per_kwh=50,
)
SELL, BUY = 1, 2
GRID = TimeGrid(900, 4)
PERIOD = 10
A = encode_deltas([(1, 2), (3, 4), (5, 6), (7, 8)])
B = encode_deltas([(10, 20), (30, 40), (50, 60), (70, 80)])


def test_a_meter_without_data_measures_zero_and_the_next_meter_still_counts() -> None:
    meters = [MeterInput(Window(0), None), MeterInput(Window(0), A)]
    assert metered_of_period(meters, GRID, PERIOD) == ([1, 3, 5, 7], [2, 4, 6, 8])


def test_every_counting_meter_of_a_household_adds_up() -> None:
    # B is admitted at the start of the period's third interval: it counts for the last two.
    third = GRID.interval_start(GRID.first_interval(PERIOD) + 2)
    meters = [MeterInput(Window(0), A), MeterInput(Window(third), B)]
    assert metered_of_period(meters, GRID, PERIOD) == ([1, 3, 55, 77], [2, 4, 66, 88])
    both = [MeterInput(Window(0), A), MeterInput(Window(0), B)]
    assert metered_of_period(both, GRID, PERIOD) == ([11, 33, 55, 77], [22, 44, 66, 88])


def test_a_household_without_entry_measures_nothing() -> None:
    book = Book(3, (SELL, 0, BUY), (100, 0, 100), (20, 0, 90))
    netting = net_interval(book, clear_interval(RULES, book), [0, 500, 100], [100, 500, 0])
    assert netting.metered_wh == (100, 0, 100)
    assert netting.delivered_wh == (100, 0, 100)


def test_a_single_delivered_wh_is_paid() -> None:
    # 1 Wh from an ask at 20 to a bid at 90: PayAsClear p = (20 + 90) // 2 = 55 milli-units;
    # PayAsBid: the buyer pays its bid', 90, all to the one seller.
    book = Book(3, (SELL, BUY), (1, 1), (20, 90))
    clear = net_interval(book, clear_interval(RULES, book), [0, 1], [1, 0])
    assert (clear.delivered_total_wh, clear.money_milli) == (1, (55, -55))
    bid_rules = replace(RULES, mechanism=Mechanism.PAY_AS_BID)
    bid = net_interval(book, clear_interval(bid_rules, book), [0, 1], [1, 0])
    assert bid.money_milli == (90, -90)

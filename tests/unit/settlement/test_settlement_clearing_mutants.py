"""api.settlement.clearing: the walk moves on past every exhausted entry, on both sides
(three sells filled in turn by one bid, three bids by one ask). Written for scripts/mutation's
survivors (issue 17); the traded figures are worked out in the comments.
"""

from __future__ import annotations

from api.settlement import Mechanism, Rules
from api.settlement.book import Book
from api.settlement.clearing import clear_interval

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


def test_one_bid_takes_three_asks_in_turn() -> None:
    # Asks 100 Wh at 20, 30, 40; one bid of 300 Wh at 90: every ask is filled whole.
    book = Book(7, (SELL, SELL, SELL, BUY), (100, 100, 100, 300), (20, 30, 40, 90))
    clearing = clear_interval(RULES, book)
    assert clearing.traded_wh == (100, 100, 100, 300)
    assert clearing.interval_id == 7


def test_one_ask_serves_three_bids_in_turn() -> None:
    # One ask of 300 Wh at 20; bids 100 Wh at 90, 80, 70: every bid is filled whole.
    book = Book(7, (BUY, BUY, BUY, SELL), (100, 100, 100, 300), (90, 80, 70, 20))
    clearing = clear_interval(RULES, book)
    assert clearing.traded_wh == (100, 100, 100, 300)

"""api.settlement.clearing: the walk moves on past every exhausted entry, on both sides
(three sells filled in turn by one bid, three bids by one ask). Written for scripts/mutation's
survivors (issue 17); the traded figures are worked out in the comments.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.settlement import Mechanism, Rules
from api.settlement.book import Book
from api.settlement.clearing import Clearing, claim_of, clear_interval, hints_for

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


def test_an_entry_less_household_has_limit_zero_and_trades_nothing() -> None:
    # h=1 has no entry: its limit is documented as 0 (not the floor, not 1).
    book = Book(3, (SELL, 0, BUY), (100, 0, 100), (20, 0, 90))
    clearing = clear_interval(RULES, book)
    assert clearing.limits_per_kwh == (20, 0, 90)
    assert clearing.traded_wh == (100, 0, 100)


def test_a_book_whose_prices_do_not_cover_every_household_is_refused() -> None:
    # A malformed book (one price short) must not clear as if the last household had no
    # limit: the clamp zips sides and prices strictly.
    book = Book(3, (SELL, BUY), (100, 100), (20,))
    with pytest.raises(ValueError, match="zip"):
        clear_interval(RULES, book)


def test_community_price_clearing_names_its_interval_and_needs_no_rankings() -> None:
    rules = replace(RULES, mechanism=Mechanism.COMMUNITY_PRICE)
    # c = 50: the ask at 40 and the bid at 60 accept it; the ask at 70 and the bid at 30 do not.
    book = Book(11, (SELL, SELL, BUY, BUY), (100, 50, 80, 40), (40, 70, 60, 30))
    clearing = clear_interval(rules, book)
    assert clearing == Clearing(
        11, Mechanism.COMMUNITY_PRICE, (), (), (40, 70, 60, 30), (100, 0, 80, 0), 80, None, None, 50
    )
    assert hints_for(rules, [book]) == b""


def test_nothing_matches_when_the_best_ask_is_above_the_best_bid() -> None:
    # Ask' 60 > bid' 50: no trade, no marginal pair, no claim, price 0 under PayAsClear.
    book = Book(5, (BUY, SELL), (100, 100), (50, 60))
    clearing = clear_interval(RULES, book)
    assert clearing == Clearing(
        5, Mechanism.PAY_AS_CLEAR, (1,), (0,), (50, 60), (0, 0), 0, None, None, 0
    )
    assert claim_of(clearing) is None


def test_a_claim_needs_both_marginal_limits() -> None:
    matched = clear_interval(RULES, Book(5, (SELL, BUY), (100, 100), (20, 90)))
    assert claim_of(matched) == (20, 90)
    assert claim_of(replace(matched, marginal_bid_per_kwh=None)) is None
    assert claim_of(replace(matched, marginal_ask_per_kwh=None)) is None


#: The uint16 household cap's upper half: a rotation rank >= 2^15 fills the rank field's top
#: bit, so a key whose fields overlap by one bit would misorder (the hints carry uint16 indices).
BIG = 40_000


def _big_book(entries: dict[int, tuple[int, int, int]]) -> Book:
    sides, energies, prices = [0] * BIG, [0] * BIG, [0] * BIG
    for h, (side, energy, price) in entries.items():
        sides[h], energies[h], prices[h] = side, energy, price
    return Book(0, tuple(sides), tuple(energies), tuple(prices))


def test_the_cheapest_ask_goes_first_in_a_community_at_the_household_cap() -> None:
    # k = 0, so rank = h. The ask at 20 (h = 2^15 + 5) beats the ask at 21 (h = 1); the one
    # bid of 100 Wh takes the ask at 20 only.
    cheap, dear, buyer = 2**15 + 5, 1, 2
    book = _big_book({cheap: (SELL, 100, 20), dear: (SELL, 100, 21), buyer: (BUY, 100, 90)})
    clearing = clear_interval(RULES, book)
    assert clearing.sell_ranking == (cheap, dear)
    assert (clearing.traded_wh[cheap], clearing.traded_wh[dear]) == (100, 0)
    assert (clearing.marginal_ask_per_kwh, clearing.price_per_kwh) == (20, 55)


def test_the_highest_bid_goes_first_in_a_community_at_the_household_cap() -> None:
    # The bid at 81 (h = 2^15 + 5) beats the bid at 80 (h = 1); one ask of 100 Wh fills it.
    high, low, seller = 2**15 + 5, 1, 2
    book = _big_book({high: (BUY, 100, 81), low: (BUY, 100, 80), seller: (SELL, 100, 20)})
    clearing = clear_interval(RULES, book)
    assert clearing.buy_ranking == (high, low)
    assert (clearing.traded_wh[high], clearing.traded_wh[low]) == (100, 0)
    assert clearing.marginal_bid_per_kwh == 81

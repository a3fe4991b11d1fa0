"""The audit's pure rules and per-interval checks on hand-built records (no chain).

The examples are the contract's own (tests/forge settlement cases and test_market's round
trip); the properties hold for any book and any readings.
"""

from __future__ import annotations

from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from ledger.audit.checks import Readings, check_settlement
from ledger.audit.model import BookOrder, ClearedTrade
from ledger.audit.rules import average_price_per_kwh, reclear, same_trades, settle
from ledger.audit.source import SettleRecord
from ledger.events import EscrowReleased, IntervalSettled, TradeSettled
from ledger.meter_chain import ChainValues, MeterProof
from ledger.orders import Order, Side, Trade

SELLER, BUYER_B, BUYER_C = (Account.create().address for _ in range(3))
K = 2_000_000
ORDERS = (
    Order(SELLER, Side.SELL, K, 1_000, 100, 1),
    Order(BUYER_B, Side.BUY, K, 600, 150, 1),
    Order(BUYER_C, Side.BUY, K, 400, 150, 1),
)
TRADES = (Trade(0, 1, 600, 123), Trade(0, 2, 400, 123))
METERS = {SELLER: b"\x01" * 32, BUYER_B: b"\x02" * 32, BUYER_C: b"\x03" * 32}


def test_pro_rata_rule_matches_the_contract_example() -> None:
    # test_market: seller exports 700 of 1000 Wh sold, B imports 300 of 600 Wh bought.
    settled = settle(ORDERS, TRADES, {SELLER: 700}, {BUYER_B: 300, BUYER_C: 400})
    assert [(s.delivered_wh, s.payment_units) for s in settled] == [(300, 36), (280, 34)]


@given(
    energies=st.lists(st.integers(1, 5_000), min_size=1, max_size=6),
    exported=st.integers(0, 40_000),
    imported=st.lists(st.integers(0, 10_000), min_size=6, max_size=6),
    price=st.integers(0, 1_000),
)
def test_delivery_never_exceeds_traded_exported_or_imported(
    energies: list[int], exported: int, imported: list[int], price: int
) -> None:
    buyers = [Account.create().address for _ in energies]
    orders = [Order(SELLER, Side.SELL, K, sum(energies), 0, 1)] + [
        Order(b, Side.BUY, K, e, price, 1) for b, e in zip(buyers, energies, strict=True)
    ]
    trades = [Trade(0, i + 1, e, price) for i, e in enumerate(energies)]
    imports = dict(zip(buyers, imported, strict=False))
    settled = settle(orders, trades, {SELLER: exported}, imports)
    assert sum(s.delivered_wh for s in settled) <= min(exported, sum(energies))
    for trade, s, buyer in zip(trades, settled, buyers, strict=True):
        assert s.delivered_wh <= min(trade.energy_wh, imports[buyer])
        assert s.payment_units * 1000 <= s.delivered_wh * price < (s.payment_units + 1) * 1000


def test_reclear_maps_engine_ids_to_committed_indices() -> None:
    book = [BookOrder("0xa", SELLER, 0, 10, 1), BookOrder("0xb", BUYER_B, 1, 10, 5)]
    trades, _ = reclear(lambda _book: [ClearedTrade("0xa", "0xb", 10, 3)], book)
    assert trades == [Trade(0, 1, 10, 3)]
    unknown, raw = reclear(lambda _book: [ClearedTrade("0xa", "0xz", 10, 3)], book)
    assert unknown is None
    assert raw == [ClearedTrade("0xa", "0xz", 10, 3)]
    assert same_trades(
        [Trade(0, 1, 5, 3), Trade(0, 2, 5, 3)], [Trade(0, 2, 5, 3), Trade(0, 1, 5, 3)]
    )
    assert not same_trades([Trade(0, 1, 5, 3)], [Trade(0, 1, 5, 4)])
    assert average_price_per_kwh([Trade(0, 1, 1, 100), Trade(0, 2, 2, 151)]) == 134
    assert average_price_per_kwh([]) is None


def _readings(export_seller_k: int) -> Readings:
    readings = Readings()
    for meter in METERS.values():
        readings.values[(meter, K - 1)] = ChainValues(K - 1, 50_000, 20_000, 1)
    readings.values[(METERS[SELLER], K)] = ChainValues(K, 50_000, export_seller_k, 2)
    readings.values[(METERS[BUYER_B], K)] = ChainValues(K, 50_300, 20_000, 2)
    readings.values[(METERS[BUYER_C], K)] = ChainValues(K, 50_400, 20_000, 2)
    return readings


def _settlement(
    delivered: tuple[int, int], paid: tuple[int, int], proven: Readings | None = None
) -> SettleRecord:
    proven = proven or _readings(20_700)
    proofs = tuple(
        (
            MeterProof(
                METERS[h],
                b"\x00" * 32,
                (proven.values[(METERS[h], K - 1)], proven.values[(METERS[h], K)]),
            ),
        )
        for h in (SELLER, BUYER_B, BUYER_C)
    )
    return SettleRecord(
        K,
        10,
        ORDERS,
        TRADES,
        proofs,
        IntervalSettled(K, sum(delivered), sum(paid)),
        (
            TradeSettled(K, SELLER, BUYER_B, delivered[0], paid[0]),
            TradeSettled(K, SELLER, BUYER_C, delivered[1], paid[1]),
        ),
        (EscrowReleased(K, BUYER_B, 74 - paid[0]), EscrowReleased(K, BUYER_C, 50 - paid[1])),
    )


def test_settlement_matching_the_readings_has_no_problem() -> None:
    problems, delivered = check_settlement(
        _settlement((300, 280), (36, 34)), None, _readings(20_700), {}
    )
    assert delivered == [300, 280]
    # Only that this record's commit was not read (there is no chain here).
    assert [p.kind for p in problems] == ["commit_not_in_range"]


def test_proof_that_differs_from_the_signed_readings_is_named() -> None:
    settlement = _settlement((300, 280), (36, 34), _readings(20_650))
    problems, _ = check_settlement(settlement, None, _readings(20_700), {})
    assert [p.kind for p in problems] == ["commit_not_in_range", "proof_mismatch"]


def test_settlement_with_wrong_amounts_is_named() -> None:
    problems, _ = check_settlement(_settlement((300, 280), (40, 34)), None, _readings(20_700), {})
    kinds = {p.kind for p in problems}
    assert {"payment_mismatch", "settlement_total_mismatch", "release_mismatch"} <= kinds
    assert "delivery_mismatch" not in kinds
    # A seller that exported more would have delivered more: the settled 280 Wh is then wrong.
    problems, delivered = check_settlement(
        _settlement((300, 280), (36, 34)), None, _readings(21_000), {}
    )
    assert delivered == [300, 400]
    assert "delivery_mismatch" in {p.kind for p in problems}


def test_missing_boundary_reading_is_named() -> None:
    readings = _readings(20_700)
    del readings.values[(METERS[BUYER_C], K)]
    problems, _ = check_settlement(_settlement((300, 280), (36, 34)), None, readings, {})
    missing = [p for p in problems if p.kind == "missing_boundary_reading"]
    assert len(missing) == 1
    assert BUYER_C in missing[0].detail
    assert f"interval {K}" in missing[0].detail


def test_meter_of_another_household_is_named() -> None:
    owners = {METERS[SELLER]: BUYER_B}
    problems, _ = check_settlement(
        _settlement((300, 280), (36, 34)), None, _readings(20_700), owners
    )
    assert "meter_mismatch" in {p.kind for p in problems}

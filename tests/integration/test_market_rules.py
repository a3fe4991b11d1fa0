"""The Python mirrors of the market's rules: hashes checked against the deployed contract,
rounding and sorting checked as properties."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from ledger.chain import Sender
from ledger.deployment import Deployment
from ledger.market import MarketClient
from ledger.meter_chain import ChainValues, MeterChain, ReadingChainError, chain_link
from ledger.orders import (
    Order,
    OrderFormatError,
    Side,
    SignedOrder,
    Trade,
    lock_units,
    order_struct_hash,
    payment_units,
    sign_order,
    sort_for_commit,
)

UINT64 = st.integers(min_value=0, max_value=2**64 - 1)


@pytest.mark.integration
def test_hashes_match_the_contract(manager: Sender, community: Deployment) -> None:
    market = MarketClient(manager, community.address("QuartierMarket"), community.deploy_block)
    order = Order(Account.create().address, Side.BUY, 2_000_123, 750, 142, 2**64 - 1)
    assert bytes(market.contract.functions.orderStructHash(order.as_abi()).call()) == (
        order_struct_hash(order)
    )
    values = ChainValues(2_000_123, 2**64 - 1, 12, 3)
    head = bytes(range(32))
    on_chain = market.contract.functions.chainLink(head, values.as_abi()).call()
    assert bytes(on_chain) == chain_link(head, values)


@given(
    fills=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**6),  # traded Wh
            st.integers(min_value=0, max_value=10**6),  # price per kWh
            st.integers(min_value=0, max_value=10**6),  # delivered Wh (capped below)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_lock_always_covers_the_payments(fills: list[tuple[int, int, int]]) -> None:
    lock = lock_units([(energy_wh, price) for energy_wh, price, _ in fills])
    paid = sum(payment_units(min(d, e), price) for e, price, d in fills)
    exact_milli_units = sum(e * price for e, price, _ in fills)
    assert paid <= lock
    assert exact_milli_units <= lock * 1000 < exact_milli_units + 1000


def test_payment_rounds_down_and_lock_rounds_up() -> None:
    assert payment_units(799, 123) == 98  # 98.277
    assert lock_units([(799, 123)]) == 99
    assert lock_units([(1, 1), (1, 1)]) == 1  # ceil of the sum, not the sum of ceilings


@given(
    keys=st.lists(st.tuples(st.integers(0, 3), UINT64), min_size=2, max_size=6, unique=True),
    data=st.data(),
)
def test_sort_for_commit_keeps_each_trade_on_its_orders(
    keys: list[tuple[int, int]], data: st.DataObject
) -> None:
    households = ["0x" + f"{n + 1:040x}" for n in range(4)]
    orders = [
        sign_order_stub(Order(households[h], Side(i % 2), 1, 10, 10, nonce))
        for i, (h, nonce) in enumerate(keys)
    ]
    indices = st.integers(0, len(orders) - 1)
    trades = data.draw(st.lists(st.builds(Trade, indices, indices, UINT64, UINT64), max_size=5))
    sorted_orders, sorted_trades = sort_for_commit(orders, trades)
    commit_keys = [signed.order.commit_key for signed in sorted_orders]
    assert commit_keys == sorted(commit_keys)
    for before, after in zip(trades, sorted_trades, strict=True):
        assert sorted_orders[after.sell_order_index] == orders[before.sell_order_index]
        assert sorted_orders[after.buy_order_index] == orders[before.buy_order_index]


def sign_order_stub(order: Order) -> SignedOrder:
    """A SignedOrder with a placeholder signature: sorting never looks at it."""
    return SignedOrder(order, 27, 1, 1)


def test_bad_orders_are_refused_before_any_chain_call() -> None:
    with pytest.raises(OrderFormatError, match="energy_wh"):
        Order(Account.create().address, Side.SELL, 1, -1, 10, 0)
    with pytest.raises(OrderFormatError, match="household"):
        Order("not an address", Side.SELL, 1, 1, 10, 0)
    other = Account.create()
    order = Order(Account.create().address, Side.SELL, 1, 1, 10, 0)
    with pytest.raises(OrderFormatError, match="cannot sign"):
        sign_order(other.key, order, 31337, "0x" + "11" * 20)


def test_a_chain_proves_only_consecutive_boundaries() -> None:
    chain = MeterChain(bytes(32))
    for interval_id in (10, 11, 13, 14):
        chain.append(ChainValues(interval_id, interval_id * 100, 0, interval_id))
    proof = chain.proof(11)
    assert [values.interval_id for values in proof.readings] == [10, 11, 13, 14]
    assert proof.link == bytes(32)
    assert chain.proof(14).link == chain.links[2]
    with pytest.raises(ReadingChainError):
        chain.proof(13)  # R(12) was never accepted

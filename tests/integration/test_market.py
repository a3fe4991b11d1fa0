"""The market on a real Anvil node through ledger/: Python-signed orders, commit, settle.

These tests move the chain's clock (gate closure, readings after their interval), so they
run on their own Anvil node rather than the session one other tests share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deploy import deploy_community
from ledger.deployment import Deployment
from ledger.errors import revert_class
from ledger.market import MarketClient
from ledger.meter_chain import ReadingChainError
from ledger.orders import Order, Side, SignedOrder, Trade, order_digest, sign_order
from ledger.registry import RegistryClient
from ledger.token import TokenClient
from metering.reading import PublicKey, Reading, sign_reading

pytestmark = pytest.mark.integration

FUNDS_UNITS = 10_000


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as running:
        yield running


@dataclass
class Household:
    account: LocalAccount
    market: MarketClient
    token: TokenClient
    meter_key: ec.EllipticCurvePrivateKey
    meter_id: bytes

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class Community:
    """A fresh deployment with helpers to add funded households and move the clock."""

    manager: Sender
    deployment: Deployment
    meter_seq: dict[bytes, int] = field(default_factory=dict)

    @property
    def w3(self):  # type: ignore[no-untyped-def]
        return self.manager.w3

    @property
    def market_address(self) -> str:
        return self.deployment.address("QuartierMarket")

    def household(self, funds_units: int = FUNDS_UNITS) -> Household:
        account = Account.create()
        self.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**18)])
        registry = RegistryClient(self.manager, self.deployment.address("CommunityRegistry"))
        registry.admit_household(account.address)
        meter_key = ec.generate_private_key(ec.SECP256R1())
        public = PublicKey.from_cryptography(meter_key.public_key())
        meter_id = registry.admit_meter(account.address, public.x, public.y)
        sender = Sender(self.w3, account)
        household = Household(
            account,
            MarketClient(sender, self.market_address, self.deployment.deploy_block),
            TokenClient(sender, self.deployment.address("QuartierToken")),
            meter_key,
            meter_id,
        )
        if funds_units:
            TokenClient(self.manager, household.token.address).mint(account.address, funds_units)
            household.token.approve(self.market_address, funds_units)
            household.market.deposit(funds_units)
        return household

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def warp(self, unix_seconds: int) -> None:
        if unix_seconds > self.now():
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [unix_seconds])
            self.w3.provider.make_request("evm_mine", [])

    def read(self, household: Household, interval_id: int, import_wh: int, export_wh: int) -> None:
        """The household's meter signs (P-256, in Python) and a relayer submits a reading."""
        seq = self.meter_seq.get(household.meter_id, 0) + 1
        self.meter_seq[household.meter_id] = seq
        reading = Reading(household.meter_id, interval_id, import_wh, export_wh, seq)
        signed = sign_reading(
            household.meter_key, reading, self.w3.eth.chain_id, self.market_address
        )
        relayer = MarketClient(self.manager, self.market_address, self.deployment.deploy_block)
        relayer.submit_readings([signed])


@pytest.fixture
def community(node: AnvilNode) -> Community:
    w3 = connect(node.url)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    return Community(manager, deploy_community(manager))


def _open_interval(community: Community) -> int:
    """An interval whose book just closed: the clock is moved to its start."""
    interval_id = community.now() // 900 + 1
    community.warp(interval_id * 900)
    return interval_id


def _signed(household: Household, order: Order, community: Community) -> SignedOrder:
    return sign_order(
        household.account.key, order, community.w3.eth.chain_id, community.market_address
    )


def test_deployment_has_token_and_market(community: Community) -> None:
    token = TokenClient(community.manager, community.deployment.address("QuartierToken"))
    assert token.decimals() == 6
    seller = community.household()
    assert seller.market.escrow_of(seller.address).free_units == FUNDS_UNITS
    assert token.balance_of(community.market_address) == FUNDS_UNITS


def test_order_signed_in_python_is_accepted_in_a_commit(community: Community) -> None:
    seller, buyer = community.household(0), community.household()
    k = _open_interval(community)
    sell = Order(seller.address, Side.SELL, k, 1_000, 100, 1)
    buy = Order(buyer.address, Side.BUY, k, 800, 150, 7)
    chain_id = community.w3.eth.chain_id
    # The contract and the Python signer agree on the EIP-712 digest.
    assert buyer.market.order_digest(buy) == order_digest(buy, chain_id, community.market_address)

    result = buyer.market.commit_interval(
        k,
        [_signed(seller, sell, community), _signed(buyer, buy, community)],
        [Trade(0, 1, 799, 123)],
    )

    assert result.committed.interval_id == k
    assert result.committed.commitment == buyer.market.commitment_of(k)
    assert result.committed.committer == buyer.address
    assert [(t.seller, t.buyer, t.energy_wh, t.price_per_kwh) for t in result.trades] == [
        (seller.address, buyer.address, 799, 123)
    ]
    # 799 Wh * 123 / 1000 = 98.277 units: the lock rounds up.
    assert [(lock.household, lock.amount_units) for lock in result.locks] == [(buyer.address, 99)]
    assert buyer.market.escrow_of(buyer.address).locked_units == 99


def test_tampered_order_is_rejected_with_a_decoded_error(community: Community) -> None:
    seller, buyer = community.household(0), community.household()
    k = _open_interval(community)
    sell = _signed(seller, Order(seller.address, Side.SELL, k, 1_000, 100, 1), community)
    buy = _signed(buyer, Order(buyer.address, Side.BUY, k, 800, 150, 1), community)
    # The matcher raises the buyer's limit after the buyer signed.
    raised = SignedOrder(Order(buyer.address, Side.BUY, k, 800, 200, 1), buy.v, buy.r, buy.s)
    with pytest.raises(revert_class("MarketInvalidOrderSignature")) as refused:
        buyer.market.commit_interval(k, [sell, raised], [Trade(0, 1, 800, 190)])
    assert refused.value.arguments["household"] == buyer.address
    assert refused.value.arguments["signer"] != buyer.address
    assert buyer.market.commitment_of(k) == bytes(32)


def test_commit_before_the_gate_is_refused(community: Community) -> None:
    seller, buyer = community.household(0), community.household()
    k = community.now() // 900 + 2
    orders = [
        _signed(seller, Order(seller.address, Side.SELL, k, 1_000, 100, 1), community),
        _signed(buyer, Order(buyer.address, Side.BUY, k, 800, 150, 1), community),
    ]
    with pytest.raises(revert_class("MarketOrdersStillOpen")) as refused:
        buyer.market.commit_interval(k, orders, [Trade(0, 1, 800, 120)])
    assert refused.value.arguments["gateClosesAt"] == k * 900


def test_cancelled_nonce_blocks_the_commit(community: Community) -> None:
    seller, buyer = community.household(0), community.household()
    k = _open_interval(community)
    cancelled = buyer.market.cancel_nonce(5)
    assert (cancelled.household, cancelled.nonce) == (buyer.address, 5)
    orders = [
        _signed(seller, Order(seller.address, Side.SELL, k, 1_000, 100, 1), community),
        _signed(buyer, Order(buyer.address, Side.BUY, k, 800, 150, 5), community),
    ]
    with pytest.raises(revert_class("MarketOrderCancelled")) as refused:
        seller.market.commit_interval(k, orders, [Trade(0, 1, 800, 120)])
    assert refused.value.arguments == {"household": buyer.address, "nonce": 5}


def test_order_to_settlement_round_trip_with_exact_balances(community: Community) -> None:
    seller, buyer_b, buyer_c = community.household(0), community.household(), community.household()
    token = TokenClient(community.manager, community.deployment.address("QuartierToken"))
    supply = token.total_supply()
    k = _open_interval(community)
    orders = [
        _signed(seller, Order(seller.address, Side.SELL, k, 1_000, 100, 1), community),
        _signed(buyer_b, Order(buyer_b.address, Side.BUY, k, 600, 150, 1), community),
        _signed(buyer_c, Order(buyer_c.address, Side.BUY, k, 400, 150, 1), community),
    ]
    trades = [Trade(0, 1, 600, 123), Trade(0, 2, 400, 123)]
    committed = seller.market.commit_interval(k, orders, trades)
    # Locks: ceil(600 * 123 / 1000) = ceil(73.8) = 74 and ceil(400 * 123 / 1000) = ceil(49.2) = 50.
    assert sorted(lock.amount_units for lock in committed.locks) == [50, 74]

    # Boundary readings R(k-1) now, R(k) once interval k has ended. The seller exports only
    # 700 of the 1000 Wh it sold; buyer B imports only 300 of its 600 Wh.
    for household in (seller, buyer_b, buyer_c):
        community.read(household, k - 1, 50_000, 20_000)
    community.warp((k + 1) * 900)
    community.read(seller, k, 50_000, 20_700)
    community.read(buyer_b, k, 50_300, 20_000)
    community.read(buyer_c, k, 50_400, 20_000)

    result = seller.market.settle_interval(k)

    # B's trade: min(600 * 700/1000, 600 * 300/600) = min(420, 300) = 300 Wh -> floor(36.9) = 36.
    # C's trade: min(400 * 700/1000, 400 * 400/400) = min(280, 400) = 280 Wh -> floor(34.44) = 34.
    delivered = {t.buyer: (t.delivered_wh, t.payment_units) for t in result.trades}
    assert delivered == {buyer_b.address: (300, 36), buyer_c.address: (280, 34)}
    assert (result.settled.delivered_wh, result.settled.paid_units) == (580, 70)
    assert sorted((r.household, r.amount_units) for r in result.releases) == sorted(
        [(buyer_b.address, 74 - 36), (buyer_c.address, 50 - 34)]
    )
    assert seller.market.escrow_of(seller.address).free_units == 70
    assert seller.market.escrow_of(buyer_b.address).free_units == FUNDS_UNITS - 36
    assert seller.market.escrow_of(buyer_c.address).free_units == FUNDS_UNITS - 34
    assert seller.market.escrow_of(buyer_b.address).locked_units == 0
    assert seller.market.is_settled(k)

    withdrawn = seller.market.withdraw(70)
    assert withdrawn.amount_units == 70
    assert token.balance_of(seller.address) == 70
    # Nothing was created or destroyed.
    assert token.total_supply() == supply
    assert token.balance_of(community.market_address) == 2 * FUNDS_UNITS - 70

    with pytest.raises(revert_class("MarketIntervalAlreadySettled")):
        seller.market.settle_interval(k)


def test_committed_book_reads_back_what_was_committed(community: Community) -> None:
    seller, buyer = community.household(0), community.household()
    k = _open_interval(community)
    sell = Order(seller.address, Side.SELL, k, 1_000, 100, 3)
    buy = Order(buyer.address, Side.BUY, k, 800, 150, 9)
    buyer.market.commit_interval(
        k,
        [_signed(seller, sell, community), _signed(buyer, buy, community)],
        [Trade(0, 1, 500, 110)],
    )
    book = seller.market.committed_book(k)
    assert sorted(book.orders, key=lambda o: o.side) == [sell, buy]
    sell_index = book.orders.index(sell)
    assert book.trades == (Trade(sell_index, 1 - sell_index, 500, 110),)


def test_settlement_waits_for_the_boundary_readings(community: Community) -> None:
    seller, buyer = community.household(0), community.household()
    k = _open_interval(community)
    orders = [
        _signed(seller, Order(seller.address, Side.SELL, k, 1_000, 100, 1), community),
        _signed(buyer, Order(buyer.address, Side.BUY, k, 800, 150, 1), community),
    ]
    seller.market.commit_interval(k, orders, [Trade(0, 1, 800, 120)])
    community.read(seller, k - 1, 0, 0)
    community.read(buyer, k - 1, 0, 0)
    # R(k) is not in: the client cannot prove the interval's energy and says so.
    with pytest.raises(ReadingChainError, match=f"intervals {k - 1} and {k}"):
        seller.market.settle_interval(k)
    assert not seller.market.is_settled(k)

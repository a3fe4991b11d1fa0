"""Fixtures of the API tests: an app on in-memory SQLite wired to a real Anvil community.

The chain is never mocked: the app's LedgerGateway talks to the session's Anvil node and a
freshly deployed community. Time is a settable clock (the API's view of "now").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.app import create_app
from api.ledger_gateway import LedgerGateway
from api.settings import Settings
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deploy import deploy_community
from ledger.deployment import Deployment
from ledger.market import MarketClient
from ledger.orders import Order, Side, sign_order
from ledger.registry import RegistryClient
from ledger.token import TokenClient
from metering.reading import INTERVAL_SECONDS, PublicKey, Reading, meter_id_of, sign_reading

HOUSEHOLD = "0x000000000000000000000000000000000000bEEF"


@dataclass
class Clock:
    """A settable clock in unix seconds."""

    now: int

    def __call__(self) -> int:
        return self.now


@dataclass
class Meter:
    """A meter's P-256 key, and helpers to sign its readings for one community."""

    key: ec.EllipticCurvePrivateKey
    chain_id: int
    market: str
    seq: int = 0
    sent: list[dict[str, object]] = field(default_factory=list)

    @property
    def public(self) -> PublicKey:
        return PublicKey.from_cryptography(self.key.public_key())

    @property
    def meter_id(self) -> bytes:
        return meter_id_of(self.public)

    def reading(
        self, interval_id: int, import_wh: int, export_wh: int, seq: int
    ) -> dict[str, object]:
        reading = Reading(self.meter_id, interval_id, import_wh, export_wh, seq)
        return sign_reading(self.key, reading, self.chain_id, self.market).to_json()


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """The API tests' own node: they move chain time forward (days, in the stateful test),
    which must not leak into other tiers' tests sharing the session node."""
    with AnvilNode() as node:
        yield node


@pytest.fixture(scope="session")
def manager(anvil: AnvilNode) -> Sender:
    """The community manager on the API tests' node (Anvil's funded development account)."""
    w3 = connect(anvil.url)
    return Sender(w3, default_deployer(w3.eth.chain_id, None))


@pytest.fixture
def community(manager: Sender) -> Deployment:
    """A fresh community on the API tests' node (gate lead 0)."""
    return deploy_community(manager)


@pytest.fixture
def clock(manager: Sender) -> Clock:
    """Starts at the chain's time, so what the API accepts the contract accepts too."""
    return Clock(now=int(manager.w3.eth.get_block("latest")["timestamp"]))


def warp_chain(manager: Sender, unix_seconds: int) -> None:
    """Mine a block at `unix_seconds` (only forward) so on-chain time checks pass."""
    latest = int(manager.w3.eth.get_block("latest")["timestamp"])
    if unix_seconds > latest:
        manager.w3.provider.make_request("evm_setNextBlockTimestamp", [unix_seconds])
        manager.w3.provider.make_request("evm_mine", [])


@dataclass
class Household:
    """A member with an Ethereum key, ETH for gas and escrow in the market."""

    account: LocalAccount
    market: MarketClient

    @property
    def address(self) -> str:
        return str(self.account.address)

    def order(
        self, side: str, interval_id: int, energy_wh: int, price_per_kwh: int, nonce: int
    ) -> dict[str, object]:
        """A signed order as POST /orders takes it."""
        order = Order(
            self.address,
            Side.SELL if side == "sell" else Side.BUY,
            interval_id,
            energy_wh,
            price_per_kwh,
            nonce,
        )
        signed = sign_order(self.account.key, order, self.market.chain_id, self.market.address)
        return {
            "household": self.address,
            "side": side,
            "interval_id": interval_id,
            "energy_wh": energy_wh,
            "price_per_kwh": price_per_kwh,
            "nonce": nonce,
            "signature": {"v": signed.v, "r": hex(signed.r), "s": hex(signed.s)},
        }


def make_household(
    manager: Sender, community: Deployment, deposit_units: int, admit: bool = True
) -> Household:
    """A fresh account: admitted, funded with gas, minted tokens and `deposit_units` escrow."""
    account: LocalAccount = Account.create()
    w3 = manager.w3
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])
    if admit:
        RegistryClient(manager, community.address("CommunityRegistry")).admit_household(
            account.address
        )
    sender = Sender(w3, account)
    market = MarketClient(sender, community.address("QuartierMarket"), community.deploy_block)
    if deposit_units:
        TokenClient(manager, community.address("QuartierToken")).mint(
            account.address, deposit_units
        )
        TokenClient(sender, community.address("QuartierToken")).approve(
            market.address, deposit_units
        )
        market.deposit(deposit_units)
    return Household(account, market)


@pytest.fixture
def settings(anvil: AnvilNode) -> Settings:
    return Settings(
        rpc_url=anvil.url,
        database_url="sqlite://",
        run_worker=False,
        gate_closure_seconds=0,
        grace_seconds=0,
        auth_secret=b"test-secret",
    )


@pytest.fixture
def client(settings: Settings, community: Deployment, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, ledger=LedgerGateway(settings, community), clock=clock)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def registry(manager: Sender, community: Deployment) -> RegistryClient:
    return RegistryClient(manager, community.address("CommunityRegistry"))


@pytest.fixture
def meter(registry: RegistryClient, community: Deployment) -> Meter:
    """An admitted meter of HOUSEHOLD."""
    meter = Meter(
        ec.generate_private_key(ec.SECP256R1()),
        community.chain_id,
        community.address("QuartierMarket"),
    )
    if not registry.is_member(HOUSEHOLD):
        registry.admit_household(HOUSEHOLD)
    registry.admit_meter(HOUSEHOLD, meter.public.x, meter.public.y)
    return meter


def interval_at(clock: Clock) -> int:
    """The interval running at the clock's time."""
    return clock.now // INTERVAL_SECONDS

"""Fixtures of the API tests: an app on SQLite and on PostgreSQL, wired to a real Anvil community.

The chain is never mocked: the app's chain view (`V2Chain.from_settings`, as `quartier
serve` builds it) talks to the session's Anvil node and a freshly deployed protocol v2
community (QuartierCommunity, QuartierExchange, the default rules and 15-minute grid). Time is
a settable clock (the API's view of "now").
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
from api.relayer.context import V2Chain
from api.settings import Settings
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.community import CommunityClient
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment
from ledger.exchange import ExchangeClient
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
    """A meter's P-256 key, and helpers to sign its readings for one community (the
    signature domain is bound to the community's QuartierExchange)."""

    key: ec.EllipticCurvePrivateKey
    chain_id: int
    exchange: str
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
        return sign_reading(self.key, reading, self.chain_id, self.exchange).to_json()


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
    """A fresh protocol v2 community on the API tests' node (default rules and grid)."""
    return deploy_community_v2(manager)


@pytest.fixture
def clock(manager: Sender) -> Clock:
    """Starts at the chain's time, so what the API accepts the contract accepts too."""
    return Clock(now=int(manager.w3.eth.get_block("latest")["timestamp"]))


def warp_chain(manager: Sender, unix_seconds: int) -> None:
    """Mine a block at `unix_seconds` (only forward) so on-chain time checks pass."""
    latest = int(manager.w3.eth.get_block("latest")["timestamp"])
    if unix_seconds > latest:
        manager.w3.provider.make_request("evm_setNextBlockTimestamp", [unix_seconds])  # type: ignore[arg-type]
        manager.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@dataclass
class Household:
    """A member with an Ethereum key, ETH for gas and escrow in the exchange."""

    account: LocalAccount
    exchange: ExchangeClient

    @property
    def address(self) -> str:
        return str(self.account.address)


def make_household(
    manager: Sender, community: Deployment, deposit_units: int, admit: bool = True
) -> Household:
    """A fresh account: admitted, funded with gas, minted tokens and `deposit_units` escrow."""
    account: LocalAccount = Account.create()
    w3 = manager.w3
    w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
    if admit:
        CommunityClient(manager, community.address("QuartierCommunity")).admit_household(
            account.address
        )
    sender = Sender(w3, account)
    exchange = ExchangeClient(sender, community.address("QuartierExchange"))
    if deposit_units:
        TokenClient(manager, community.address("QuartierToken")).mint(
            account.address, deposit_units
        )
        TokenClient(sender, community.address("QuartierToken")).approve(
            exchange.address, deposit_units
        )
        exchange.deposit(deposit_units)
    return Household(account, exchange)


@pytest.fixture
def settings(anvil: AnvilNode, database_url: str) -> Settings:
    """On a SQLite file and on PostgreSQL (`database_url`: each test runs on both)."""
    return Settings(
        rpc_url=anvil.url,
        database_url=database_url,
        run_relayer=False,
        auth_secret=b"test-secret",
    )


def app_client(settings: Settings, community: Deployment, clock: Clock) -> TestClient:
    """The app as `quartier serve` builds it, on `community`'s deployment."""
    return TestClient(
        create_app(settings, chain=V2Chain.from_settings(settings, community), clock=clock)
    )


@pytest.fixture
def client(settings: Settings, community: Deployment, clock: Clock) -> Iterator[TestClient]:
    with app_client(settings, community, clock) as test_client:
        yield test_client


@pytest.fixture
def registry(manager: Sender, community: Deployment) -> CommunityClient:
    """QuartierCommunity as its manager (admissions, revocations)."""
    return CommunityClient(manager, community.address("QuartierCommunity"))


@pytest.fixture
def meter(registry: CommunityClient, community: Deployment) -> Meter:
    """An admitted meter of HOUSEHOLD."""
    meter = Meter(
        ec.generate_private_key(ec.SECP256R1()),
        community.chain_id,
        community.address("QuartierExchange"),
    )
    if registry.membership(HOUSEHOLD).admitted_at == 0:
        registry.admit_household(HOUSEHOLD)
    registry.admit_meter(HOUSEHOLD, meter.public.x, meter.public.y)
    return meter


def interval_at(clock: Clock) -> int:
    """The interval running at the clock's time."""
    return clock.now // INTERVAL_SECONDS

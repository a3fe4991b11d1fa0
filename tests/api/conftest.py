"""Fixtures of the API tests: an app on in-memory SQLite wired to a real Anvil community.

The chain is never mocked: the app's LedgerGateway talks to the session's Anvil node and a
freshly deployed community. Time is a settable clock (the API's view of "now").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from api.app import create_app
from api.ledger_gateway import LedgerGateway
from api.settings import Settings
from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.deployment import Deployment
from ledger.registry import RegistryClient
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


@pytest.fixture
def clock() -> Clock:
    return Clock(now=1_800_000_000)


@pytest.fixture
def settings(anvil: AnvilNode) -> Settings:
    return Settings(
        rpc_url=anvil.url,
        database_url="sqlite://",
        run_worker=False,
        gate_closure_seconds=0,
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

"""A protocol v2 community behind the API, for tests/api/test_v2_*.py.

The real thing on the API tests' Anvil node: a freshly deployed v2 community (60-second
intervals, 4 per period, so a period is four minutes of chain time), the app built by
`api.app.create_app` with a SQLite FILE database, and the relayer (`api.app.relayer_of`)
sending from its own funded account. Time is the chain's:
tests move it with `warp` (evm_setNextBlockTimestamp + evm_mine), only forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.app import create_app, relayer_of
from api.relayer.context import V2Chain
from api.relayer.service import Relayer
from api.settings import Settings
from ledger.chain import Sender
from ledger.community import CommunityClient
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment
from ledger.exchange import ExchangeClient
from ledger.rules import Mechanism, Rules, TimeGrid
from ledger.schedules import Entry, EntrySide, Schedule, sign_schedule
from ledger.token import TokenClient
from metering.period import MeterPeriod, sign_meter_period
from metering.reading import PublicKey, meter_id_of

GRID = TimeGrid(interval_seconds=60, period_intervals=4)
RULES = Rules(
    mechanism=Mechanism.PAY_AS_CLEAR,
    gate_lead_seconds=30,
    settlement_deadline_seconds=600,
    min_entry_wh=10,
    price_floor_per_kwh=50_000,
    price_ceiling_per_kwh=350_000,
    community_price_per_kwh=150_000,
)
RELAY_MARGIN_SECONDS = 20
PROBLEM = "application/problem+json"
SIDE = {EntrySide.NONE: "none", EntrySide.SELL: "sell", EntrySide.BUY: "buy"}


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem+json body of a refusal, checked for status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:quartier:problem:{slug}", body
    return body


@dataclass
class Meter:
    key: ec.EllipticCurvePrivateKey
    meter_id: bytes
    public_key: PublicKey


@dataclass
class Member:
    account: LocalAccount
    exchange: ExchangeClient
    meters: list[Meter] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class V2World:
    manager: Sender
    deployment: Deployment
    community: CommunityClient
    exchange: ExchangeClient
    token: TokenClient
    chain: V2Chain
    client: TestClient
    relayer: Relayer

    @property
    def chain_id(self) -> int:
        return self.manager.chain_id

    def now(self) -> int:
        return int(self.manager.w3.eth.get_block("latest")["timestamp"])

    def warp(self, unix_seconds: int) -> None:
        """Mine a block at `unix_seconds` (if later than now)."""
        if unix_seconds > self.now():
            w3 = self.manager.w3
            w3.provider.make_request("evm_setNextBlockTimestamp", [unix_seconds])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def member(self, funds_units: int = 0, meters: int = 1, admit: bool = True) -> Member:
        """A new household (admitted unless told not to) with P-256 meters and escrow."""
        account: LocalAccount = Account.create()
        w3 = self.manager.w3
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
        sender = Sender(w3, account)
        member = Member(account, self.exchange.as_sender(sender))
        if admit:
            self.community.admit_household(member.address)
        for _ in range(meters):
            key = ec.generate_private_key(ec.SECP256R1())
            public_key = PublicKey.from_cryptography(key.public_key())
            self.community.admit_meter(member.address, public_key.x, public_key.y)
            member.meters.append(Meter(key, meter_id_of(public_key), public_key))
        if funds_units:
            self.token.mint(member.address, funds_units)
            TokenClient(sender, self.token.address).approve(self.exchange.address, funds_units)
            member.exchange.deposit(funds_units)
        return member

    def open_period(self) -> int:
        """A period whose first gate stays open for about two minutes of chain time: the
        clock moves to the start of the next period, whose successor is returned."""
        upcoming = GRID.period_at(self.now()) + 1
        self.warp(GRID.period_start(upcoming))
        return upcoming + 1

    def schedule_body(
        self,
        member: Member,
        period_id: int,
        entries: list[Entry],
        version: int = 1,
        first_interval_id: int | None = None,
    ) -> dict[str, Any]:
        """A signed schedule as POST /schedules takes it."""
        first = GRID.first_interval(period_id) if first_interval_id is None else first_interval_id
        schedule = Schedule(member.address, period_id, version, first, tuple(entries))
        signed = sign_schedule(member.account.key, schedule, self.chain_id, self.exchange.address)
        return {
            "household": member.address,
            "period_id": period_id,
            "version": version,
            "first_interval_id": first,
            "entries": [
                {"side": SIDE[e.side], "energy_wh": e.energy_wh, "price_per_kwh": e.price_per_kwh}
                for e in entries
            ],
            "signature": "0x" + signed.signature.hex(),
        }

    def batch_body(
        self,
        meter: Meter,
        period_id: int,
        start: tuple[int, int],
        deltas: list[tuple[int, int]],
    ) -> dict[str, Any]:
        """A signed meter batch as POST /meter-batches takes it."""
        period = MeterPeriod(meter.meter_id, period_id, start[0], start[1], tuple(deltas))
        signed = sign_meter_period(meter.key, period, self.chain_id, self.exchange.address)
        return {
            "meter_id": "0x" + meter.meter_id.hex(),
            "period_id": period_id,
            "start_import_wh": start[0],
            "start_export_wh": start[1],
            "deltas": [{"import_wh": i, "export_wh": e} for i, e in deltas],
            "public_key": {
                "x": f"0x{meter.public_key.x:064x}",
                "y": f"0x{meter.public_key.y:064x}",
            },
            "signature": {"r": f"0x{signed.r:064x}", "s": f"0x{signed.s:064x}"},
        }


@contextmanager
def v2_world(
    manager: Sender, anvil_url: str, database_url: str, rules: Rules = RULES
) -> Iterator[V2World]:
    """Deploy a v2 community and serve it on `database_url` (an empty database)."""
    deployment = deploy_community_v2(manager, rules=rules, grid=GRID)
    relayer_account: LocalAccount = Account.create()
    w3 = manager.w3
    w3.provider.make_request("anvil_setBalance", [relayer_account.address, hex(10**20)])  # type: ignore[arg-type]
    relayer_sender = Sender(w3, relayer_account)
    settings = Settings(
        rpc_url=anvil_url,
        database_url=database_url,
        run_relayer=False,
        auth_secret=b"test-secret",
        relay_margin_seconds=RELAY_MARGIN_SECONDS,
        head_cache_milliseconds=0,
    )
    chain = V2Chain.of(relayer_sender, deployment, settings)
    app = create_app(settings, chain=chain, clock=lambda: 0)
    with TestClient(app) as client:
        yield V2World(
            manager,
            deployment,
            CommunityClient(manager, deployment.address("QuartierCommunity")),
            ExchangeClient(manager, deployment.address("QuartierExchange")),
            TokenClient(manager, deployment.address("QuartierToken")),
            chain,
            client,
            relayer_of(app),
        )

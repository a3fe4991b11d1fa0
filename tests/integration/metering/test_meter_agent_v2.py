"""The meter agent against the served protocol v2 API on a real Anvil chain: its period batch
is accepted and the period settles with the meter's energy; a high-s twin of what the agent
signs is refused by the Python verifier and by the exchange alike.

The world: a fresh v2 community (quarter-hours, 4 per period: an hour of chain time, so the
simulated meter's 900-s registers move at every boundary) on this module's own Anvil node
(time is warped forward), the app built by `api.app.create_app` with a SQLite file, and its
relayer. The agent's injected clock moves the chain with it: each sleep mines a block at the
agent's new time, so "the period is over" is true on chain when the agent thinks it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.app import create_app, relayer_of
from api.relayer.context import V2Chain
from api.relayer.service import Relayer
from api.settings import Settings
from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.community import CommunityClient
from ledger.deploy_v2 import DEFAULT_RULES, deploy_community_v2
from ledger.deployment import Deployment
from ledger.errors import LedgerError
from ledger.exchange import ExchangeClient
from ledger.rules import TimeGrid
from ledger.schedules import Entry, EntrySide, Schedule, sign_schedule
from ledger.token import TokenClient
from metering.adapters.simulated import SimulatedFleet, SimulatedMeter
from metering.agent import AgentConfig, MeterAgent
from metering.period import (
    MeterPeriod,
    SignedMeterPeriod,
    meter_batch_body,
    meter_batch_of_body,
    meter_period_digest,
    sign_meter_period,
    verify_meter_period,
)
from metering.reading import PublicKey, meter_id_of
from metering.signing import P256_ORDER
from metering.spool import SENT, Spool

pytestmark = pytest.mark.integration

GRID = TimeGrid(interval_seconds=900, period_intervals=4)
RULES = replace(DEFAULT_RULES, gate_lead_seconds=300, settlement_deadline_seconds=3_600)
FUNDS_UNITS = 10_000_000
ASK, BID = 100_000, 200_000  # pay-as-clear: (ask + bid) / 2 = 150_000 units per kWh
TRADE_WH = 5_000  # more than a household imports in a quarter-hour: delivery is the meter's
SIDE = {EntrySide.NONE: "none", EntrySide.SELL: "sell", EntrySide.BUY: "buy"}


@dataclass
class Household:
    account: LocalAccount
    meter_key: ec.EllipticCurvePrivateKey

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def public_key(self) -> PublicKey:
        return PublicKey.from_cryptography(self.meter_key.public_key())


@dataclass
class AppClock:
    """The API's wall clock (unix seconds); the agent's clock sets it (same machine)."""

    now: int = 0

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    manager: Sender
    deployment: Deployment
    community: CommunityClient
    exchange: ExchangeClient
    token: TokenClient
    client: TestClient
    relayer: Relayer
    app_clock: AppClock

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

    def household(self) -> Household:
        account: LocalAccount = Account.create()
        w3 = self.manager.w3
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
        self.community.admit_household(account.address)
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = PublicKey.from_cryptography(key.public_key())
        self.community.admit_meter(account.address, public_key.x, public_key.y)
        self.token.mint(account.address, FUNDS_UNITS)
        sender = Sender(w3, account)
        TokenClient(sender, self.token.address).approve(self.exchange.address, FUNDS_UNITS)
        self.exchange.as_sender(sender).deposit(FUNDS_UNITS)
        return Household(account, key)

    def post_schedule(self, household: Household, period_id: int, entry: Entry) -> None:
        entries = (entry,) * GRID.period_intervals
        first = GRID.first_interval(period_id)
        schedule = Schedule(household.address, period_id, 1, first, entries)
        signed = sign_schedule(
            household.account.key, schedule, self.chain_id, self.exchange.address
        )
        body = {
            "household": household.address,
            "period_id": period_id,
            "version": 1,
            "first_interval_id": first,
            "entries": [
                {"side": SIDE[e.side], "energy_wh": e.energy_wh, "price_per_kwh": e.price_per_kwh}
                for e in entries
            ],
            "signature": "0x" + signed.signature.hex(),
        }
        response = self.client.post("/schedules", json=body)
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    """This module's own node: it warps time by hours, which must not leak into others."""
    with AnvilNode() as anvil:
        yield anvil


@pytest.fixture
def world(node: AnvilNode, tmp_path: Path) -> Iterator[World]:
    w3 = connect(node.url)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    deployment = deploy_community_v2(manager, rules=RULES, grid=GRID)
    relayer_account: LocalAccount = Account.create()
    w3.provider.make_request("anvil_setBalance", [relayer_account.address, hex(10**20)])  # type: ignore[arg-type]
    settings = Settings(
        rpc_url=node.url,
        database_url=f"sqlite:///{tmp_path / 'quartier.db'}",
        run_relayer=False,
        auth_secret=b"test-secret",
        relay_margin_seconds=120,
        head_cache_milliseconds=0,
    )
    chain = V2Chain.of(Sender(w3, relayer_account), deployment, settings)
    app_clock = AppClock()
    app = create_app(settings, chain=chain, clock=app_clock)
    with TestClient(app) as client:
        yield World(
            manager,
            deployment,
            CommunityClient(manager, deployment.address("QuartierCommunity")),
            ExchangeClient(manager, deployment.address("QuartierExchange")),
            TokenClient(manager, deployment.address("QuartierToken")),
            client,
            relayer_of(app),
            app_clock,
        )


class ChainClock:
    """The agent's clock; sleeping mines a block at the new time, so chain time follows, and
    moves the API's clock too (one machine, one time)."""

    def __init__(self, world: World, now: float) -> None:
        self.world, self.now = world, now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.world.app_clock.now = int(self.now)
        self.world.warp(int(self.now))


def test_the_agents_batch_is_accepted_and_the_period_settles_with_its_energy(
    world: World, tmp_path: Path
) -> None:
    seller, buyer = world.household(), world.household()
    # Schedules for P are taken from start(P - 1) on: the chain is moved there.
    period = GRID.period_at(world.now()) + 2
    world.warp(GRID.period_start(period - 1) + 1)
    world.post_schedule(seller, period, Entry(EntrySide.SELL, TRADE_WH, ASK))
    world.post_schedule(buyer, period, Entry(EntrySide.BUY, TRADE_WH, BID))
    assert len(world.relayer.run_once().posting.posted) == 2

    fleet = SimulatedFleet(1, seed=11)
    clock = ChainClock(world, GRID.period_start(period) - 30)
    logs: list[str] = []
    agent = MeterAgent(
        SimulatedMeter(fleet, 0, clock),
        buyer.meter_key,
        Spool(tmp_path / "spool.db"),
        AgentConfig("http://testserver", world.chain_id, world.exchange.address, GRID),
        clock=clock,
        sleep=clock.sleep,
        http=world.client,  # the served app, in-process
        log=logs.append,
    )
    agent.run(max_intervals=GRID.period_intervals + 1)  # start(P) .. end(P)

    # The per-interval readings went to POST /readings, in the same v2 domain.
    readings = agent._spool.all()
    assert len(readings) == GRID.period_intervals + 1
    assert all(entry.status == SENT for entry in readings), logs
    [spooled] = agent._spool.batches.all()
    assert (spooled.period_id, spooled.status) == (period, SENT), (spooled, logs)
    assert spooled.body is not None
    signed, public_key = meter_batch_of_body(spooled.body)
    boundaries = [GRID.period_start(period) + 900 * j for j in range(GRID.period_intervals + 1)]
    expected = [tuple(int(v[0]) for v in fleet.registers_at(b)) for b in boundaries]
    assert signed.period.boundaries() == expected  # every boundary, as the meter read it
    stored = world.client.get(f"/meters/0x{signed.period.meter_id.hex()}/batches/{period}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["end_import_wh"] == expected[-1][0]

    # The seller's meter exported more than it sold; its batch comes from the test.
    seller_meter = meter_id_of(seller.public_key)
    seller_batch = MeterPeriod(seller_meter, period, 0, 0, ((0, TRADE_WH),) * 4)
    seller_signed = sign_meter_period(
        seller.meter_key, seller_batch, world.chain_id, world.exchange.address
    )
    body = meter_batch_body(seller_signed, seller.public_key)
    assert world.client.post("/meter-batches", json=body).status_code == 201

    report = world.relayer.run_once()
    assert report.settled == [period], report
    # Delivered = the buyer meter's import per interval (each under the 5 kWh traded);
    # pay-as-clear at 150_000 units per kWh, the buyer pays floor-rounded up.
    imported = [delta_import for delta_import, _ in signed.period.deltas]
    assert sum(imported) > 0
    assert all(wh < TRADE_WH for wh in imported)
    milli_units = sum(imported) * (ASK + BID) // 2
    buyer_escrow = world.exchange.escrow_of(buyer.address)
    assert buyer_escrow.locked_units == 0
    assert buyer_escrow.free_units == FUNDS_UNITS - (-(-milli_units // 1000))
    assert world.exchange.escrow_of(seller.address).free_units == FUNDS_UNITS + milli_units // 1000
    assert public_key == buyer.public_key


def test_a_high_s_twin_is_refused_by_python_and_by_the_exchange(
    world: World, tmp_path: Path
) -> None:
    household = world.household()
    meter_id = meter_id_of(household.public_key)
    period = GRID.period_at(world.now()) + 1  # the meter counts for all of it
    batch = MeterPeriod(meter_id, period, 1_000, 2_000, ((10, 0), (0, 20), (5, 5), (0, 0)))
    signed = sign_meter_period(household.meter_key, batch, world.chain_id, world.exchange.address)
    twin = SignedMeterPeriod(batch, signed.r, P256_ORDER - signed.s)
    assert verify_meter_period(signed, household.public_key, world.chain_id, world.exchange.address)
    assert not verify_meter_period(
        twin, household.public_key, world.chain_id, world.exchange.address
    )
    # Same digest on both sides: the Python digest is the exchange's.
    on_chain = world.exchange.contract.functions.meterBatchDigest(
        meter_id, period, 1_000, 2_000, batch.deltas_bytes
    ).call()
    assert bytes(on_chain) == meter_period_digest(batch, world.chain_id, world.exchange.address)
    world.warp(GRID.period_end(period))
    with pytest.raises(LedgerError, match="ExchangeBadMeterSignature"):
        world.exchange.post_meter_batches([twin])
    assert world.exchange.meter_chain(meter_id).next_period_id == 0
    world.exchange.post_meter_batches([signed])  # the low-s original is accepted
    assert world.exchange.meter_chain(meter_id).next_period_id == period + 1
    # The API refuses the twin too.
    body: dict[str, Any] = meter_batch_body(twin, household.public_key)
    response = world.client.post("/meter-batches", json=body)
    assert response.status_code == 422, response.text

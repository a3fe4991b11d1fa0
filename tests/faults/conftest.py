"""The fault tier's world: a real Anvil node, a protocol v2 community on it, and the service
as real processes (`quartier serve`, `quartier relayer`) on 127.0.0.1 that tests kill, stop
and restart. Every process a test starts is stopped by its PID when the test ends; every wait
is bounded.

The community runs on a fast grid (60-second intervals, 4 per period: a period is four
minutes of chain time); tests move the chain's clock forward (`warp`), never back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender, connect
from ledger.community import CommunityClient
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment, save_deployment
from ledger.exchange import ExchangeClient
from ledger.rules import Mechanism, Rules, TimeGrid
from ledger.schedules import Entry, EntrySide, Schedule, sign_schedule
from ledger.token import TokenClient
from metering.period import MeterPeriod, sign_meter_period
from metering.reading import PublicKey, Reading, meter_id_of, sign_reading

QUARTIER = str(Path(sys.executable).parent / "quartier")
PROBLEM = "application/problem+json"
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
SIDE = {EntrySide.NONE: "none", EntrySide.SELL: "sell", EntrySide.BUY: "buy"}
#: A process start includes importing web3 and the app: seconds on an idle machine, much
#: more on a loaded one; bounded all the same.
START_SECONDS = 180.0
STOP_SECONDS = 15.0


def rpc(node_url: str, method: str, *params: Any) -> Any:
    """One JSON-RPC call (Anvil's test methods included), bounded."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = httpx.post(node_url, json=body, timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


@dataclass
class Meter:
    key: ec.EllipticCurvePrivateKey
    meter_id: bytes
    public_key: PublicKey
    seq: int = 0
    import_wh: int = 0


@dataclass
class Member:
    account: LocalAccount
    meters: list[Meter] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class Community:
    """A deployed v2 community and what signs for it."""

    node: AnvilNode
    manager: Sender
    deployment: Deployment
    deployment_file: Path

    @property
    def exchange_address(self) -> str:
        return self.deployment.address("QuartierExchange")

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    def exchange(self) -> ExchangeClient:
        return ExchangeClient(self.manager, self.exchange_address)

    def now(self) -> int:
        return int(self.manager.w3.eth.get_block("latest")["timestamp"])

    def warp(self, unix_seconds: int) -> None:
        """Mine a block at `unix_seconds` (if later than now)."""
        if unix_seconds > self.now():
            rpc(self.node.url, "evm_setNextBlockTimestamp", unix_seconds)
            rpc(self.node.url, "evm_mine")

    def open_period(self) -> int:
        """A period whose first gate stays open for about two minutes of chain time."""
        upcoming = GRID.period_at(self.now()) + 1
        self.warp(GRID.period_start(upcoming))
        return upcoming + 1

    def member(self, funds_units: int = 0) -> Member:
        """A new admitted household with one P-256 meter (and escrow if asked)."""
        account: LocalAccount = Account.create()
        w3 = self.manager.w3
        rpc(self.node.url, "anvil_setBalance", account.address, hex(10**20))
        community = CommunityClient(self.manager, self.deployment.address("QuartierCommunity"))
        community.admit_household(account.address)
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = PublicKey.from_cryptography(key.public_key())
        community.admit_meter(account.address, public_key.x, public_key.y)
        member = Member(account, [Meter(key, meter_id_of(public_key), public_key)])
        if funds_units:
            sender = Sender(w3, account)
            token = TokenClient(self.manager, self.deployment.address("QuartierToken"))
            token.mint(member.address, funds_units)
            TokenClient(sender, token.address).approve(self.exchange_address, funds_units)
            ExchangeClient(sender, self.exchange_address).deposit(funds_units)
        return member

    def schedule_body(
        self, member: Member, period_id: int, entries: list[Entry], version: int = 1
    ) -> dict[str, Any]:
        """A signed schedule as POST /schedules takes it."""
        first = GRID.first_interval(period_id)
        schedule = Schedule(member.address, period_id, version, first, tuple(entries))
        signed = sign_schedule(member.account.key, schedule, self.chain_id, self.exchange_address)
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
        self, meter: Meter, period_id: int, start: tuple[int, int], deltas: list[tuple[int, int]]
    ) -> dict[str, Any]:
        """A signed meter batch as POST /meter-batches takes it."""
        period = MeterPeriod(meter.meter_id, period_id, start[0], start[1], tuple(deltas))
        signed = sign_meter_period(meter.key, period, self.chain_id, self.exchange_address)
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

    def next_reading(self, meter: Meter, interval_id: int) -> dict[str, object]:
        """The meter's next signed reading (seq and import register one step up)."""
        meter.seq += 1
        meter.import_wh += 10
        reading = Reading(meter.meter_id, interval_id, meter.import_wh, 0, meter.seq)
        signed = sign_reading(meter.key, reading, self.chain_id, self.exchange_address)
        return signed.to_json()


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode() as running:
        yield running


@pytest.fixture
def community(node: AnvilNode, tmp_path: Path) -> Community:
    w3 = connect(node.url)
    manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
    deployment = deploy_community_v2(manager, rules=RULES, grid=GRID)
    return Community(node, manager, deployment, save_deployment(deployment, tmp_path))


@pytest.fixture
def relayer_key(node: AnvilNode) -> str:
    """A funded account of the relayer's own (the manager's nonces stay the test's)."""
    account: LocalAccount = Account.create()
    rpc(node.url, "anvil_setBalance", account.address, hex(10**20))
    return "0x" + bytes(account.key).hex()


@pytest.fixture
def environment(community: Community, relayer_key: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QUARTIER_RPC_URL": community.node.url,
        "QUARTIER_DEPLOYMENT": str(community.deployment_file),
        "QUARTIER_DATABASE_URL": f"sqlite:///{tmp_path / 'quartier.db'}",
        "QUARTIER_RELAYER_KEY": relayer_key,
        "QUARTIER_AUTH_SECRET": "faults-secret",
        "QUARTIER_WORKER": "0",
        "QUARTIER_WORKER_POLL_SECONDS": "1",
        "QUARTIER_RELAY_MARGIN_SECONDS": "20",
        "QUARTIER_HEAD_CACHE_MS": "0",
    }


@dataclass
class Process:
    """A `quartier` sub-command run as a real process, its stderr in a file."""

    arguments: list[str]
    environment: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Process:
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [QUARTIER, *self.arguments],
                env=self.environment,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        if self.port is not None:
            self._wait_until_served()
        return self

    def _wait_until_served(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.alive():
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{self.arguments} did not start: {self.text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL (kill -9), then reap it."""
        if self.process is not None and self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=STOP_SECONDS)

    def pause(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.process is None or not self.alive():
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Every process a test starts, stopped (by its PID) when the test ends."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def launch(
    processes: list[Process], environment: dict[str, str], tmp_path: Path
) -> Any:  # the factory below
    def make(command: str, *arguments: str, served: bool = False, **env: str) -> Process:
        port = free_port() if served else None
        extra = ["--port", str(port)] if served else []
        process = Process(
            [command, *extra, *arguments],
            {**environment, **env},
            tmp_path / f"{command}.log",
            port,
        )
        processes.append(process)
        return process.start()

    return make


def database_path(environment: dict[str, str]) -> Path:
    return Path(environment["QUARTIER_DATABASE_URL"].removeprefix("sqlite:///"))


def query(environment: dict[str, str], sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of the service's SQLite file, read by the test itself (read-only)."""
    uri = f"file:{database_path(environment)}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as connection:
        return connection.execute(sql, params).fetchall()


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:quartier:problem:{slug}", body
    return body

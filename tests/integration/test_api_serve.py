"""`quartier serve` and `quartier relayer` as real processes against Anvil, on protocol v2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender
from ledger.community import CommunityClient
from ledger.deploy_v2 import DEFAULT_RULES, deploy_community_v2
from ledger.deployment import Deployment, save_deployment
from ledger.rules import TimeGrid
from ledger.schedules import Entry, EntrySide, Schedule, sign_schedule
from metering.reading import PublicKey, Reading, meter_id_of, sign_reading

pytestmark = pytest.mark.integration

QUARTIER = str(Path(sys.executable).parent / "quartier")
GRID = TimeGrid()
#: The relayer's margin before a gate (Settings.relay_margin_seconds' default).
RELAY_MARGIN_SECONDS = 60


@pytest.fixture
def community(manager: Sender) -> Deployment:
    """A fresh protocol v2 community, as `quartier chain deploy` makes it."""
    return deploy_community_v2(manager)


@pytest.fixture
def environment(anvil: AnvilNode, community: Deployment, tmp_path: Path) -> dict[str, str]:
    path = save_deployment(community, tmp_path)
    return {
        **os.environ,
        "QUARTIER_RPC_URL": anvil.url,
        "QUARTIER_DEPLOYMENT": str(path),
        "QUARTIER_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "QUARTIER_WORKER_POLL_SECONDS": "1",
    }


@pytest.fixture
def server(environment: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [QUARTIER, "serve", "--port", str(port), "--relayer"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    # Generous: on a loaded shared machine the imports alone took 14 s.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError(f"serve did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
    yield url
    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal so the status tells why.
    assert process.wait(timeout=15) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in process.stderr.read().decode()  # type: ignore[union-attr]


def open_period(manager: Sender) -> int:
    """The next period, with the chain moved (forward only) so its first gate stays open
    long enough for the relayer (gate lead + margin + a minute)."""
    w3 = manager.w3
    now = int(w3.eth.get_block("latest")["timestamp"])
    upcoming = GRID.period_at(now) + 1
    gate = GRID.period_start(upcoming) - DEFAULT_RULES.gate_lead_seconds
    if gate - now < RELAY_MARGIN_SECONDS + 60:
        w3.provider.make_request("evm_setNextBlockTimestamp", [GRID.period_start(upcoming)])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        upcoming += 1
    return upcoming


def schedule_body(account: LocalAccount, community: Deployment, period: int) -> dict[str, Any]:
    """A signed one-entry sell schedule as POST /schedules takes it."""
    first = GRID.first_interval(period)
    entry = Entry(EntrySide.SELL, 500, 100_000)
    schedule = Schedule(account.address, period, 1, first, (entry,))
    signed = sign_schedule(
        account.key, schedule, community.chain_id, community.address("QuartierExchange")
    )
    return {
        "household": account.address,
        "period_id": period,
        "version": 1,
        "first_interval_id": first,
        "entries": [{"side": "sell", "energy_wh": 500, "price_per_kwh": 100_000}],
        "signature": "0x" + signed.signature.hex(),
    }


def test_serve_takes_readings_and_schedules_and_its_relayer_posts_them(
    server: str, manager: Sender, community: Deployment
) -> None:
    members = CommunityClient(manager, community.address("QuartierCommunity"))
    household: LocalAccount = Account.create()
    members.admit_household(household.address)
    key = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey.from_cryptography(key.public_key())
    members.admit_meter(household.address, public.x, public.y)
    exchange = community.address("QuartierExchange")
    k = int(time.time()) // 900
    reading = Reading(meter_id_of(public), k - 1, 1_000, 10, 1)
    body = sign_reading(key, reading, community.chain_id, exchange).to_json()
    assert httpx.post(f"{server}/readings", json=body).status_code == 201
    assert httpx.post(f"{server}/readings", json=body).status_code == 200

    period = open_period(manager)
    posted = httpx.post(
        f"{server}/schedules", json=schedule_body(household, community, period), timeout=10
    )
    assert posted.status_code == 201, posted.text
    schedule_hash = posted.json()["schedule_hash"]
    deadline = time.monotonic() + 30
    status = ""
    while time.monotonic() < deadline and status != "posted":  # nobody asked but the loop
        status = httpx.get(f"{server}/schedules/{schedule_hash}").json()["status"]
        time.sleep(0.3)
    assert status == "posted"
    book = httpx.get(f"{server}/periods/{period}/schedules").json()
    assert [s["schedule_hash"] for s in book["schedules"]] == [schedule_hash]
    paths = set(httpx.get(f"{server}/openapi.json").json()["paths"])
    assert {"/readings", "/schedules", "/meter-batches", "/auth/token", "/households"} <= paths
    assert not {p for p in paths if "order" in p}  # v1's order book is gone
    assert httpx.get(f"{server}/docs").status_code == 200


def test_relayer_once_and_bad_settings(environment: dict[str, str]) -> None:
    done = subprocess.run(
        [QUARTIER, "relayer", "--once"], env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "posted 0 schedule(s)" in done.stdout
    bad = {**environment, "QUARTIER_WORKER_POLL_SECONDS": "soon"}
    refused = subprocess.run(
        [QUARTIER, "relayer", "--once"], env=bad, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "quartier: QUARTIER_WORKER_POLL_SECONDS must be an integer, got 'soon'"
    )

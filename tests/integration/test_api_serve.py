"""`quartier serve` and `quartier worker` as real processes against Anvil."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender
from ledger.deployment import Deployment, save_deployment
from ledger.orders import Order, Side, sign_order
from ledger.registry import RegistryClient
from metering.reading import PublicKey, Reading, meter_id_of, sign_reading

pytestmark = pytest.mark.integration

QUARTIER = str(Path(sys.executable).parent / "quartier")


@pytest.fixture
def environment(anvil: AnvilNode, community: Deployment, tmp_path: Path) -> dict[str, str]:
    path = save_deployment(community, tmp_path)
    return {
        **os.environ,
        "QUARTIER_RPC_URL": anvil.url,
        "QUARTIER_DEPLOYMENT": str(path),
        "QUARTIER_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "QUARTIER_GATE_CLOSURE_SECONDS": "0",
        "QUARTIER_WORKER_POLL_SECONDS": "1",
    }


@pytest.fixture
def server(environment: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [QUARTIER, "serve", "--port", str(port), "--worker"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
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


def test_serve_accepts_readings_and_orders(
    server: str, manager: Sender, community: Deployment
) -> None:
    registry = RegistryClient(manager, community.address("CommunityRegistry"))
    household = Account.create()
    registry.admit_household(household.address)
    key = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey.from_cryptography(key.public_key())
    registry.admit_meter(household.address, public.x, public.y)
    market = community.address("QuartierMarket")
    k = int(time.time()) // 900
    reading = Reading(meter_id_of(public), k - 1, 1_000, 10, 1)
    body = sign_reading(key, reading, community.chain_id, market).to_json()
    assert httpx.post(f"{server}/readings", json=body).status_code == 201
    assert httpx.post(f"{server}/readings", json=body).status_code == 200
    order = Order(household.address, Side.SELL, k + 2, 500, 60, 1)
    signed = sign_order(household.key, order, community.chain_id, market)
    posted = httpx.post(
        f"{server}/orders",
        json={
            "household": household.address,
            "side": "sell",
            "interval_id": k + 2,
            "energy_wh": 500,
            "price_per_kwh": 60,
            "nonce": 1,
            "signature": {"v": signed.v, "r": hex(signed.r), "s": hex(signed.s)},
        },
    )
    assert posted.status_code == 201, posted.text
    book = httpx.get(f"{server}/intervals/{k + 2}/orders").json()
    assert [o["order_hash"] for o in book["orders"]] == [posted.json()["order_hash"]]
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/readings", "/orders", "/auth/token", "/households"} <= set(paths)
    assert httpx.get(f"{server}/docs").status_code == 200


def test_worker_once_and_bad_settings(environment: dict[str, str]) -> None:
    done = subprocess.run(
        [QUARTIER, "worker", "--once"], env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    bad = {**environment, "QUARTIER_GRACE_SECONDS": "soon"}
    refused = subprocess.run(
        [QUARTIER, "worker", "--once"], env=bad, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert (
        refused.stderr.strip() == "quartier: QUARTIER_GRACE_SECONDS must be an integer, got 'soon'"
    )

"""Households: manager-signed admission and erasure, sign-in, own data only."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from conftest import Clock, Meter, make_household
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from fastapi.testclient import TestClient
from v2_api_world import GRID, v2_world

from api.app import create_app
from api.auth import sign_personal
from api.cli import main
from api.households.schemas import ean_check_digit_ok
from api.relayer.context import V2Chain
from api.security import manager_message
from api.settings import Settings
from ledger.accounts import ANVIL_DEV_KEY
from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender
from ledger.community import CommunityClient
from ledger.deployment import Deployment, save_deployment
from ledger.entries import Entry, EntrySide

EAN = "541448820001234563"  # 18 digits with a valid GS1 check digit
PROBLEM = "application/problem+json"


def _problem(response: object, status: int, slug: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    assert response.json()["type"] == f"urn:quartier:problem:{slug}"  # type: ignore[attr-defined]


def _signed(
    client: TestClient, method: str, path: str, body: object, key: str, clock: Clock
) -> object:
    raw = json.dumps(body).encode() if body is not None else b""
    signature = sign_personal(key, manager_message(method, path, raw, clock.now))
    headers = {
        "X-Quartier-Timestamp": str(clock.now),
        "X-Quartier-Signature": signature,
        "Content-Type": "application/json",
    }
    return client.request(method, path, content=raw, headers=headers)


def _login(client: TestClient, key: str, address: str) -> str:
    challenge = client.post("/auth/challenge", json={"address": address}).json()
    assert address in challenge["message"]
    signature = sign_personal(key, challenge["message"])
    response = client.post(
        "/auth/token", json={"nonce": challenge["nonce"], "signature": signature}
    )
    assert response.status_code == 200, response.text
    # The challenge is single-use.
    again = client.post("/auth/token", json={"nonce": challenge["nonce"], "signature": signature})
    _problem(again, 401, "invalid-challenge")
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def manager_client(settings: Settings, community: Deployment, clock: Clock) -> TestClient:
    """The API holding the manager's key, so it can admit on-chain itself."""
    # Built anew (not copied): the same call whether Settings is a dataclass or pydantic's.
    settings = Settings(
        rpc_url=settings.rpc_url,
        database_url=settings.database_url,
        run_relayer=False,
        auth_secret=b"test-secret",
        manager_key=ANVIL_DEV_KEY,
    )
    return TestClient(
        create_app(settings, chain=V2Chain.from_settings(settings, community), clock=clock)
    )


def _is_member(registry: CommunityClient, household: str) -> bool:
    window = registry.membership(household)
    return window.admitted_at != 0 and window.removed_at == 0


def test_ean_check_digit() -> None:
    assert ean_check_digit_ok(EAN)
    assert not ean_check_digit_ok(EAN[:-1] + "8")


def test_admit_then_erase(
    manager_client: TestClient, registry: CommunityClient, clock: Clock
) -> None:
    newcomer = Account.create().address
    body = {"address": newcomer, "name": "Famille Dupont", "ean": EAN, "contact": "d@example.org"}
    admitted = _signed(manager_client, "POST", "/households", body, ANVIL_DEV_KEY, clock)
    assert admitted.status_code == 201, admitted.text  # type: ignore[attr-defined]
    assert _is_member(registry, newcomer)
    erased = _signed(
        manager_client, "DELETE", f"/households/{newcomer}/profile", None, ANVIL_DEV_KEY, clock
    )
    assert erased.json()["name"] is None  # type: ignore[attr-defined]
    assert erased.json()["ean"] is None  # type: ignore[attr-defined]
    assert erased.json()["erased_at"] == clock.now  # type: ignore[attr-defined]
    assert _is_member(registry, newcomer)  # the pseudonymous on-chain record stays


def test_manager_requests_are_checked(manager_client: TestClient, clock: Clock) -> None:
    stranger = Account.create()
    body = {"address": stranger.address, "name": "X", "ean": EAN, "contact": "x"}
    _problem(manager_client.post("/households", json=body), 401, "manager-signature-required")
    forged = _signed(manager_client, "POST", "/households", body, stranger.key.hex(), clock)
    _problem(forged, 403, "not-manager")
    raw = json.dumps(body).encode()
    signature = sign_personal(ANVIL_DEV_KEY, manager_message("POST", "/households", raw, clock.now))
    headers = {
        "X-Quartier-Timestamp": str(clock.now),
        "X-Quartier-Signature": signature,
        "Content-Type": "application/json",
    }
    tampered = json.dumps({**body, "name": "Y"}).encode()
    _problem(
        manager_client.post("/households", content=tampered, headers=headers), 403, "not-manager"
    )
    assert manager_client.post("/households", content=raw, headers=headers).status_code == 201
    replayed = manager_client.post("/households", content=raw, headers=headers)
    _problem(replayed, 401, "manager-signature-replayed")
    bad_ean = {**body, "ean": EAN[:-1] + "8"}
    _problem(
        _signed(manager_client, "POST", "/households", bad_ean, ANVIL_DEV_KEY, clock),
        422,
        "validation-failed",
    )


def test_without_manager_key_the_manager_admits_on_chain_first(
    client: TestClient, registry: CommunityClient, clock: Clock
) -> None:
    newcomer = Account.create().address
    body = {"address": newcomer, "name": "B", "ean": EAN, "contact": "b"}
    _problem(
        _signed(client, "POST", "/households", body, ANVIL_DEV_KEY, clock),
        409,
        "not-member-on-chain",
    )
    registry.admit_household(newcomer)
    clock.now += 1  # a fresh signed request: the refused one was used up
    assert _signed(client, "POST", "/households", body, ANVIL_DEV_KEY, clock).status_code == 201  # type: ignore[attr-defined]


def test_households_see_only_their_own_readings(
    client: TestClient,
    manager: Sender,
    community: Deployment,
    registry: CommunityClient,
    clock: Clock,
) -> None:
    alice = make_household(manager, community, 0)
    bob = make_household(manager, community, 0)
    k = clock.now // 900 - 1
    for household, import_wh in ((alice, 111), (bob, 222)):
        meter = Meter(
            ec.generate_private_key(ec.SECP256R1()),
            community.chain_id,
            community.address("QuartierExchange"),
        )
        registry.admit_meter(household.address, meter.public.x, meter.public.y)
        assert client.post("/readings", json=meter.reading(k, import_wh, 0, 1)).status_code == 201
    token = _login(client, alice.account.key.hex(), alice.address)
    auth = {"Authorization": f"Bearer {token}"}
    own = client.get(f"/households/{alice.address}/readings", headers=auth)
    assert [r["import_wh_total"] for r in own.json()] == [111]
    _problem(client.get(f"/households/{bob.address}/readings", headers=auth), 403, "not-your-data")
    _problem(client.get(f"/households/{alice.address}/readings"), 401, "token-required")
    forged = {"Authorization": f"Bearer {bob.address}.{clock.now + 99}.{token.split('.')[2]}"}
    _problem(
        client.get(f"/households/{bob.address}/readings", headers=forged), 401, "invalid-token"
    )
    clock.now += 10_000
    _problem(
        client.get(f"/households/{alice.address}/readings", headers=auth), 401, "token-expired"
    )


def test_households_see_their_own_escrow_schedules_and_settlements(
    client: TestClient, manager: Sender, community: Deployment
) -> None:
    alice = make_household(manager, community, 5_000)
    bob = make_household(manager, community, 7_000)
    auth = {"Authorization": f"Bearer {_login(client, alice.account.key.hex(), alice.address)}"}
    escrow = client.get(f"/households/{alice.address}/escrow", headers=auth)
    assert escrow.status_code == 200, escrow.text
    assert escrow.json() == {"household": alice.address, "free_units": 5_000, "locked_units": 0}
    alice.exchange.withdraw(1_000)  # read from the chain at each request, not cached
    again = client.get(f"/households/{alice.address}/escrow", headers=auth).json()
    assert again["free_units"] == 4_000
    assert client.get(f"/households/{alice.address}/schedules", headers=auth).json() == []
    assert client.get(f"/households/{alice.address}/settlements", headers=auth).json() == []
    for view in ("escrow", "schedules", "settlements"):
        _problem(
            client.get(f"/households/{bob.address}/{view}", headers=auth), 403, "not-your-data"
        )
        _problem(client.get(f"/households/{alice.address}/{view}"), 401, "token-required")


def test_a_households_schedules_end_as_settled_with_its_outcome(
    manager: Sender, anvil: AnvilNode, database_url: str
) -> None:
    with v2_world(manager, anvil.url, database_url) as world:
        seller, buyer = world.member(1_000_000), world.member(1_000_000)
        period = world.open_period()
        sell, buy = Entry(EntrySide.SELL, 1_000, 100_000), Entry(EntrySide.BUY, 600, 200_000)
        for member, entries, version in (
            (seller, [sell], 1),
            (seller, [sell], 2),
            (buyer, [buy], 1),
        ):
            body = world.schedule_body(member, period, entries, version)
            assert world.client.post("/schedules", json=body).status_code == 201
        token = _login(world.client, seller.account.key.hex(), seller.address)
        auth = {"Authorization": f"Bearer {token}"}
        mine = f"/households/{seller.address}/schedules"
        assert [s["status"] for s in world.client.get(mine, headers=auth).json()] == [
            "pending",
            "pending",
        ]
        assert world.relayer.run_once().posting.transactions == 1
        listed = world.client.get(mine, headers=auth).json()
        assert [(s["version"], s["status"], s["settlement"]) for s in listed] == [
            (2, "posted", None),
            (1, "posted", None),
        ]

        world.warp(GRID.period_end(period))
        for member, deltas in (
            (seller, [(0, 800), (0, 0), (0, 0), (0, 0)]),
            (buyer, [(600, 0), (0, 0), (0, 0), (0, 0)]),
        ):
            body = world.batch_body(member.meters[0], period, (10, 20), deltas)
            assert world.client.post("/meter-batches", json=body).status_code == 201
        assert world.relayer.run_once().settled == [period]

        listed = world.client.get(mine, headers=auth).json()
        # Both versions were re-supplied at settlement: both end settled, with the period's
        # outcome for the seller: 600 Wh at (0.10 + 0.20) / 2 = 0.15 per kWh = 90,000 units.
        outcome = {
            "period_id": period,
            "delivered_wh": 600,
            "received_wh": 0,
            "change_units": 90_000,
            "released_units": 0,
        }
        assert [(s["version"], s["status"], s["settlement"]) for s in listed] == [
            (2, "settled", outcome),
            (1, "settled", outcome),
        ]
        buyer_token = _login(world.client, buyer.account.key.hex(), buyer.address)
        buyer_auth = {"Authorization": f"Bearer {buyer_token}"}
        (bought,) = world.client.get(
            f"/households/{buyer.address}/schedules", headers=buyer_auth
        ).json()
        assert bought["status"] == "settled"
        assert bought["settlement"] == {
            "period_id": period,
            "delivered_wh": 0,
            "received_wh": 600,
            "change_units": -90_000,
            "released_units": 120_000,
        }
        assert world.client.get(
            f"/households/{buyer.address}/settlements", headers=buyer_auth
        ).json() == [bought["settlement"]]


@contextmanager
def _served(app: Any) -> Iterator[str]:
    """`app` over real HTTP on a free port (the CLI's --api talks HTTP), until the block ends."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _cli(args: list[str], capsys: Any, monkeypatch: Any) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["quartier", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_household_cli_hands_schedules_and_cancels_to_the_api(
    manager: Sender,
    anvil: AnvilNode,
    database_url: str,
    tmp_path: Any,
    capsys: Any,
    monkeypatch: Any,
) -> None:
    with v2_world(manager, anvil.url, database_url) as world, _served(world.client.app) as api:
        member = world.member(1_000_000)
        keystore = tmp_path / "household.json"
        encrypted = Account.encrypt(member.account.key, "pw", kdf="pbkdf2", iterations=1000)
        keystore.write_text(json.dumps(encrypted))
        monkeypatch.setenv("QUARTIER_KEYSTORE_PASSWORD", "pw")
        deployment = save_deployment(world.deployment, tmp_path)
        period = world.open_period()
        household = [
            "--rpc", anvil.url, "--deployment", str(deployment), "--key", str(keystore),
            "--period", str(period), "--api", api, "--json",
        ]  # fmt: skip

        code, out, err = _cli(
            ["household", "schedule", *household, "--buy", "1:100:200000", "--sell", "2:50:1"],
            capsys,
            monkeypatch,
        )
        assert code == 0, err
        handed = json.loads(out)
        assert (handed["via"], handed["status"], handed["version"]) == ("api", "pending", 1)
        assert handed["lock_units"] == 20_000  # 100 Wh at 0.20 €/kWh
        book = world.client.get(f"/periods/{period}/schedules").json()["schedules"]
        assert [(s["schedule_hash"], s["status"]) for s in book] == [
            (handed["schedule_hash"], "pending")
        ]

        # The cancel counts the API's pending schedule (not on chain yet): version 2, empty.
        code, out, err = _cli(["household", "cancel", *household], capsys, monkeypatch)
        assert code == 0, err
        cancelled = json.loads(out)
        assert (cancelled["version"], cancelled["entries"]) == (2, [])
        assert world.relayer.run_once().posting.transactions == 1
        record = world.exchange.schedule_record(member.address, period)
        assert (record.last_version, record.postings) == (2, 2)

        # The API's refusal is one line: a version already taken.
        code, _, err = _cli(
            ["household", "schedule", *household, "--version", "2", "--buy", "1:100:1"],
            capsys,
            monkeypatch,
        )
        assert code == 1
        assert len(err.splitlines()) == 1
        assert err.startswith("quartier: the API refused (409"), err

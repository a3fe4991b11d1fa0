"""Households: manager-signed admission and erasure, sign-in, own data only."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import Clock, Meter, make_household
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import sign_personal
from api.households.schemas import ean_check_digit_ok
from api.relayer.context import V2Chain
from api.security import manager_message
from api.settings import Settings
from ledger.accounts import ANVIL_DEV_KEY
from ledger.chain import Sender
from ledger.community import CommunityClient
from ledger.deployment import Deployment

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
    settings = replace(settings, manager_key=ANVIL_DEV_KEY)
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

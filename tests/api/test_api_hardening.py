"""Hostile requests against the ASGI app: limits before parsing, a precise problem for every
error, the contract's signature rule (issue 12). The chain is the real Anvil community."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from conftest import Clock, Meter, app_client, interval_at, make_household
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from api.auth import sign_personal
from api.settings import Settings
from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.deployment import Deployment
from ledger.schedules import Entry, EntrySide, Schedule, sign_schedule
from ledger.signatures import SECP256K1_N

PROBLEM = "application/problem+json"
DEEP = b"[" * 100_000 + b"]" * 100_000  # ~200 KB: once enough to kill the process


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:quartier:problem:{slug}", body
    assert body["status"] == status
    return body


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, concrete path) of every endpoint the OpenAPI document lists, path
    parameters filled in."""
    routes = []
    for template, operations in client.get("/openapi.json").json()["paths"].items():
        path = re.sub(r"\{address\}", "0x" + "ab" * 20, template)
        path = re.sub(r"\{[a-z_]+\}", "1", path)
        routes.extend((method.upper(), path) for method in operations)
    assert len(routes) >= 10
    return routes


def test_a_deep_body_is_refused_before_parsing_on_every_endpoint(client: TestClient) -> None:
    for method, path in _routes(client):
        response = client.request(
            method, path, content=DEEP, headers={"content-type": "application/json"}
        )
        body = _problem(response, 422, "json-too-deep")
        assert body["max_json_depth"] == 32, (method, path)


def test_depth_counts_brackets_outside_strings_only(client: TestClient) -> None:
    # 40 levels inside a string are no nesting at all: the body reaches validation.
    inside = '{"household": "' + "[" * 40 + '"}'
    response = client.post(
        "/schedules", content=inside, headers={"content-type": "application/json"}
    )
    _problem(response, 422, "validation-failed")
    at_limit = "[" * 32 + "]" * 32
    response = client.post("/schedules", content=at_limit)
    _problem(response, 422, "validation-failed")
    response = client.post("/schedules", content="[" * 33 + "]" * 33)
    _problem(response, 422, "json-too-deep")


def test_an_oversize_body_is_a_413(client: TestClient) -> None:
    big = b'{"pad": "' + b"x" * (1 << 20) + b'"}'
    for method, path in _routes(client):
        response = client.request(method, path, content=big)
        body = _problem(response, 413, "body-too-large")
        assert body["max_body_bytes"] == 1 << 20
    # Exactly at the limit passes the limit (and fails validation instead).
    exact = b'{"pad": "' + b"x" * ((1 << 20) - 11) + b'"}'
    assert len(exact) == 1 << 20
    _problem(client.post("/schedules", content=exact), 422, "validation-failed")


@pytest.mark.parametrize(
    "path",
    [
        f"/periods/{2**63}/schedules",
        f"/periods/{2**64 + 5}/schedules",
        f"/periods/-{2**63 + 1}/schedules",
        "/periods/" + "9" * 5000 + "/schedules",  # beyond what int() would even parse
        f"/meters/0x{'ab' * 32}/batches/{2**63}",
        f"/households/0x{'ab' * 20}/readings?from_interval={2**63}",
    ],
)
def test_integers_beyond_64_bits_in_path_or_query(client: TestClient, path: str) -> None:
    _problem(client.get(path), 422, "integer-out-of-range")


def test_the_largest_64_bit_period_is_served(client: TestClient) -> None:
    response = client.get(f"/periods/{2**63 - 1}/schedules")
    assert response.status_code == 200, response.text
    assert response.json()["schedules"] == []


def _token(client: TestClient, account: Any) -> str:
    challenge = client.post("/auth/challenge", json={"address": account.address}).json()
    signature = sign_personal(account.key, challenge["message"])
    response = client.post(
        "/auth/token", json={"nonce": challenge["nonce"], "signature": signature}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_malformed_addresses_with_a_valid_token(client: TestClient) -> None:
    account = Account.create()
    headers = {"Authorization": f"Bearer {_token(client, account)}"}
    for bad in ("0xZZ", "0x" + "g" * 40, account.address + "00", "bob", account.address[2:]):
        for suffix in ("", "/readings", "/schedules", "/escrow", "/settlements"):
            response = client.get(f"/households/{bad}{suffix}", headers=headers)
            _problem(response, 422, "validation-failed")
    assert client.get(f"/households/{account.address}/schedules", headers=headers).json() == []


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer \xe9\xe9\xe9",
        b"Bearer 0x" + b"a" * 40 + b".99999999999.\xff",
        b"Bearer a.b.c\x7f",
        b"Bearer " + b"a" * 300,
    ],
)
def test_a_bearer_token_with_odd_bytes_is_a_401(client: TestClient, authorization: bytes) -> None:
    response = client.get(f"/households/0x{'ab' * 20}", headers={"Authorization": authorization})  # type: ignore[dict-item]
    _problem(response, 401, "invalid-token")


def test_an_unexpected_error_is_a_500_problem_with_a_logged_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise RuntimeError("a bug the handlers do not know")

    client.app.add_api_route("/explode", explode)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="quartier.api"):
        response = client.get("/explode")
    body = _problem(response, 500, "internal")
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert "a bug" not in response.text  # nothing internal leaks to the client
    (record,) = [r for r in caplog.records if body["id"] in r.getMessage()]
    assert record.exc_info is not None
    assert "a bug the handlers do not know" in str(record.exc_info[1])


def test_bodies_that_are_not_json_are_problems(client: TestClient) -> None:
    for content in (b"\xff\xfe\x00{", b"{", b"\x00" * 50, "é".encode("latin-1")):
        for path in ("/schedules", "/meter-batches", "/readings", "/auth/challenge"):
            response = client.post(
                path, content=content, headers={"content-type": "application/json"}
            )
            assert 400 <= response.status_code < 500, (path, content, response.text)
            assert response.headers["content-type"] == PROBLEM


# --- one signature rule: what the contract refuses, the API refuses -------------------------
# (schedules: tests/api/test_v2_schedule_intake.py, non-canonical signatures)


def test_sign_in_refuses_the_high_s_twin(client: TestClient) -> None:
    account = Account.create()
    challenge = client.post("/auth/challenge", json={"address": account.address}).json()
    signed = Account.sign_message(encode_defunct(text=challenge["message"]), account.key)
    twin = (
        int(signed.r).to_bytes(32, "big")
        + (SECP256K1_N - int(signed.s)).to_bytes(32, "big")
        + bytes([55 - int(signed.v)])
    )
    # The twin recovers the same address: only the rule tells them apart.
    recovered = Account.recover_message(encode_defunct(text=challenge["message"]), signature=twin)
    assert recovered == account.address
    response = client.post(
        "/auth/token", json={"nonce": challenge["nonce"], "signature": "0x" + twin.hex()}
    )
    assert _problem(response, 401, "non-canonical-signature")["rule"] == "high-s"
    compact = "0x" + bytes(signed.signature)[:64].hex()
    response = client.post("/auth/token", json={"nonce": challenge["nonce"], "signature": compact})
    _problem(response, 401, "malformed-signature")
    canonical = "0x" + bytes(signed.signature).hex()
    response = client.post(
        "/auth/token", json={"nonce": challenge["nonce"], "signature": canonical}
    )
    assert response.status_code == 200, response.text


# --- faults of the layers below: a precise problem, never a bare 500 ------------------------


def test_a_node_without_the_deployment_state_is_a_503(
    settings: Settings, community: Deployment, clock: Clock, manager: Sender
) -> None:
    """A node restarted without its state: same chain id, no code at the addresses."""
    household = make_household(manager, community, 0)
    meter = Meter(
        ec.generate_private_key(ec.SECP256R1()),
        community.chain_id,
        community.address("QuartierExchange"),
    )
    with AnvilNode() as empty:
        bare = settings.model_copy(update={"rpc_url": empty.url})
        with app_client(bare, community, clock) as fresh:
            reading = meter.reading(interval_at(clock) - 1, 1, 1, seq=1)
            _problem(fresh.post("/readings", json=reading), 503, "deployment-unavailable")
            book = fresh.post("/schedules", json=_schedule_body(household, community))
            _problem(book, 503, "deployment-unavailable")


def _schedule_body(household: Any, community: Deployment) -> dict[str, Any]:
    schedule = Schedule(household.address, 1, 1, 96, (Entry(EntrySide.SELL, 500, 60_000),))
    signed = sign_schedule(
        household.account.key, schedule, community.chain_id, community.address("QuartierExchange")
    )
    return {
        "household": household.address,
        "period_id": 1,
        "version": 1,
        "first_interval_id": 96,
        "entries": [{"side": "sell", "energy_wh": 500, "price_per_kwh": 60_000}],
        "signature": "0x" + signed.signature.hex(),
    }

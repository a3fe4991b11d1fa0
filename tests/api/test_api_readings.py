"""POST /readings: verified against QuartierCommunity on Anvil, stored once, refused by reason."""

from __future__ import annotations

import pytest
from conftest import HOUSEHOLD, Clock, Meter, interval_at
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from api.readings.models import MeterIndexRow, ReadingRow
from api.relayer.context import V2Chain
from api.settings import Settings
from ledger.anvil import free_port
from ledger.community import CommunityClient
from ledger.deployment import Deployment

PROBLEM = "application/problem+json"


def _stored(client: TestClient) -> list[ReadingRow]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        return list(session.exec(select(ReadingRow)).all())


def _assert_problem(response: object, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["type"] == f"urn:quartier:problem:{slug}"
    assert body["status"] == status
    assert body["instance"] == "/readings"
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def test_accepts_then_is_idempotent(client: TestClient, meter: Meter, clock: Clock) -> None:
    k = interval_at(clock) - 1
    body = meter.reading(k, 1_000, 200, seq=1)
    first = client.post("/readings", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["seq"] == 1
    again = client.post("/readings", json=body)
    assert again.status_code == 200
    assert len(_stored(client)) == 1


def test_same_values_resigned_is_a_resend(client: TestClient, meter: Meter, clock: Clock) -> None:
    k = interval_at(clock) - 1
    assert client.post("/readings", json=meter.reading(k, 5, 6, seq=3)).status_code == 201
    # ECDSA signatures are randomised: the same reading signed twice is still the same reading.
    assert client.post("/readings", json=meter.reading(k, 5, 6, seq=3)).status_code == 200


def test_rejections_store_nothing(client: TestClient, meter: Meter, clock: Clock) -> None:
    k = interval_at(clock) - 1
    assert client.post("/readings", json=meter.reading(k - 1, 1_000, 200, seq=5)).status_code == 201
    cases = [
        (meter.reading(k, 1_000, 200, seq=5), 409, "conflicting-reading"),
        (meter.reading(k, 1_000, 200, seq=4), 409, "seq-not-increasing"),
        (meter.reading(k - 1, 1_000, 200, seq=6), 409, "interval-not-increasing"),
        (meter.reading(k, 999, 200, seq=6), 409, "register-decreased"),
        (meter.reading(k, 1_000, 199, seq=6), 409, "register-decreased"),
        (meter.reading(k + 1, 1_000, 200, seq=6), 422, "reading-from-future"),
    ]
    for body, status, slug in cases:
        _assert_problem(client.post("/readings", json=body), status, slug)
    assert [row.seq for row in _stored(client)] == [5]


def test_bad_signature(client: TestClient, meter: Meter, clock: Clock) -> None:
    body = meter.reading(interval_at(clock) - 1, 10, 0, seq=1)
    body["import_wh_total"] = 11  # tampered after signing
    problem = _assert_problem(client.post("/readings", json=body), 422, "invalid-reading-signature")
    assert problem["meter_id"] == "0x" + meter.meter_id.hex()
    assert _stored(client) == []


def test_unknown_and_revoked_meters(
    client: TestClient, meter: Meter, registry: CommunityClient, clock: Clock
) -> None:
    k = interval_at(clock) - 1
    stranger = Meter(ec.generate_private_key(ec.SECP256R1()), meter.chain_id, meter.exchange)
    _assert_problem(
        client.post("/readings", json=stranger.reading(k, 1, 1, seq=1)), 422, "unknown-meter"
    )
    registry.revoke_meter(meter.meter_id)
    _assert_problem(
        client.post("/readings", json=meter.reading(k, 1, 1, seq=1)), 403, "meter-revoked"
    )
    assert _stored(client) == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("seq"), "seq"),
        (lambda b: b.update(seq="1"), "seq"),
        (lambda b: b.update(meter_id="0x12"), "meter_id"),
        (lambda b: b.update(extra=1), "extra"),
        (lambda b: b.update(import_wh_total=2**63), "import_wh_total"),
    ],
)
def test_malformed(
    client: TestClient, meter: Meter, clock: Clock, mutate: object, field: str
) -> None:
    body = meter.reading(interval_at(clock) - 1, 10, 0, seq=1)
    mutate(body)  # type: ignore[operator]
    problem = _assert_problem(client.post("/readings", json=body), 422, "malformed-reading")
    assert field in str(problem["detail"])


def test_meter_key_is_cached(
    client: TestClient, meter: Meter, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the meter is known, readings are accepted with no chain call."""
    k = interval_at(clock) - 3
    assert client.post("/readings", json=meter.reading(k, 1, 1, seq=1)).status_code == 201
    chain = client.app.state.v2_chain  # type: ignore[attr-defined]

    def no_chain(meter_id: bytes) -> None:
        raise AssertionError("a cached meter cost a chain call")

    # Any community lookup from now on would fail.
    monkeypatch.setattr(chain.community, "meter", no_chain)
    assert client.post("/readings", json=meter.reading(k + 1, 2, 1, seq=2)).status_code == 201
    owners = client.app.state.engine  # type: ignore[attr-defined]
    with Session(owners) as session:
        indexed = session.exec(select(MeterIndexRow)).one()
    assert indexed.household == HOUSEHOLD


def test_unreachable_chain_is_a_503(community: Deployment, clock: Clock) -> None:
    """A meter not in the cache needs the community: with no node answering, a clear 503."""
    dead = Settings(rpc_url=f"http://127.0.0.1:{free_port()}", database_url="sqlite://")
    app = create_app(dead, chain=V2Chain.from_settings(dead, community), clock=clock)
    meter = Meter(
        ec.generate_private_key(ec.SECP256R1()),
        community.chain_id,
        community.address("QuartierExchange"),
    )
    response = TestClient(app).post(
        "/readings", json=meter.reading(interval_at(clock) - 1, 1, 1, 1)
    )
    problem = _assert_problem(response, 503, "chain-unreachable")
    assert "no Ethereum JSON-RPC node answers" in str(problem["detail"])


def test_a_body_that_is_not_json_is_malformed(client: TestClient) -> None:
    response = client.post(
        "/readings", content=b'{"meter_id": ', headers={"content-type": "application/json"}
    )
    problem = _assert_problem(response, 422, "malformed-reading")
    assert "JSON" in str(problem["detail"])
    assert _stored(client) == []


def test_the_fast_route_takes_posts_only_and_the_schema_keeps_documenting_them(
    client: TestClient,
) -> None:
    """POST /readings is matched by a plain route ahead of the routers
    (`api.readings.router.fast_route`); other methods still reach the documented route."""
    response = client.get("/readings")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    schema = client.get("/openapi.json").json()
    assert list(schema["paths"]["/readings"]) == ["post"]
    assert "201" in schema["paths"]["/readings"]["post"]["responses"]

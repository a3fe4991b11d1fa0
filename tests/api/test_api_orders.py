"""Orders through the API against a real market on Anvil: accepted, refused, listed, cancelled."""

from __future__ import annotations

from conftest import Clock, interval_at, make_household
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.auth import sign_personal
from api.orders.models import OrderRow
from api.orders.service import cancel_message
from ledger.chain import Sender
from ledger.deployment import Deployment

PROBLEM = "application/problem+json"


def _problem(response: object, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["type"] == f"urn:quartier:problem:{slug}"
    assert body["status"] == status
    return body


def _count(client: TestClient) -> int:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        return len(session.exec(select(OrderRow)).all())


def test_order_lifecycle_in_the_book(
    client: TestClient, manager: Sender, community: Deployment, clock: Clock
) -> None:
    seller = make_household(manager, community, 0)
    buyer = make_household(manager, community, 1_000)
    k = interval_at(clock) + 2
    sell = seller.order("sell", k, 2_000, 100, nonce=1)
    buy = buyer.order("buy", k, 1_000, 250, nonce=1)
    created = client.post("/orders", json=sell)
    assert created.status_code == 201, created.text
    assert client.post("/orders", json=sell).status_code == 200  # idempotent
    assert client.post("/orders", json=buy).status_code == 201
    book = client.get(f"/intervals/{k}/orders").json()
    assert [(o["side"], o["energy_wh"]) for o in book["orders"]] == [
        ("sell", 2_000),
        ("buy", 1_000),
    ]
    assert book["gate_closes_at"] == k * 900
    order_hash = created.json()["order_hash"]
    wrong = sign_personal(buyer.account.key.hex(), cancel_message(order_hash))
    _problem(
        client.post(f"/orders/{order_hash}/cancel", json={"signature": wrong}), 403, "forbidden"
    )
    right = sign_personal(seller.account.key.hex(), cancel_message(order_hash))
    cancelled = client.post(f"/orders/{order_hash}/cancel", json={"signature": right})
    assert cancelled.json()["status"] == "cancelled"


def test_budget_counts_open_orders(
    client: TestClient, manager: Sender, community: Deployment, clock: Clock
) -> None:
    buyer = make_household(manager, community, 1_000)  # 1,000 units
    k = interval_at(clock) + 2
    # 2,000 Wh at 300/kWh locks 600 units; a second one would need 1,200 in all.
    assert client.post("/orders", json=buyer.order("buy", k, 2_000, 300, 1)).status_code == 201
    problem = _problem(
        client.post("/orders", json=buyer.order("buy", k + 1, 2_000, 300, 2)),
        409,
        "insufficient-escrow",
    )
    assert (problem["needed_units"], problem["free_units"], problem["open_orders_units"]) == (
        600,
        1_000,
        600,
    )
    # 1,333 Wh at 300/kWh rounds up to 400 units: exactly what is left.
    assert client.post("/orders", json=buyer.order("buy", k + 1, 1_333, 300, 3)).status_code == 201
    assert _count(client) == 2


def test_refusals_store_nothing(
    client: TestClient, manager: Sender, community: Deployment, clock: Clock
) -> None:
    member = make_household(manager, community, 100)
    outsider = make_household(manager, community, 0, admit=False)
    k = interval_at(clock) + 2
    _problem(client.post("/orders", json=outsider.order("sell", k, 10, 1, 1)), 403, "not-member")
    closed = member.order("sell", interval_at(clock), 10, 1, 1)
    _problem(client.post("/orders", json=closed), 409, "interval-closed")
    forged = member.order("sell", k, 10, 1, 1)
    forged["energy_wh"] = 11
    _problem(client.post("/orders", json=forged), 422, "invalid-order-signature")
    member.market.cancel_nonce(7)
    _problem(client.post("/orders", json=member.order("sell", k, 10, 1, 7)), 409, "nonce-used")
    bad = member.order("sell", k, 10, 1, 2)
    bad["side"] = "hold"
    _problem(client.post("/orders", json=bad), 422, "validation-failed")
    assert _count(client) == 0
    assert client.post("/orders", json=member.order("sell", k, 10, 1, 2)).status_code == 201
    _problem(client.post("/orders", json=member.order("sell", k, 20, 1, 2)), 409, "nonce-used")

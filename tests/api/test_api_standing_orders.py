"""Standing orders: pre-signed orders enter the book at their gate; cancel stops the rest."""

from __future__ import annotations

from conftest import Clock, make_household, warp_chain
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.auth import sign_personal
from api.orders.models import OrderRow
from api.orders.standing import cancel_standing_message
from api.worker.service import WorkerContext, run_pass
from ledger.chain import Sender
from ledger.deployment import Deployment
from metering.reading import INTERVAL_SECONDS


def _statuses(client: TestClient) -> dict[int, str]:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(select(OrderRow).where(OrderRow.standing_order_id != None)).all()  # noqa: E711
        return {row.interval_id: row.status for row in rows}


def test_standing_sell_trades_then_is_cancelled(
    client: TestClient, manager: Sender, community: Deployment, clock: Clock
) -> None:
    seller = make_household(manager, community, 0)
    buyer = make_household(manager, community, 1_000)
    k = clock.now // INTERVAL_SECONDS + 1
    body = {
        "household": seller.address,
        "side": "sell",
        "energy_wh": 300,
        "price_per_kwh": 50,
        "orders": [seller.order("sell", k + i, 300, 50, nonce=10 + i) for i in range(3)],
    }
    created = client.post("/standing-orders", json=body)
    assert created.status_code == 201, created.text
    standing_id = created.json()["id"]
    assert _statuses(client) == {k: "scheduled", k + 1: "scheduled", k + 2: "scheduled"}
    assert client.get(f"/intervals/{k}/orders").json()["orders"] == []  # not in the book yet
    assert client.post("/orders", json=buyer.order("buy", k, 200, 80, 1)).status_code == 201
    clock.now = k * INTERVAL_SECONDS
    warp_chain(manager, clock.now)
    state = client.app.state  # type: ignore[attr-defined]
    report = run_pass(WorkerContext(state.settings, state.engine, state.ledger, clock))
    assert report.committed == (k,)
    signature = sign_personal(seller.account.key.hex(), cancel_standing_message(standing_id))
    cancelled = client.post(f"/standing-orders/{standing_id}/cancel", json={"signature": signature})
    assert cancelled.json() == {"cancelled_orders": 2}
    assert _statuses(client) == {k: "committed", k + 1: "cancelled", k + 2: "cancelled"}


def test_a_bad_signed_order_stores_nothing(
    client: TestClient, manager: Sender, community: Deployment, clock: Clock
) -> None:
    seller = make_household(manager, community, 0)
    k = clock.now // INTERVAL_SECONDS + 1
    orders = [seller.order("sell", k + i, 300, 50, nonce=i) for i in range(2)]
    orders[1]["energy_wh"] = 301
    body = {
        "household": seller.address,
        "side": "sell",
        "energy_wh": 300,
        "price_per_kwh": 50,
        "orders": orders,
    }
    response = client.post("/standing-orders", json=body)
    assert response.status_code == 422
    assert response.json()["type"] == "urn:quartier:problem:malformed-order"
    assert _statuses(client) == {}

"""The worker on Anvil: orders → clear at the gate → commit → readings → settle, restart-safe."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import Clock, Household, Meter, make_household, warp_chain
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.readings.models import ReadingRow
from api.worker.models import IntervalRow, IntervalStatus
from api.worker.service import PassReport, WorkerContext, run_pass
from ledger.chain import Sender
from ledger.deployment import Deployment
from ledger.registry import RegistryClient
from metering.reading import INTERVAL_SECONDS


def _meter_of(household: Household, registry: RegistryClient, community: Deployment) -> Meter:
    meter = Meter(
        ec.generate_private_key(ec.SECP256R1()),
        community.chain_id,
        community.address("QuartierMarket"),
    )
    registry.admit_meter(household.address, meter.public.x, meter.public.y)
    return meter


def _context(client: TestClient, clock: Clock) -> WorkerContext:
    state = client.app.state  # type: ignore[attr-defined]
    return WorkerContext(state.settings, state.engine, state.ledger, clock)


def _interval(client: TestClient, interval_id: int) -> IntervalRow | None:
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        return session.get(IntervalRow, interval_id)


@pytest.fixture
def traded(
    client: TestClient,
    manager: Sender,
    community: Deployment,
    registry: RegistryClient,
    clock: Clock,
) -> tuple[int, Household, Household]:
    """Interval k with one sell (2,000 Wh ≥ 100) and one buy (1,000 Wh ≤ 250), and readings:
    the seller exported 1,500 Wh in k, the buyer imported only 800 Wh."""
    seller = make_household(manager, community, 0)
    buyer = make_household(manager, community, 1_000)
    k = clock.now // INTERVAL_SECONDS + 1
    assert client.post("/orders", json=seller.order("sell", k, 2_000, 100, 1)).status_code == 201
    assert client.post("/orders", json=buyer.order("buy", k, 1_000, 250, 1)).status_code == 201
    seller_meter = _meter_of(seller, registry, community)
    buyer_meter = _meter_of(buyer, registry, community)
    clock.now = (k + 1) * INTERVAL_SECONDS + 1
    warp_chain(manager, clock.now)
    for meter, (imp0, exp0, imp1, exp1) in (
        (seller_meter, (100, 5_000, 150, 6_500)),
        (buyer_meter, (7_000, 0, 7_800, 0)),
    ):
        assert client.post("/readings", json=meter.reading(k - 1, imp0, exp0, 1)).status_code == 201
        assert client.post("/readings", json=meter.reading(k, imp1, exp1, 2)).status_code == 201
    return k, seller, buyer


def test_one_pass_clears_commits_and_settles(
    client: TestClient, clock: Clock, traded: tuple[int, Household, Household]
) -> None:
    k, seller, buyer = traded
    report = run_pass(_context(client, clock))
    assert report == PassReport((k,), (k,), 4, (k,))
    interval = _interval(client, k)
    assert interval is not None
    # Pay-as-clear: (100 + 250) // 2 = 175/kWh; 800 of the 1,000 Wh traded were delivered
    # (the buyer imported 800), paying floor(800 * 175 / 1000) = 140 units.
    assert (interval.status, interval.clearing_price_per_kwh) == (IntervalStatus.SETTLED, 175)
    assert (interval.delivered_wh, interval.paid_units) == (800, 140)
    assert seller.market.escrow_of(seller.address).free_units == 140
    assert buyer.market.escrow_of(buyer.address).free_units == 1_000 - 140
    assert buyer.market.escrow_of(buyer.address).locked_units == 0
    assert run_pass(_context(client, clock)) == PassReport((), (), 0, ())
    book = client.get(f"/intervals/{k}/orders").json()["orders"]
    assert {order["status"] for order in book} == {"committed"}


def test_restart_after_lost_db_writes_repeats_nothing(
    client: TestClient, clock: Clock, traded: tuple[int, Household, Household]
) -> None:
    """Everything happened on-chain but the DB lost the worker's updates (a crash after each
    transaction): the next pass recognises every step as done instead of redoing it."""
    k, seller, _ = traded
    run_pass(_context(client, clock))
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        interval = session.get(IntervalRow, k)
        assert interval is not None
        interval.status = IntervalStatus.CLEARED
        session.add(interval)
        for row in session.exec(select(ReadingRow)).all():
            row.submitted = False
            session.add(row)
        session.commit()
    report = run_pass(_context(client, clock))
    assert report.committed == (k,)
    assert report.readings_submitted == 0
    assert report.settled == (k,)
    assert seller.market.escrow_of(seller.address).free_units == 140  # paid once


def test_settlement_waits_for_grace_and_readings(
    client: TestClient,
    manager: Sender,
    community: Deployment,
    registry: RegistryClient,
    clock: Clock,
) -> None:
    seller = make_household(manager, community, 0)
    buyer = make_household(manager, community, 1_000)
    k = clock.now // INTERVAL_SECONDS + 1
    client.post("/orders", json=seller.order("sell", k, 500, 50, 1))
    client.post("/orders", json=buyer.order("buy", k, 500, 60, 1))
    _meter_of(seller, registry, community)
    clock.now = (k + 1) * INTERVAL_SECONDS + 1
    warp_chain(manager, clock.now)
    context = _context(client, clock)
    context = replace(context, settings=replace(context.settings, grace_seconds=600))
    assert run_pass(context) == PassReport((k,), (k,), 0, ())
    clock.now += 600
    assert run_pass(context).settled == ()  # no readings: still committed, not settled
    interval = _interval(client, k)
    assert interval is not None
    assert interval.status == IntervalStatus.COMMITTED

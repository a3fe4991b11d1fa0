"""Protocol v2's lifecycle through the served app, its relayer loop running in the lifespan.

As `quartier serve` runs it (`create_app` with `run_relayer`): households POST signed
schedules, the relayer loop posts them before their gates without being asked, the chain moves
past the period, meters POST their signed period batches, the loop settles the period. The
settlement is checked where it really happened, on the chain: the period is settled, each
household's escrow moved by what `api.settlement` predicts from the same facts (money
conserved, nothing left locked), and the households' own views (escrow, schedules,
settlements) say the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient
from v2_api_world import GRID, RULES, Member, V2World, v2_world

from api import settlement
from api.app import create_app
from api.relayer.context import V2Chain
from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.schedules import NO_ENTRY, Entry, EntrySide, Schedule

pytestmark = pytest.mark.integration

FUNDS_UNITS = 1_000_000
START = (10_000, 20_000)
#: Two sellers and two buyers; one entry each in the period's first two intervals.
PLANS: list[list[Entry]] = [
    [Entry(EntrySide.SELL, 1_000, 100_000), Entry(EntrySide.SELL, 400, 120_000)],
    [Entry(EntrySide.SELL, 300, 90_000), NO_ENTRY],
    [Entry(EntrySide.BUY, 600, 200_000), Entry(EntrySide.BUY, 200, 180_000)],
    [Entry(EntrySide.BUY, 900, 150_000), Entry(EntrySide.BUY, 300, 300_000)],
]
#: What each meter measured (import, export) per interval of the period.
DELTAS: list[list[tuple[int, int]]] = [
    [(0, 1_000), (0, 350), (0, 0), (0, 0)],
    [(0, 300), (0, 0), (0, 0), (0, 0)],
    [(600, 0), (150, 0), (0, 0), (0, 0)],
    [(800, 0), (300, 0), (0, 0), (0, 0)],
]


def _until(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the relayer loop did not get there in time"
        time.sleep(0.2)


def _login(client: TestClient, member: Member) -> dict[str, str]:
    challenge = client.post("/auth/challenge", json={"address": member.address}).json()
    signed = Account.sign_message(encode_defunct(text=challenge["message"]), member.account.key)
    response = client.post(
        "/auth/token",
        json={"nonce": challenge["nonce"], "signature": "0x" + bytes(signed.signature).hex()},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _expected(world: V2World, members: list[Member], period: int) -> settlement.PeriodSettlement:
    inputs = []
    for member, plan, deltas in zip(members, PLANS, DELTAS, strict=True):
        membership = world.community.membership(member.address)
        meter = world.community.meter(member.meters[0].meter_id).window
        schedule = Schedule(member.address, period, 1, GRID.first_interval(period), tuple(plan))
        inputs.append(
            settlement.HouseholdInput(
                member.address,
                settlement.Window(membership.admitted_at, membership.removed_at),
                [settlement.Posting(*schedule.as_posting())],
                [
                    settlement.MeterInput(
                        settlement.Window(meter.admitted_at, meter.removed_at),
                        settlement.encode_deltas(deltas),
                    )
                ],
            )
        )
    return settlement.settle_period(
        settlement.Rules.of(RULES), settlement.TimeGrid.of(GRID), period, inputs
    )


def test_schedule_posted_batched_and_settled_by_the_served_relayer(
    manager: Sender, anvil: AnvilNode, new_database: Callable[[], str]
) -> None:
    with v2_world(manager, anvil.url, new_database()) as world:
        members = [world.member(FUNDS_UNITS) for _ in PLANS]
        served = world.chain.settings.model_copy(
            update={
                "database_url": new_database(),
                "run_relayer": True,
                "relayer_poll_seconds": 1,
            }
        )
        chain = V2Chain.of(world.chain.sender, world.deployment, served)
        app = create_app(served, chain=chain, clock=lambda: 0)
        with TestClient(app) as client:
            period = world.open_period()
            hashes = []
            for member, plan in zip(members, PLANS, strict=True):
                body = world.schedule_body(member, period, plan)
                response = client.post("/schedules", json=body)
                assert response.status_code == 201, response.text
                hashes.append(response.json()["schedule_hash"])

            def posted() -> bool:
                found = [client.get(f"/schedules/{h}").json()["status"] for h in hashes]
                return found == ["posted"] * len(hashes)

            _until(posted)  # nobody asked: the lifespan's loop did it
            buyer_lock = world.exchange.escrow_of(members[2].address).locked_units
            assert buyer_lock > 0

            world.warp(GRID.period_end(period))
            for member, deltas in zip(members, DELTAS, strict=True):
                body = world.batch_body(member.meters[0], period, START, deltas)
                response = client.post("/meter-batches", json=body)
                assert response.status_code == 201, response.text
            _until(lambda: world.exchange.is_settled(period))

            expected = _expected(world, members, period)
            changes = [expected.household(m.address).change_units for m in members]
            assert sum(changes) == 0  # what sellers got, buyers paid
            assert changes[0] > 0  # energy really changed hands
            assert changes[3] < 0
            for member, change in zip(members, changes, strict=True):
                escrow = world.exchange.escrow_of(member.address)
                assert (escrow.free_units, escrow.locked_units) == (FUNDS_UNITS + change, 0)
                auth = _login(client, member)
                view: dict[str, Any] = client.get(
                    f"/households/{member.address}/escrow", headers=auth
                ).json()
                assert view["free_units"] == FUNDS_UNITS + change
                (settled,) = client.get(
                    f"/households/{member.address}/settlements", headers=auth
                ).json()
                assert (settled["period_id"], settled["change_units"]) == (period, change)
                (mine,) = client.get(f"/households/{member.address}/schedules", headers=auth).json()
                # Settled on chain: the household's view says so, with the period's outcome.
                assert mine["status"] == "settled"
                assert mine["settlement"]["change_units"] == change

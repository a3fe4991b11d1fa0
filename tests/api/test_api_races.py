"""What SQLite's single writer gave for free, held on every database (`database_url`: SQLite
and PostgreSQL): requests racing in threads of one app get one winner. A signed challenge
yields one token; identical schedules and identical readings are stored once, every other
copy answered with the stored resource; never a database 5xx."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import Clock, Meter, interval_at
from eth_account import Account
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from v2_api_world import V2World, v2_world

from api.auth import sign_personal
from api.readings.models import ReadingRow
from api.schedules.models import ScheduleRow
from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.schedules import Entry, EntrySide

RACERS = 8
ROUNDS = 3


def _together(send: Callable[[], httpx.Response]) -> list[int]:
    """`send` from RACERS threads released at once, then once more alone: the statuses,
    sorted. A request that ran out of its chain deadline on a loaded machine (503
    chain-unreachable, before any write) is left out; any other 5xx fails the test."""
    barrier = threading.Barrier(RACERS)
    responses: list[httpx.Response] = []

    def racer() -> None:
        barrier.wait(timeout=60)
        responses.append(send())

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    responses.append(send())
    slow_chain = [r for r in responses if r.status_code == 503 and "chain" in r.json()["type"]]
    statuses = sorted(r.status_code for r in responses if r not in slow_chain)
    assert len(statuses) + len(slow_chain) == RACERS + 1
    assert all(status < 500 for status in statuses), [r.text for r in responses]
    return statuses


def _one_won(statuses: list[int]) -> bool:
    return statuses == [200] * (len(statuses) - 1) + [201]


@pytest.fixture
def world(manager: Sender, anvil: AnvilNode, database_url: str) -> Iterator[V2World]:
    with v2_world(manager, anvil.url, database_url) as world:
        yield world


def test_one_signed_challenge_yields_one_token(client: TestClient) -> None:
    account = Account.create()
    for _round in range(ROUNDS):
        challenge = client.post("/auth/challenge", json={"address": account.address}).json()
        body = {
            "nonce": challenge["nonce"],
            "signature": sign_personal("0x" + bytes(account.key).hex(), challenge["message"]),
        }
        statuses = _together(functools.partial(client.post, "/auth/token", json=body))
        assert statuses == [200] + [401] * (len(statuses) - 1)


def test_identical_schedules_racing_are_stored_once(world: V2World) -> None:
    period = world.open_period()
    for _round in range(ROUNDS):
        member = world.member(funds_units=1_000_000, meters=0)
        body: dict[str, Any] = world.schedule_body(
            member, period, [Entry(EntrySide.BUY, 1_000, 200_000)]
        )
        statuses = _together(functools.partial(world.client.post, "/schedules", json=body))
        assert _one_won(statuses), statuses
        with Session(world.client.app.state.engine) as session:  # type: ignore[attr-defined]
            stored = session.exec(
                select(ScheduleRow).where(ScheduleRow.household == member.address)
            ).all()
        assert len(stored) == 1


def test_identical_readings_racing_are_stored_once(
    client: TestClient, meter: Meter, clock: Clock
) -> None:
    k = interval_at(clock)
    for seq in range(1, ROUNDS + 1):
        body = meter.reading(k - 1 - ROUNDS + seq, 100 * seq, 10 * seq, seq=seq)
        statuses = _together(functools.partial(client.post, "/readings", json=body))
        assert _one_won(statuses), statuses
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        stored = session.exec(select(ReadingRow)).all()
    assert sorted(row.seq for row in stored) == list(range(1, ROUNDS + 1))

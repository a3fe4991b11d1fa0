"""POST /schedules against a real v2 community on Anvil: what is accepted is what the exchange
will take, and every attack is a precise problem with nothing stored (issues 11 and 12)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from v2_api_world import GRID, RELAY_MARGIN_SECONDS, RULES, Member, V2World, problem, v2_world

from api.schedules import service
from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.schedules import NO_ENTRY, Entry, EntrySide
from ledger.signatures import SECP256K1_N

pytestmark = pytest.mark.integration

FUNDS_UNITS = 1_000_000
BUY = Entry(EntrySide.BUY, 1_000, 200_000)  # locks 200_000 units
SELL = Entry(EntrySide.SELL, 2_000, 60_000)


@pytest.fixture
def world(manager: Sender, anvil: AnvilNode, database_url: str) -> Iterator[V2World]:
    with v2_world(manager, anvil.url, database_url) as world:
        yield world


@pytest.fixture
def buyer(world: V2World) -> Member:
    return world.member(funds_units=FUNDS_UNITS)


def _book(world: V2World, period_id: int) -> list[dict[str, Any]]:
    response = world.client.get(f"/periods/{period_id}/schedules")
    assert response.status_code == 200
    schedules: list[dict[str, Any]] = response.json()["schedules"]
    return schedules


def test_a_signed_schedule_is_stored_once_and_listed_in_the_book(
    world: V2World, buyer: Member
) -> None:
    period = world.open_period()
    body = world.schedule_body(buyer, period, [BUY, NO_ENTRY, SELL])
    first = world.client.post("/schedules", json=body)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert stored["status"] == "pending"
    assert stored["lock_units"] == 200_000
    assert [e["side"] for e in stored["entries"]] == ["buy", "none", "sell"]
    # The same signed schedule again: the same resource, 200, nothing new stored.
    again = world.client.post("/schedules", json=body)
    assert again.status_code == 200
    assert again.json() == stored
    assert [s["schedule_hash"] for s in _book(world, period)] == [stored["schedule_hash"]]
    one = world.client.get(f"/schedules/{stored['schedule_hash']}")
    assert one.status_code == 200
    assert one.json() == stored


def test_forged_signature_is_refused(world: V2World, buyer: Member) -> None:
    period = world.open_period()
    intruder = world.member()
    forged = world.schedule_body(intruder, period, [BUY])
    forged["household"] = buyer.address  # signed by the intruder, claiming the buyer
    body = problem(world.client.post("/schedules", json=forged), 422, "invalid-schedule-signature")
    # The digest covers the household: the signature recovers neither of them.
    assert body["signer"] not in (buyer.address, None)
    assert _book(world, period) == []


@pytest.mark.parametrize("twist", ["high-s", "v0", "v35", "short"])
def test_non_canonical_signatures_are_refused(world: V2World, buyer: Member, twist: str) -> None:
    period = world.open_period()
    body = world.schedule_body(buyer, period, [BUY])
    raw = bytes.fromhex(body["signature"][2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    if twist == "high-s":  # the twin (r, n - s, flipped v) recovers the same key
        raw = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
        rule = "high-s"
    elif twist == "v0":
        raw = raw[:64] + bytes([v - 27])
        rule = "v"
    elif twist == "v35":
        raw = raw[:64] + bytes([v + 8])
        rule = "v"
    else:
        raw, rule = raw[:64] + b"\x00", "v"
    body["signature"] = "0x" + raw.hex()
    refused = problem(world.client.post("/schedules", json=body), 422, "invalid-schedule-signature")
    assert refused["rule"] == rule
    assert _book(world, period) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("entries", 0, "energy_wh"), 1000.0),
        (("entries", 0, "energy_wh"), "1000"),
        (("entries", 0, "energy_wh"), True),
        (("entries", 0, "energy_wh"), 2**24),
        (("entries", 0, "price_per_kwh"), -1),
        (("entries", 0, "price_per_kwh"), 2**32),
        (("entries", 0, "side"), "bid"),
        (("version",), 0),
        (("version",), "1"),
        (("period_id",), 2**63),
        (("household",), "0x1234"),
        (("signature",), "0x00"),
    ],
)
def test_bad_types_and_bounds_are_validation_problems(
    world: V2World, buyer: Member, path: tuple[Any, ...], value: Any
) -> None:
    period = world.open_period()
    body = world.schedule_body(buyer, period, [BUY])
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problem(world.client.post("/schedules", json=body), 422, "validation-failed")
    assert _book(world, period) == []


def test_a_none_entry_with_energy_and_dust_are_refused(world: V2World, buyer: Member) -> None:
    period = world.open_period()
    body = world.schedule_body(buyer, period, [BUY])
    body["entries"][0]["side"] = "none"
    problem(world.client.post("/schedules", json=body), 422, "malformed-schedule")
    dust = world.schedule_body(buyer, period, [Entry(EntrySide.BUY, RULES.min_entry_wh - 1, 1)])
    refused = problem(world.client.post("/schedules", json=dust), 422, "entry-below-minimum")
    assert refused["min_entry_wh"] == RULES.min_entry_wh


def test_entries_must_lie_within_the_period(world: V2World, buyer: Member) -> None:
    period = world.open_period()
    too_many = world.schedule_body(buyer, period, [BUY] * (GRID.period_intervals + 1))
    problem(world.client.post("/schedules", json=too_many), 422, "interval-outside-period")
    last = GRID.first_interval(period) + GRID.period_intervals - 1
    overflowing = world.schedule_body(buyer, period, [BUY, BUY], first_interval_id=last)
    problem(world.client.post("/schedules", json=overflowing), 422, "interval-outside-period")
    elsewhere = world.schedule_body(
        buyer, period, [BUY], first_interval_id=GRID.first_interval(period + 1)
    )
    problem(world.client.post("/schedules", json=elsewhere), 422, "interval-outside-period")
    assert _book(world, period) == []


def test_entries_after_the_gate_and_beyond_the_horizon_are_refused(
    world: V2World, buyer: Member
) -> None:
    period = world.open_period()
    first = GRID.first_interval(period)
    gate = GRID.interval_start(first) - RULES.gate_lead_seconds
    # Inside the relay margin: the chain would still take it, but the relayer may not make it.
    world.warp(gate - RELAY_MARGIN_SECONDS)
    late = problem(
        world.client.post("/schedules", json=world.schedule_body(buyer, period, [BUY])),
        409,
        "gate-closed",
    )
    assert late["gate_closes_at"] == gate
    # A later interval of the same period is still open.
    later = world.schedule_body(buyer, period, [BUY], first_interval_id=first + 2)
    assert world.client.post("/schedules", json=later).status_code == 201
    problem(
        world.client.post("/schedules", json=world.schedule_body(buyer, period + 2, [BUY])),
        409,
        "period-not-open",
    )
    problem(
        world.client.post("/schedules", json=world.schedule_body(buyer, period - 2, [BUY])),
        409,
        "period-not-open",
    )


def test_stale_version_replay_and_conflicting_version_are_409(
    world: V2World, buyer: Member
) -> None:
    period = world.open_period()
    v1 = world.schedule_body(buyer, period, [BUY], version=1)
    v2 = world.schedule_body(buyer, period, [SELL], version=2)
    assert world.client.post("/schedules", json=v1).status_code == 201
    assert world.client.post("/schedules", json=v2).status_code == 201
    # v1 again is the stored resource (idempotent), but another v1 is a conflict and a
    # fresh v2-or-lower schedule is stale.
    assert world.client.post("/schedules", json=v1).status_code == 200
    other_v1 = world.schedule_body(buyer, period, [SELL], version=1)
    problem(world.client.post("/schedules", json=other_v1), 409, "version-conflict")
    other_v2 = world.schedule_body(buyer, period, [NO_ENTRY], version=2)
    problem(world.client.post("/schedules", json=other_v2), 409, "version-conflict")
    world.client.post("/schedules", json=world.schedule_body(buyer, period, [SELL], version=5))
    stale = world.schedule_body(buyer, period, [SELL], version=4)
    assert (
        problem(world.client.post("/schedules", json=stale), 409, "stale-version")["last_version"]
        == 5
    )
    assert [s["version"] for s in _book(world, period)] == [1, 2, 5]


def test_a_non_member_is_refused(world: V2World) -> None:
    period = world.open_period()
    outsider = world.member(admit=False, meters=0)
    problem(
        world.client.post("/schedules", json=world.schedule_body(outsider, period, [SELL])),
        403,
        "not-member",
    )


def test_escrow_promises_add_up_across_pending_schedules(world: V2World, buyer: Member) -> None:
    period = world.open_period()
    four_fifths = Entry(EntrySide.BUY, 4_000, 200_000)  # 800_000 units of 1_000_000
    body = world.schedule_body(buyer, period, [four_fifths], version=1)
    assert world.client.post("/schedules", json=body).status_code == 201
    # v2 needs 800_000 more: the first, still pending, already promises 800_000.
    again = world.schedule_body(buyer, period, [four_fifths], version=2)
    refused = problem(world.client.post("/schedules", json=again), 409, "insufficient-escrow")
    assert (refused["free_units"], refused["promised_units"]) == (FUNDS_UNITS, 800_000)
    fits = world.schedule_body(buyer, period, [Entry(EntrySide.BUY, 1_000, 200_000)], version=3)
    assert world.client.post("/schedules", json=fits).status_code == 201


def _race(
    world: V2World, body: dict[str, Any], barrier: threading.Barrier, statuses: list[int]
) -> None:
    barrier.wait()
    statuses.append(world.client.post("/schedules", json=body).status_code)


def test_two_schedules_racing_for_the_same_free_escrow_one_wins(world: V2World) -> None:
    period = world.open_period()
    big = Entry(EntrySide.BUY, 3_000, 200_000)  # 600_000 units each, 1_000_000 free
    for _ in range(3):
        racer = world.member(funds_units=FUNDS_UNITS, meters=0)
        bodies = [world.schedule_body(racer, period, [big], version=n) for n in (1, 2)]
        barrier = threading.Barrier(2)
        statuses: list[int] = []
        threads = [
            threading.Thread(target=_race, args=(world, body, barrier, statuses)) for body in bodies
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [201, 409], statuses
        mine = [s for s in _book(world, period) if s["household"] == racer.address]
        assert len(mine) == 1


def test_the_intake_bodies_are_documented(world: V2World) -> None:
    # The hot path parses its raw body; the OpenAPI document still states the exact shape
    # (fuzzers and clients generate requests from it).
    paths = world.client.get("/openapi.json").json()["paths"]
    schema = paths["/schedules"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False
    entry = schema["properties"]["entries"]["items"]
    assert set(entry["properties"]["side"]["enum"]) == {"sell", "buy", "none"}
    assert entry["properties"]["energy_wh"]["maximum"] == 2**24 - 1
    assert "/meter-batches" in paths
    assert "/periods/{period_id}/schedules" in paths


def test_a_household_beyond_the_period_cap_is_refused(
    world: V2World, buyer: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The intake mirrors the exchange's MAX_HOUSEHOLDS_PER_PERIOD (read from the contract
    # here); under a cap of one, a second household is refused, the first may post again.
    cap = world.exchange.contract.functions.MAX_HOUSEHOLDS_PER_PERIOD().call()
    assert cap == service.MAX_HOUSEHOLDS_PER_PERIOD == 255
    monkeypatch.setattr(service, "MAX_HOUSEHOLDS_PER_PERIOD", 1)
    period = world.open_period()
    seller = world.member(meters=0)
    assert (
        world.client.post("/schedules", json=world.schedule_body(buyer, period, [BUY])).status_code
        == 201
    )
    problem(
        world.client.post("/schedules", json=world.schedule_body(seller, period, [SELL])),
        409,
        "too-many-households",
    )
    again = world.schedule_body(buyer, period, [SELL], version=2)
    assert world.client.post("/schedules", json=again).status_code == 201

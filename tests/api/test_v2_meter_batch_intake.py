"""POST /meter-batches against a real v2 community on Anvil: signed (P-256, low s), chained,
one per (meter, period), refused with a precise problem otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from v2_api_world import GRID, Member, V2World, problem, v2_world

from ledger.anvil import AnvilNode
from ledger.chain import Sender
from metering.reading import P256_ORDER, PublicKey

pytestmark = pytest.mark.integration

START = (10_000, 20_000)
DELTAS = [(100, 0), (0, 250), (5, 5), (0, 0)]


@pytest.fixture
def world(manager: Sender, anvil: AnvilNode, database_url: str) -> Iterator[V2World]:
    with v2_world(manager, anvil.url, database_url) as world:
        yield world


@pytest.fixture
def household(world: V2World) -> Member:
    return world.member()


def _ended_period(world: V2World) -> int:
    """A period the household's meter counts for, ended on chain."""
    period = world.open_period()
    world.warp(GRID.period_end(period))
    return period


def test_a_batch_is_stored_once_and_a_conflicting_one_is_409(
    world: V2World, household: Member
) -> None:
    period = _ended_period(world)
    meter = household.meters[0]
    body = world.batch_body(meter, period, START, DELTAS)
    first = world.client.post("/meter-batches", json=body)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert (stored["end_import_wh"], stored["end_export_wh"]) == (10_105, 20_255)
    assert stored["household"] == household.address
    again = world.client.post("/meter-batches", json=body)
    assert (again.status_code, again.json()) == (200, stored)
    other = world.batch_body(meter, period, START, [(1, 1)] * 4)
    problem(world.client.post("/meter-batches", json=other), 409, "conflicting-meter-batch")
    read = world.client.get(f"/meters/{body['meter_id']}/batches/{period}")
    assert read.json() == stored


def test_batches_chain_from_the_last_accepted_one(world: V2World, household: Member) -> None:
    period = _ended_period(world)
    meter = household.meters[0]
    assert world.client.post(
        "/meter-batches", json=world.batch_body(meter, period, START, DELTAS)
    ).is_success
    world.warp(GRID.period_end(period + 1))
    # The next period starts where this one ended, exactly.
    off = world.batch_body(meter, period + 1, (10_105, 20_254), DELTAS)
    refused = problem(world.client.post("/meter-batches", json=off), 409, "batch-not-chained")
    assert (refused["end_import_wh"], refused["end_export_wh"]) == (10_105, 20_255)
    world.warp(GRID.period_end(period + 3))
    # After a gap the registers may have moved on, never back.
    back = world.batch_body(meter, period + 3, (10_104, 20_300), DELTAS)
    problem(world.client.post("/meter-batches", json=back), 409, "batch-not-chained")
    gap = world.batch_body(meter, period + 3, (10_200, 20_300), DELTAS)
    assert world.client.post("/meter-batches", json=gap).status_code == 201
    # An older period after a later one can never be accepted on chain.
    late = world.batch_body(meter, period + 1, (10_105, 20_255), DELTAS)
    problem(world.client.post("/meter-batches", json=late), 409, "batch-not-chained")


def test_signature_key_and_meter_are_checked(world: V2World, household: Member) -> None:
    period = _ended_period(world)
    meter = household.meters[0]
    body = world.batch_body(meter, period, START, DELTAS)
    high_s = dict(body, signature=dict(body["signature"]))
    high_s["signature"]["s"] = f"0x{P256_ORDER - int(body['signature']['s'], 16):064x}"
    problem(world.client.post("/meter-batches", json=high_s), 422, "invalid-meter-batch-signature")
    tampered = world.batch_body(meter, period, START, DELTAS)
    tampered["deltas"][1]["export_wh"] += 1
    problem(
        world.client.post("/meter-batches", json=tampered), 422, "invalid-meter-batch-signature"
    )
    stranger = PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256R1()).public_key())
    wrong_key = dict(body, public_key={"x": f"0x{stranger.x:064x}", "y": f"0x{stranger.y:064x}"})
    problem(world.client.post("/meter-batches", json=wrong_key), 422, "wrong-public-key")
    unknown = dict(body, meter_id="0x" + "ab" * 32)
    problem(world.client.post("/meter-batches", json=unknown), 422, "unknown-meter")
    assert world.client.get(f"/meters/{body['meter_id']}/batches/{period}").status_code == 404


def test_period_must_be_over_and_the_meter_counting(world: V2World, household: Member) -> None:
    period = world.open_period()
    meter = household.meters[0]
    body = world.batch_body(meter, period, START, DELTAS)
    refused = problem(world.client.post("/meter-batches", json=body), 409, "period-not-over")
    assert refused["ends_at"] == GRID.period_end(period)
    # A meter admitted after the period began counts for none of it.
    world.warp(GRID.period_end(period) - 10)
    newcomer = world.member()
    world.warp(GRID.period_end(period))
    late = world.batch_body(newcomer.meters[0], period, START, DELTAS)
    problem(world.client.post("/meter-batches", json=late), 409, "meter-outside-period")


@pytest.mark.parametrize(
    "twist", ["float", "string", "negative", "over-uint32", "missing-key", "extra-key"]
)
def test_bad_types_are_validation_problems(world: V2World, household: Member, twist: str) -> None:
    period = _ended_period(world)
    body = world.batch_body(household.meters[0], period, START, DELTAS)
    delta = body["deltas"][0]
    if twist == "float":
        delta["import_wh"] = 100.0
    elif twist == "string":
        delta["import_wh"] = "100"
    elif twist == "negative":
        delta["import_wh"] = -1
    elif twist == "over-uint32":
        delta["import_wh"] = 2**32
    elif twist == "missing-key":
        del body["public_key"]
    else:
        body["meter"] = "x"
    problem(world.client.post("/meter-batches", json=body), 422, "validation-failed")


def test_a_batch_covers_the_whole_period(world: V2World, household: Member) -> None:
    period = _ended_period(world)
    short = world.batch_body(household.meters[0], period, START, DELTAS[:3])
    problem(world.client.post("/meter-batches", json=short), 422, "bad-deltas")

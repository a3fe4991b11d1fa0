"""The v2 relayer on a real Anvil node behind the API: schedules posted before their gates,
periods settled as `api.settlement` predicts, and failures isolated (a poisoned schedule, a
missing meter batch, a period the DB cannot rebuild, a crash between mining and recording)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_typing import HexStr
from sqlmodel import Session
from v2_api_world import GRID, RULES, Member, V2World, v2_world
from web3 import Web3
from web3.types import Nonce, Wei

from api import settlement
from api.relayer.models import PeriodRow, PeriodStatus
from api.relayer.runner import RelayerLoop
from ledger.anvil import AnvilNode
from ledger.chain import Sender, encode_call
from ledger.schedules import NO_ENTRY, Entry, EntrySide, Schedule, SignedSchedule, sign_schedule
from metering.period import MeterPeriod, sign_meter_period

pytestmark = pytest.mark.integration

FUNDS_UNITS = 1_000_000
SELL = Entry(EntrySide.SELL, 1_000, 100_000)
BUY = Entry(EntrySide.BUY, 600, 200_000)  # locks 120_000 units
START = (10_000, 20_000)


@pytest.fixture
def world(manager: Sender, anvil: AnvilNode, database_url: str) -> Iterator[V2World]:
    with v2_world(manager, anvil.url, database_url) as world:
        yield world


def _post(
    world: V2World, member: Member, period: int, entries: list[Entry], version: int = 1
) -> str:
    response = world.client.post(
        "/schedules", json=world.schedule_body(member, period, entries, version)
    )
    assert response.status_code == 201, response.text
    schedule_hash: str = response.json()["schedule_hash"]
    return schedule_hash


def _schedule(world: V2World, schedule_hash: str) -> dict[str, Any]:
    found: dict[str, Any] = world.client.get(f"/schedules/{schedule_hash}").json()
    return found


def _batch(world: V2World, member: Member, period: int, deltas: list[tuple[int, int]]) -> None:
    body = world.batch_body(member.meters[0], period, START, deltas)
    response = world.client.post("/meter-batches", json=body)
    assert response.status_code == 201, response.text


def test_schedules_posted_batches_stored_period_settled_as_predicted(world: V2World) -> None:
    seller, buyer = world.member(FUNDS_UNITS), world.member(FUNDS_UNITS)
    period = world.open_period()
    sold = _post(world, seller, period, [SELL, NO_ENTRY])
    bought = _post(world, buyer, period, [BUY])

    report = world.relayer.run_once()
    assert sorted(report.posting.posted) == sorted([sold, bought])
    assert report.posting.transactions == 1
    for schedule_hash in (sold, bought):
        stored = _schedule(world, schedule_hash)
        assert stored["status"] == "posted"
        assert stored["tx_hash"].startswith("0x")
    assert world.exchange.escrow_of(buyer.address).locked_units == 120_000

    world.warp(GRID.period_end(period))
    seller_deltas = [(0, 800), (0, 0), (0, 0), (0, 0)]
    buyer_deltas = [(600, 0), (5, 0), (0, 0), (0, 0)]
    _batch(world, seller, period, seller_deltas)
    _batch(world, buyer, period, buyer_deltas)
    report = world.relayer.run_once()
    assert report.settled == [period]
    assert world.exchange.is_settled(period)

    # The engine's prediction from the household's own facts.
    def household(member: Member, entries: list[Entry], deltas: list[tuple[int, int]]) -> Any:
        membership = world.community.membership(member.address)
        meter = world.community.meter(member.meters[0].meter_id).window
        schedule = Schedule(member.address, period, 1, GRID.first_interval(period), tuple(entries))
        return settlement.HouseholdInput(
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

    expected = settlement.settle_period(
        settlement.Rules.of(RULES),
        settlement.TimeGrid.of(GRID),
        period,
        [
            household(seller, [SELL, NO_ENTRY], seller_deltas),
            household(buyer, [BUY], buyer_deltas),
        ],
    )
    # By hand: 600 Wh at (100_000 + 200_000) / 2 per kWh = 90_000 units.
    assert expected.household(seller.address).change_units == 90_000
    assert expected.household(buyer.address).change_units == -90_000
    for member in (seller, buyer):
        escrow = world.exchange.escrow_of(member.address)
        change = expected.household(member.address).change_units
        assert (escrow.free_units, escrow.locked_units) == (FUNDS_UNITS + change, 0)
    # A second pass finds nothing to do.
    again = world.relayer.run_once()
    assert (again.settled, again.posting.transactions, again.failed) == ([], 0, {})


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        # No index in the error: the relayer bisects over simulated prefixes.
        ("withdraws", "ExchangeInsufficientFree"),
        # The error names the item's index.
        ("leaves", "ExchangeNotMember"),
    ],
)
def test_a_poisoned_schedule_does_not_stop_the_others(
    world: V2World, caplog: pytest.LogCaptureFixture, poison: str, reason: str
) -> None:
    members = [world.member(FUNDS_UNITS, meters=0) for _ in range(5)]
    period = world.open_period()
    big = Entry(EntrySide.BUY, 4_000, 200_000)  # locks 800_000 of 1_000_000
    hashes = [_post(world, m, period, [big if n % 2 else SELL]) for n, m in enumerate(members)]
    # Posting order is by household address: poison a buyer that is not first in the batch.
    order = sorted(range(5), key=lambda n: members[n].address)
    culprit = next(n for n in order[1:] if n % 2)
    if poison == "withdraws":
        members[culprit].exchange.withdraw(500_000)  # after acceptance: the promise is broken
    else:
        world.community.remove_household(members[culprit].address)
    poisoned = hashes[culprit]
    fine = [h for n, h in enumerate(hashes) if n != culprit]

    with caplog.at_level(logging.WARNING, logger="quartier.relayer"):
        report = world.relayer.run_once()
    assert report.posting.refused == {poisoned: reason}
    assert sorted(report.posting.posted) == sorted(fine)
    assert report.posting.transactions == 2  # the one that reverted, the one that posted
    assert _schedule(world, poisoned)["status"] == "refused"
    assert _schedule(world, poisoned)["reason"] == reason
    assert all(_schedule(world, h)["status"] == "posted" for h in fine)
    assert world.exchange.posting_households(period) == 4
    assert f"refused: {reason}" in caplog.text
    # Refused is final: the next pass sends nothing.
    assert world.relayer.run_once().posting.transactions == 0


def test_a_missing_meter_batch_waits_for_the_deadline_and_nothing_stays_locked(
    world: V2World,
) -> None:
    seller, buyer = world.member(FUNDS_UNITS), world.member(FUNDS_UNITS)
    period = world.open_period()
    _post(world, seller, period, [SELL])
    _post(world, buyer, period, [BUY])
    world.relayer.run_once()
    world.warp(GRID.period_end(period))
    _batch(world, seller, period, [(0, 800), (0, 0), (0, 0), (0, 0)])  # the buyer's never comes

    waiting = world.relayer.run_once()
    assert waiting.settled == []
    assert [w.meter_id for w in waiting.waiting] == ["0x" + buyer.meters[0].meter_id.hex()]
    assert not world.exchange.is_settled(period)
    assert world.exchange.escrow_of(buyer.address).locked_units == 120_000

    world.warp(GRID.settlement_deadline(period, RULES))
    report = world.relayer.run_once()
    assert report.settled == [period]
    # The buyer's meter measured 0 Wh: nothing delivered, no money moves, the lock returns.
    for member in (seller, buyer):
        escrow = world.exchange.escrow_of(member.address)
        assert (escrow.free_units, escrow.locked_units) == (FUNDS_UNITS, 0)


def test_a_crash_between_mining_and_recording_is_reconciled(world: V2World) -> None:
    buyer = world.member(FUNDS_UNITS, meters=0)
    period = world.open_period()
    schedule_hash = _post(world, buyer, period, [BUY])
    # The chain got it (as if the relayer died before writing "posted"): the household
    # posts the very same signed schedule itself.
    stored = _schedule(world, schedule_hash)
    schedule = Schedule(buyer.address, period, 1, stored["first_interval_id"], (BUY,))
    signed = SignedSchedule(schedule, bytes.fromhex(stored["signature"][2:]))
    buyer.exchange.post_schedules([signed])

    report = world.relayer.run_once()
    assert report.posting.transactions == 0
    assert report.posting.refused == {}
    assert _schedule(world, schedule_hash)["status"] == "posted"


def test_a_forced_inclusion_is_read_back_from_the_chain(
    world: V2World, caplog: pytest.LogCaptureFixture
) -> None:
    seller, buyer = world.member(FUNDS_UNITS), world.member(FUNDS_UNITS)
    period = world.open_period()
    _post(world, seller, period, [SELL])
    _post(world, buyer, period, [BUY])
    world.relayer.run_once()
    # The seller withdraws its offer itself (version 2, no entry from the first interval
    # on), straight to the exchange: the service never sees it.
    first = GRID.first_interval(period)
    cancel = Schedule(seller.address, period, 2, first, ())
    seller.exchange.post_schedules(
        [sign_schedule(seller.account.key, cancel, world.chain_id, world.exchange.address)]
    )
    world.warp(GRID.period_end(period))
    _batch(world, seller, period, [(0, 800), (0, 0), (0, 0), (0, 0)])
    _batch(world, buyer, period, [(600, 0), (0, 0), (0, 0), (0, 0)])
    with caplog.at_level(logging.WARNING, logger="quartier.relayer"):
        report = world.relayer.run_once()
    assert report.settled == [period]
    assert "postings rebuilt from the chain" in caplog.text
    with Session(world.relayer.engine) as session:
        settled = session.get(PeriodRow, period)
        assert settled is not None
        # Without the chain's version 2, 600 Wh would have been delivered.
        assert (settled.status, settled.delivered_wh) == (PeriodStatus.SETTLED, 0)
    for member in (seller, buyer):
        escrow = world.exchange.escrow_of(member.address)
        assert (escrow.free_units, escrow.locked_units) == (FUNDS_UNITS, 0)


def _forwarder(world: V2World) -> str:
    """An account whose code forwards any call to the exchange (a relay contract)."""
    target = bytes.fromhex(world.exchange.address[2:])
    code = (
        bytes.fromhex("365f5f37" + "5f5f365f5f" + "73")  # calldatacopy; call's arguments
        + target
        + bytes.fromhex("5af1" + "602657" + "5f5ffd" + "5b00")  # call; jumpi; revert; stop
    )
    address = "0x" + "f0" * 20
    world.manager.w3.provider.make_request("anvil_setCode", [address, "0x" + code.hex()])  # type: ignore[arg-type]
    return Web3.to_checksum_address(address)


def test_a_schedule_posted_through_another_contract_is_read_back_and_settled(
    world: V2World,
) -> None:
    # Before SchedulePosted carried the entries, a schedule posted through a relay contract
    # was in no calldata of the exchange: nobody but its poster could re-supply it, and the
    # period (every buyer's lock with it) was frozen. Now it is read from its event.
    seller, buyer = world.member(FUNDS_UNITS, meters=0), world.member(FUNDS_UNITS, meters=0)
    hidden = world.member(FUNDS_UNITS, meters=0)
    period = world.open_period()
    _post(world, seller, period, [SELL])
    _post(world, buyer, period, [BUY])
    world.relayer.run_once()
    schedule = Schedule(hidden.address, period, 1, GRID.first_interval(period), (SELL,))
    signed = sign_schedule(hidden.account.key, schedule, world.chain_id, world.exchange.address)
    call = world.exchange.contract.functions.postSchedules([signed.as_abi()])
    w3 = world.manager.w3
    Sender(w3, hidden.account).send_signed(
        {
            "to": _forwarder(world),
            "data": HexStr("0x" + encode_call(call).hex()),
            "value": Wei(0),
            "gas": 3_000_000,
            "nonce": Nonce(w3.eth.get_transaction_count(hidden.address)),
            "chainId": world.chain_id,
            "type": 2,
            "maxFeePerGas": Wei(10**11),
            "maxPriorityFeePerGas": Wei(10**9),
        }
    )
    assert world.exchange.posting_households(period) == 3
    world.warp(GRID.period_start(period))  # the next period opens
    _post(world, seller, period + 1, [SELL])
    _post(world, buyer, period + 1, [BUY])
    world.relayer.run_once()

    world.warp(GRID.settlement_deadline(period + 1, RULES))
    report = world.relayer.run_once()
    assert (report.failed, report.settled) == ({}, [period, period + 1])
    assert world.exchange.is_settled(period)
    for member in (seller, buyer, hidden):
        assert world.exchange.escrow_of(member.address).locked_units == 0
    with Session(world.relayer.engine) as session:
        row = session.get(PeriodRow, period)
        assert row is not None
        assert row.status == PeriodStatus.SETTLED


def test_a_batch_posted_straight_to_the_exchange_is_read_back(world: V2World) -> None:
    seller, buyer = world.member(FUNDS_UNITS), world.member(FUNDS_UNITS)
    period = world.open_period()
    _post(world, seller, period, [SELL])
    _post(world, buyer, period, [BUY])
    world.relayer.run_once()
    world.warp(GRID.period_end(period))
    _batch(world, seller, period, [(0, 800), (0, 0), (0, 0), (0, 0)])
    # The buyer's meter agent posts its batch to the exchange, not to the service: the
    # settlement must re-supply exactly that batch, from the posting's calldata.
    deltas = ((600, 0), (0, 0), (0, 0), (0, 0))
    batch = MeterPeriod(buyer.meters[0].meter_id, period, *START, deltas)
    buyer.exchange.post_meter_batches(
        [sign_meter_period(buyer.meters[0].key, batch, world.chain_id, world.exchange.address)]
    )
    report = world.relayer.run_once()
    assert report.settled == [period]
    with Session(world.relayer.engine) as session:
        settled = session.get(PeriodRow, period)
        assert settled is not None
        assert settled.delivered_wh == 600
    assert world.exchange.escrow_of(buyer.address).free_units == FUNDS_UNITS - 90_000


def test_the_relayer_loop_posts_in_the_background(world: V2World) -> None:
    buyer = world.member(FUNDS_UNITS, meters=0)
    period = world.open_period()
    loop = RelayerLoop(world.relayer, poll_seconds=0.2).start()
    try:
        schedule_hash = _post(world, buyer, period, [BUY])
        deadline = time.monotonic() + 20
        while _schedule(world, schedule_hash)["status"] == "pending":
            assert time.monotonic() < deadline, "the loop never posted the schedule"
            time.sleep(0.1)
    finally:
        loop.stop()
    assert _schedule(world, schedule_hash)["status"] == "posted"
    assert world.exchange.posting_households(period) == 1


def test_a_period_posted_only_by_households_themselves_is_settled(world: V2World) -> None:
    seller, buyer = world.member(FUNDS_UNITS), world.member(FUNDS_UNITS)
    period = world.open_period()
    first = GRID.first_interval(period)
    for member, entry in ((seller, SELL), (buyer, BUY)):
        schedule = Schedule(member.address, period, 1, first, (entry,))
        member.exchange.post_schedules(
            [sign_schedule(member.account.key, schedule, world.chain_id, world.exchange.address)]
        )
    assert world.exchange.escrow_of(buyer.address).locked_units == 120_000
    assert world.client.get(f"/periods/{period}/schedules").json()["schedules"] == []
    world.warp(GRID.period_end(period))
    waiting = world.relayer.run_once()  # the meters' data may still come until the deadline
    assert (waiting.settled, [w.period_id for w in waiting.waiting]) == ([], [period])
    world.warp(GRID.settlement_deadline(period, RULES))
    assert world.relayer.run_once().settled == [period]
    assert world.exchange.escrow_of(buyer.address).locked_units == 0


def test_a_schedule_whose_gate_passed_before_posting_is_refused_without_a_transaction(
    world: V2World,
) -> None:
    buyer = world.member(FUNDS_UNITS, meters=0)
    period = world.open_period()
    big = Entry(EntrySide.BUY, 4_000, 200_000)  # promises 800_000 of 1_000_000
    late = _post(world, buyer, period, [big])
    # The relayer was down until after the first gate.
    world.warp(GRID.interval_start(GRID.first_interval(period)) - RULES.gate_lead_seconds)
    report = world.relayer.run_once()
    assert report.posting.refused == {late: "ExchangeGateClosed"}
    assert report.posting.transactions == 0
    # Its promise is released: a schedule for a later interval may use the escrow again.
    again = world.schedule_body(
        buyer, period, [big], version=2, first_interval_id=GRID.first_interval(period) + 3
    )
    assert world.client.post("/schedules", json=again).status_code == 201


def test_a_later_period_waits_for_an_open_earlier_one_then_both_settle_in_order(
    world: V2World,
) -> None:
    # A meter's batch may not skip an open period (IQuartierExchange): with the buyer's batch
    # of P missing, P + 1 (all its batches in) waits too instead of failing on chain; at P's
    # deadline P settles (the buyer's meter measures 0 Wh there) and then P + 1, in order.
    seller, buyer = world.member(FUNDS_UNITS), world.member(FUNDS_UNITS)
    period = world.open_period()
    _post(world, seller, period, [SELL])
    _post(world, buyer, period, [BUY])
    world.relayer.run_once()
    world.warp(GRID.period_start(period))
    _post(world, seller, period + 1, [SELL])
    _post(world, buyer, period + 1, [BUY])
    world.relayer.run_once()
    world.warp(GRID.period_end(period + 1))
    quiet = [(0, 0)] * 3
    _batch(world, seller, period, [(0, 800), *quiet])
    seller_next = world.batch_body(
        seller.meters[0], period + 1, (START[0], START[1] + 800), [(0, 800), *quiet]
    )
    assert world.client.post("/meter-batches", json=seller_next).status_code == 201
    _batch(world, buyer, period + 1, [(600, 0), *quiet])  # its batch of P never comes

    report = world.relayer.run_once()
    assert (report.failed, report.settled) == ({}, [])
    assert sorted(w.period_id for w in report.waiting) == [period, period + 1]

    world.warp(GRID.settlement_deadline(period, RULES))
    report = world.relayer.run_once()
    assert (report.failed, report.settled) == ({}, [period, period + 1])
    escrow = world.exchange.escrow_of(buyer.address)
    # Nothing stays locked; the buyer pays for the 600 Wh of P + 1 only (>= the ask).
    assert escrow.locked_units == 0
    assert FUNDS_UNITS - 120_000 <= escrow.free_units <= FUNDS_UNITS - 60_000

"""The meter agent against a real HTTP server on 127.0.0.1, with an injected clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from meter_http_receiver import http_receiver
from meter_modbus_server import free_port

from ledger.rules import TimeGrid
from metering.adapters.base import MeterSnapshot, Registers
from metering.adapters.simulated import SimulatedFleet, SimulatedMeter
from metering.agent import AgentConfig, MeterAgent
from metering.errors import MeterUnreachableError
from metering.keys import MeterIdentity
from metering.reading import SignedReading, verify_signed_reading
from metering.spool import PENDING, REJECTED, SENT, Spool

KEY = ec.derive_private_key(0xBEEF, ec.SECP256R1())
EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
GRID = TimeGrid(interval_seconds=900, period_intervals=96)
CHAIN_ID = 31337
START = datetime(2026, 6, 21, 10, 0, 7, tzinfo=UTC).timestamp()


class FakeClock:
    """Time that only moves when the agent sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedMeter:
    """Returns the given import registers one read after another."""

    def __init__(self, imports: list[int]) -> None:
        self._imports: Iterator[int] = iter(imports)

    def read(self) -> MeterSnapshot:
        value = next(self._imports)
        return MeterSnapshot("SCRIPTED", Registers(value, 0, value), Registers(0, 0, 0), None)


class DeadMeter:
    def read(self) -> MeterSnapshot:
        raise MeterUnreachableError("meter on fire")


@pytest.fixture(scope="module")
def fleet() -> SimulatedFleet:
    return SimulatedFleet(1, seed=3)


def make_agent(
    meter: object, spool_path: Path, port: int, clock: FakeClock, logs: list[str]
) -> MeterAgent:
    config = AgentConfig(f"http://127.0.0.1:{port}", CHAIN_ID, EXCHANGE, GRID, http_timeout_s=2.0)
    return MeterAgent(
        meter,  # type: ignore[arg-type]
        KEY,
        Spool(spool_path),
        config,
        clock=clock,
        sleep=clock.sleep,
        http=httpx.Client(timeout=2.0),
        log=logs.append,
    )


def signed(payloads: list[dict[str, object]]) -> list[SignedReading]:
    return [SignedReading.from_json(p) for p in payloads]


def test_one_signed_reading_per_boundary_in_order(fleet: SimulatedFleet, tmp_path: Path) -> None:
    clock, logs = FakeClock(START), []
    with http_receiver() as (receiver, port):
        agent = make_agent(SimulatedMeter(fleet, 0, clock), tmp_path / "s.db", port, clock, logs)
        agent.run(max_intervals=4)
    readings = signed(receiver.received)
    first_interval = int(START) // 900  # 10:00-10:15 ends at the first boundary
    assert [r.reading.seq for r in readings] == [1, 2, 3, 4]
    assert [r.reading.interval_id for r in readings] == [first_interval + i for i in range(4)]
    for item in readings:
        assert verify_signed_reading(item, CHAIN_ID, EXCHANGE)
        assert item.reading.meter_id == MeterIdentity.of(KEY).meter_id
        boundary = (item.reading.interval_id + 1) * 900
        imported, exported = fleet.registers_at(boundary)
        assert item.reading.import_wh_total == int(imported[0])
        assert item.reading.export_wh_total == int(exported[0])
    assert clock.now == (first_interval + 4) * 900  # woke exactly at each boundary
    assert logs == []


def test_api_down_then_back_delivers_everything_in_order(
    fleet: SimulatedFleet, tmp_path: Path
) -> None:
    clock, logs = FakeClock(START), []
    port = free_port()  # nothing listens yet
    agent = make_agent(SimulatedMeter(fleet, 0, clock), tmp_path / "s.db", port, clock, logs)
    agent.run(max_intervals=3)
    assert any("unreachable" in line for line in logs)
    with http_receiver(port) as (receiver, _):
        agent.run(max_intervals=1)
    assert [r.reading.seq for r in signed(receiver.received)] == [1, 2, 3, 4]


def test_restart_continues_seq_and_sends_what_the_killed_agent_spooled(
    fleet: SimulatedFleet, tmp_path: Path
) -> None:
    clock, logs = FakeClock(START), []
    spool_path = tmp_path / "s.db"
    first = make_agent(SimulatedMeter(fleet, 0, clock), spool_path, free_port(), clock, logs)
    first.run(max_intervals=2)  # API down: both readings stay spooled, then the agent "dies"
    del first
    with http_receiver() as (receiver, port):
        second = make_agent(SimulatedMeter(fleet, 0, clock), spool_path, port, clock, logs)
        second.run(max_intervals=1)
    readings = signed(receiver.received)
    assert [r.reading.seq for r in readings] == [1, 2, 3]
    intervals = [r.reading.interval_id for r in readings]
    assert intervals == sorted(set(intervals))
    assert {entry.status for entry in Spool(spool_path).all()} == {SENT}


def test_registers_going_backwards_are_refused_and_never_sent(tmp_path: Path) -> None:
    clock, logs = FakeClock(START), []
    with http_receiver() as (receiver, port):
        agent = make_agent(
            ScriptedMeter([100, 200, 150, 300]), tmp_path / "s.db", port, clock, logs
        )
        agent.run(max_intervals=4)
    readings = signed(receiver.received)
    assert [r.reading.import_wh_total for r in readings] == [100, 200, 300]
    assert [r.reading.seq for r in readings] == [1, 2, 3]
    assert sum("went backwards" in line for line in logs) == 1


def test_rejected_reading_is_kept_as_rejected_and_server_errors_are_retried(
    tmp_path: Path,
) -> None:
    clock, logs = FakeClock(START), []
    spool_path = tmp_path / "s.db"
    with http_receiver() as (receiver, port):
        agent = make_agent(ScriptedMeter([10, 20, 30, 40]), spool_path, port, clock, logs)
        receiver.status = 400
        agent.run(max_intervals=1)  # seq 1 rejected for good
        receiver.status = 500
        agent.run(max_intervals=1)  # seq 2 kept pending
        receiver.status = 201
        agent.run(max_intervals=1)  # seq 2 then 3 delivered, in order
    assert [r.reading.seq for r in signed(receiver.received)] == [2, 3]
    statuses = [(e.signed.reading.seq, e.status) for e in Spool(spool_path).all()]
    assert statuses == [(1, REJECTED), (2, SENT), (3, SENT)]
    assert any("400" in line for line in logs)


def test_meter_failure_is_reported_and_the_agent_carries_on(tmp_path: Path) -> None:
    clock, logs = FakeClock(START), []
    with http_receiver() as (receiver, port):
        agent = make_agent(DeadMeter(), tmp_path / "s.db", port, clock, logs)
        agent.run(max_intervals=2)
    assert receiver.received == []
    assert logs == ["meter on fire", "meter on fire"]
    assert Spool(tmp_path / "s.db").pending() == []


def test_same_interval_is_not_read_twice_after_a_restart(
    fleet: SimulatedFleet, tmp_path: Path
) -> None:
    clock, logs = FakeClock(START), []
    agent = make_agent(SimulatedMeter(fleet, 0, clock), tmp_path / "s.db", free_port(), clock, logs)
    boundary = (int(START) // 900 + 1) * 900
    clock.now = boundary
    assert agent.tick(boundary) is not None
    assert agent.tick(boundary) is None
    assert [e.status for e in Spool(tmp_path / "s.db").all()] == [PENDING]


def test_spool_survives_and_refuses_out_of_order_entries(tmp_path: Path) -> None:
    clock, logs = FakeClock(START), []
    agent = make_agent(
        ScriptedMeter(list(itertools.repeat(5, 3))), tmp_path / "s.db", 9, clock, logs
    )
    agent.run(max_intervals=2)
    spool = Spool(tmp_path / "s.db")
    entries = spool.all()
    assert [e.signed.reading.seq for e in entries] == [1, 2]
    from metering.errors import SpoolError

    with pytest.raises(SpoolError, match="does not follow"):
        spool.add(entries[0].signed)


@pytest.mark.parametrize(
    ("api", "exchange", "message"),
    [
        ("127.0.0.1:8000", EXCHANGE, "http://"),
        ("http://127.0.0.1:8000", "0x1234", "not an Ethereum address"),
    ],
)
def test_bad_agent_configuration_fails_at_start(api: str, exchange: str, message: str) -> None:
    from metering.errors import MeteringError

    with pytest.raises(MeteringError, match=message):
        AgentConfig(api, CHAIN_ID, exchange, GRID)

"""The meter agent's period batches (protocol v2): boundary registers kept in the spool, one
signed batch per complete period, the gap rule, restarts, and the API's answers.

The API is httpx's MockTransport (no network); the chain-level checks (the exchange accepts
what the agent signs) are in tests/integration/metering/test_meter_agent_v2.py.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.rules import TimeGrid
from metering.adapters.base import MeterSnapshot, Registers
from metering.agent import AgentConfig, MeterAgent
from metering.errors import MeterUnreachableError, SpoolError
from metering.keys import MeterIdentity
from metering.period import meter_batch_of_body, verify_meter_period
from metering.reading import SignedReading, verify_signed_reading
from metering.spool import INCOMPLETE, PENDING, REJECTED, SENT, Spool

KEY = ec.derive_private_key(0xA11CE, ec.SECP256R1())
IDENTITY = MeterIdentity.of(KEY)
EXCHANGE = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
CHAIN_ID = 31337
GRID = TimeGrid(interval_seconds=900, period_intervals=4)
PERIOD = 500_000  # period ids are interval // 4: any period works with an injected clock
START = GRID.period_start(PERIOD)


def registers_at(boundary: int) -> tuple[int, int]:
    """A meter whose registers differ at every boundary: import +7 Wh, export +3 Wh a
    quarter-hour, plus something that moves with the boundary so deltas are not constant."""
    j = (boundary - START) // 900
    return 10_000 + 7 * j + j * j, 5_000 + 3 * j


class FakeClock:
    """Time that only moves when the agent sleeps (or the test says so)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ClockMeter:
    """Registers at the last boundary before the clock; dead at the boundaries in `dead`."""

    def __init__(self, clock: FakeClock, dead: frozenset[int] = frozenset()) -> None:
        self.clock, self.dead, self.reads = clock, dead, 0

    def read(self) -> MeterSnapshot:
        boundary = int(self.clock()) // 900 * 900
        if boundary in self.dead:
            raise MeterUnreachableError(f"meter silent at {boundary}")
        self.reads += 1
        imported, exported = registers_at(boundary)
        return MeterSnapshot(
            "TEST", Registers(imported, 0, imported), Registers(exported, 0, exported), None
        )


class FakeApi:
    """Records POSTs per path; answers with `answer(path, body)` (default 201)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.answer: Callable[[str, dict[str, Any]], httpx.Response] = lambda p, b: httpx.Response(
            201, json={}
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.posts.append((request.url.path, body))
        return self.answer(request.url.path, body)

    def batches(self) -> list[dict[str, Any]]:
        return [body for path, body in self.posts if path == "/meter-batches"]


def make_agent(
    spool_path: Path,
    clock: FakeClock,
    api: FakeApi,
    logs: list[str],
    meter: object | None = None,
    grid: TimeGrid = GRID,
    exchange: str = EXCHANGE,
) -> MeterAgent:
    config = AgentConfig("http://api.invalid", CHAIN_ID, exchange, grid)
    return MeterAgent(
        meter or ClockMeter(clock),  # type: ignore[arg-type]
        KEY,
        Spool(spool_path),
        config,
        clock=clock,
        sleep=clock.sleep,
        http=httpx.Client(transport=httpx.MockTransport(api.handler)),
        log=logs.append,
    )


def check_batch(body: dict[str, Any], period_id: int) -> None:
    """The body is the meter's signed batch of `period_id` with every boundary's registers."""
    signed, key = meter_batch_of_body(body)
    assert key == IDENTITY.public_key
    assert verify_meter_period(signed, key, CHAIN_ID, EXCHANGE)
    assert signed.period.period_id == period_id
    boundaries = [GRID.period_start(period_id) + 900 * j for j in range(5)]
    assert signed.period.boundaries() == [registers_at(b) for b in boundaries]


def test_a_full_period_gives_one_signed_batch_with_every_boundary(tmp_path: Path) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    agent = make_agent(tmp_path / "s.db", clock, api, logs)
    agent.run(max_intervals=5)  # boundaries start(P) .. end(P)
    [body] = api.batches()
    check_batch(body, PERIOD)
    assert [b.status for b in agent._spool.batches.all()] == [SENT]
    readings = [SignedReading.from_json(b) for p, b in api.posts if p == "/readings"]
    assert len(readings) == 5
    # Readings are signed in the same v2 domain (the exchange), low s.
    assert all(verify_signed_reading(r, CHAIN_ID, EXCHANGE) for r in readings)
    assert logs == []


def test_the_batch_is_spooled_before_it_is_posted(tmp_path: Path) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    seen_in_spool: list[str] = []

    def answer(path: str, body: dict[str, Any]) -> httpx.Response:
        if path == "/meter-batches":
            seen_in_spool.extend(b.status for b in Spool(tmp_path / "s.db").batches.all())
        return httpx.Response(201, json={})

    api.answer = answer
    make_agent(tmp_path / "s.db", clock, api, logs).run(max_intervals=5)
    assert seen_in_spool == [PENDING]


def test_a_restart_mid_period_still_sends_the_batch_with_every_boundary(tmp_path: Path) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    first = make_agent(tmp_path / "s.db", clock, api, logs)
    first.run(max_intervals=3)  # start(P) and two more boundaries, then killed
    assert api.batches() == []
    del first  # a kill: nothing but the spool survives
    clock.now += 100  # restarted within the same interval
    second = make_agent(tmp_path / "s.db", clock, api, logs)
    second.run(max_intervals=2)
    [body] = api.batches()
    check_batch(body, PERIOD)


def test_a_kill_after_the_end_boundary_is_spooled_sends_the_batch_on_restart(
    tmp_path: Path,
) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    first = make_agent(tmp_path / "s.db", clock, api, logs)
    for j in range(5):  # ticks only: killed before the period was closed and posted
        clock.now = START + 900 * j
        assert first.tick(START + 900 * j) is not None
    del first
    second = make_agent(tmp_path / "s.db", clock, api, logs)
    second.run(max_intervals=0)  # the restart alone decides and delivers it
    [body] = api.batches()
    check_batch(body, PERIOD)


def test_a_missed_boundary_means_no_batch_for_that_period_and_the_next_chains(
    tmp_path: Path,
) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    dead = frozenset({START + 2 * 900})  # the meter is silent at one boundary of P
    agent = make_agent(tmp_path / "s.db", clock, api, logs, ClockMeter(clock, dead))
    agent.run(max_intervals=9)  # P's 5 boundaries and P + 1's last 4
    [body] = api.batches()  # only P + 1: no invented registers for P
    check_batch(body, PERIOD + 1)
    decided = agent._spool.batches.all()
    assert [(b.period_id, b.status) for b in decided] == [
        (PERIOD, INCOMPLETE),
        (PERIOD + 1, SENT),
    ]
    assert decided[0].body is None
    assert decided[0].detail is not None
    assert f"1 of 5 boundaries not read (first missing at unix {START + 1800})" in (
        decided[0].detail
    )
    assert any(line.startswith(f"period {PERIOD}: 1 of 5") for line in logs)


def test_an_agent_started_mid_period_signs_from_the_first_full_period(tmp_path: Path) -> None:
    clock, api = FakeClock(START + 900 + 5), FakeApi()
    logs: list[str] = []
    agent = make_agent(tmp_path / "s.db", clock, api, logs)
    agent.run(max_intervals=7)  # boundaries start(P) + 2 .. end(P + 1)
    [body] = api.batches()
    check_batch(body, PERIOD + 1)
    assert [(b.period_id, b.status) for b in agent._spool.batches.all()] == [
        (PERIOD, INCOMPLETE),
        (PERIOD + 1, SENT),
    ]


def test_a_period_the_agent_was_down_for_is_decided_incomplete_after_it(
    tmp_path: Path,
) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    agent = make_agent(tmp_path / "s.db", clock, api, logs)
    agent.run(max_intervals=5)  # P complete
    del agent
    clock.now = GRID.period_start(PERIOD + 3) - 10  # down for P + 1 and P + 2
    agent = make_agent(tmp_path / "s.db", clock, api, logs)
    agent.run(max_intervals=5)  # P + 3 complete
    assert [b["period_id"] for b in api.batches()] == [PERIOD, PERIOD + 3]
    check_batch(api.batches()[1], PERIOD + 3)
    statuses = [(b.period_id, b.status) for b in agent._spool.batches.all()]
    assert statuses == [
        (PERIOD, SENT),
        (PERIOD + 1, INCOMPLETE),
        (PERIOD + 2, INCOMPLETE),
        (PERIOD + 3, SENT),
    ]


def test_a_read_later_than_the_tolerance_is_not_the_boundary(tmp_path: Path) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []

    class SlowMeter(ClockMeter):
        def read(self) -> MeterSnapshot:
            snapshot = super().read()
            if int(self.clock()) == START + 900:
                self.clock.now += 120  # the device took two minutes to answer
            return snapshot

    agent = make_agent(tmp_path / "s.db", clock, api, logs, SlowMeter(clock))
    agent.run(max_intervals=5)
    assert api.batches() == []
    assert [b.status for b in agent._spool.batches.all()] == [INCOMPLETE]
    assert any(f"boundary {START + 900} missed: read 120 s after it" in line for line in logs)


def test_api_answers_retry_later_or_reject_for_good(tmp_path: Path) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    answers = iter(
        [
            httpx.Response(
                409,
                json={"type": "urn:quartier:problem:period-not-over", "status": 409},
                headers={"content-type": "application/problem+json"},
            ),
            httpx.Response(503, json={"type": "urn:quartier:problem:chain-unreachable"}),
            httpx.Response(429, text="slow down"),
            httpx.Response(201, json={}),
            httpx.Response(
                409,
                json={"type": "urn:quartier:problem:batch-not-chained", "status": 409},
            ),
        ]
    )

    def answer(path: str, body: dict[str, Any]) -> httpx.Response:
        return next(answers) if path == "/meter-batches" else httpx.Response(201, json={})

    api.answer = answer
    agent = make_agent(tmp_path / "s.db", clock, api, logs)
    agent.run(max_intervals=5)  # P closed: 409 period-not-over -> kept
    assert [b.status for b in agent._spool.batches.all()] == [PENDING]
    agent.run(max_intervals=1)  # a flush at start (503) and one after the boundary (429)
    assert [b.status for b in agent._spool.batches.all()] == [PENDING]
    agent.run(max_intervals=1)  # 201 -> sent
    assert [b.status for b in agent._spool.batches.all()] == [SENT]
    agent.run(max_intervals=2)  # P + 1 closed: batch-not-chained -> rejected, problem kept
    decided = agent._spool.batches.all()
    assert [(b.period_id, b.status) for b in decided] == [(PERIOD, SENT), (PERIOD + 1, REJECTED)]
    assert decided[1].detail is not None
    assert "batch-not-chained" in decided[1].detail
    assert any("rejected batch of period" in line for line in logs)
    posted = [b["period_id"] for b in api.batches()]
    assert posted == [PERIOD] * 4 + [PERIOD + 1]  # oldest first, the same batch re-sent
    assert api.batches()[0] == api.batches()[2]  # the spooled batch, not a re-signed one


def test_readings_failing_do_not_hold_back_batches(tmp_path: Path) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    api.answer = lambda path, body: httpx.Response(
        201 if path == "/meter-batches" else 500, json={}
    )
    agent = make_agent(tmp_path / "s.db", clock, api, logs)
    agent.run(max_intervals=5)
    assert [b.status for b in agent._spool.batches.all()] == [SENT]
    assert len(agent._spool.pending()) == 5  # readings kept for later


def test_a_spool_refuses_another_exchange_or_grid(tmp_path: Path) -> None:
    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    make_agent(tmp_path / "s.db", clock, api, logs).run(max_intervals=1)
    with pytest.raises(SpoolError, match="exchange: spool 0x9fe4"):
        make_agent(tmp_path / "s.db", clock, api, logs, exchange="0x" + "11" * 20)
    with pytest.raises(SpoolError, match="period_intervals: spool 4, now 8"):
        make_agent(tmp_path / "s.db", clock, api, logs, grid=TimeGrid(900, 8))


def test_periods_are_decided_once_and_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.batches.add(7, None, "incomplete")
    with pytest.raises(SpoolError, match="does not follow"):
        spool.batches.add(7, {"period_id": 7})
    with pytest.raises(SpoolError, match="does not follow"):
        spool.batches.add(6, None, "older")
    spool.batches.add(9, {"period_id": 9})
    assert [(b.period_id, b.status) for b in spool.batches.all()] == [
        (7, INCOMPLETE),
        (9, PENDING),
    ]
    spool.batches.mark(7, SENT)  # an incomplete period has nothing to send: unchanged
    assert spool.batches.all()[0].status == INCOMPLETE


def test_meter_status_reports_what_was_not_delivered(tmp_path: Path) -> None:
    import subprocess
    import sys

    clock, api = FakeClock(START - 10), FakeApi()
    logs: list[str] = []
    dead = frozenset({START + 2 * 900})
    answers = {PERIOD + 1: 422}
    api.answer = lambda path, body: httpx.Response(
        answers.get(body.get("period_id", -1), 201) if path == "/meter-batches" else 201,
        json={"type": "urn:quartier:problem:bad-deltas"},
    )
    make_agent(tmp_path / "s.db", clock, api, logs, ClockMeter(clock, dead)).run(max_intervals=13)
    result = subprocess.run(
        [
            *(sys.executable, "-c", "from api.cli import main; main()"),
            *("meter", "status", "--spool", str(tmp_path / "s.db"), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["readings"] == {SENT: 12}  # 13 boundaries, one of them not read
    assert report["periods"] == {INCOMPLETE: 1, REJECTED: 1, SENT: 1}
    assert report["community"]["exchange"] == EXCHANGE.lower()
    [incomplete, rejected] = report["periods_not_delivered"]
    assert (incomplete["period_id"], incomplete["status"]) == (PERIOD, INCOMPLETE)
    assert "1 of 5 boundaries not read" in incomplete["detail"]
    assert (rejected["period_id"], rejected["status"]) == (PERIOD + 1, REJECTED)
    assert "bad-deltas" in rejected["detail"]


@settings(max_examples=25, deadline=None)
@given(
    dead=st.sets(st.integers(0, 12), max_size=5),
    restart_at=st.integers(1, 12),
)
def test_batches_exist_exactly_for_fully_read_periods_and_always_chain(
    dead: set[int], restart_at: int
) -> None:
    """Whatever boundaries are missed, and wherever the agent restarts: a period has a batch
    iff all its boundaries were read, each batch holds the meter's true registers, and the
    batches chain as the exchange requires (P = Q + 1: start == Q's end; a gap: start >=)."""
    grid = TimeGrid(900, 3)
    first_period = grid.period_at(START) + 1  # registers_at grows from START on
    start = grid.period_start(first_period)
    with tempfile.TemporaryDirectory() as directory:
        spool_path = Path(directory) / "s.db"
        clock, api = FakeClock(start - 10), FakeApi()
        logs: list[str] = []
        dead_at = frozenset(start + 900 * j for j in dead)
        first = make_agent(spool_path, clock, api, logs, ClockMeter(clock, dead_at), grid)
        first.run(max_intervals=restart_at)
        del first  # killed; restarted at once
        second = make_agent(spool_path, clock, api, logs, ClockMeter(clock, dead_at), grid)
        second.run(max_intervals=13 - restart_at)  # boundaries 0..12: four periods
        decided = {b.period_id: b for b in Spool(spool_path).batches.all()}
    # A period is decided once a boundary at or after its end was read (a missed end
    # boundary is known missed only when a later one is read).
    last_read = max(set(range(13)) - dead)
    assert sorted(decided) == [first_period + k for k in range(4) if 3 * (k + 1) <= last_read]
    previous: tuple[int, tuple[int, int]] | None = None
    for offset in range(4):
        period_id = first_period + offset
        boundaries = [3 * offset + j for j in range(4)]
        complete = not dead.intersection(boundaries)
        if period_id not in decided:
            continue
        batch = decided[period_id]
        assert (batch.status == SENT) == complete, (dead, batch)
        if not complete:
            continue
        assert batch.body is not None
        signed, key = meter_batch_of_body(batch.body)
        assert verify_meter_period(signed, key, CHAIN_ID, EXCHANGE)
        assert signed.period.boundaries() == [registers_at(start + 900 * j) for j in boundaries]
        begin = (signed.period.start_import_wh, signed.period.start_export_wh)
        if previous is not None:
            last_period, end = previous
            if period_id == last_period + 1:
                assert begin == end
            else:
                assert begin[0] >= end[0]
                assert begin[1] >= end[1]
        previous = (period_id, (signed.period.end_import_wh, signed.period.end_export_wh))

"""The node under a running `quartier serve` (and relayer) stopped, hung (SIGSTOP of the Anvil
process), restarted with its state (`anvil --state`: dumped on exit, loaded at start) and
without it (a fresh chain on the same port: same chain id, no contracts, then the same
contracts redeployed at the same addresses). Requests that need the chain are a 503 problem
within 5 s (`chain-replaced` on another chain: `api.chain_identity`); readings of a known
meter, which need no chain call, are still acknowledged; nothing acknowledged is lost; a
running relayer stops with one `chain-replaced` line and exits 1, and one started on a chain
that lacks the deployment acts on nothing and says so in one log line.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import GRID, RULES, Community, Member, Process, problem, query
from eth_account import Account

from ledger.anvil import AnvilNode
from ledger.deploy_v2 import deploy_community_v2
from ledger.schedules import Entry, EntrySide

pytestmark = pytest.mark.integration

SELL = Entry(EntrySide.SELL, 500, 100_000)
ANSWER_SECONDS = 5.0
#: How long the next period's first gate must stay open (with the relay margin) at the start.
OPEN_SECONDS = 130


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    """A node of the test's own, its state kept in a file across restarts (`--state`)."""
    running = AnvilNode(extra_args=("--state", str(tmp_path / "anvil-state.json")))
    with running:
        yield running


def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


class Client:
    """A household and its meter talking to the served API."""

    def __init__(self, community: Community, serve: Process, member: Member) -> None:
        self.community = community
        self.serve = serve
        self.member = member
        self.version = 0
        self.interval = int(time.time()) // 900 - 1_000
        self.period_id = 0
        self.schedules: list[str] = []
        self.readings: list[int] = []

    def schedule(self) -> httpx.Response:
        self.version += 1
        body = self.community.schedule_body(self.member, self.period_id, [SELL], self.version)
        response = httpx.post(f"{self.serve.url}/schedules", json=body, timeout=180)
        if response.status_code in (200, 201):
            self.schedules.append(response.json()["schedule_hash"])
        return response

    def reading(self) -> httpx.Response:
        self.interval += 1
        body = self.community.next_reading(self.member.meters[0], self.interval)
        response = httpx.post(f"{self.serve.url}/readings", json=body, timeout=180)
        if response.status_code in (200, 201):
            self.readings.append(self.member.meters[0].seq)
        return response

    def assert_nothing_lost(self, environment: dict[str, str]) -> None:
        stored = {row[0] for row in query(environment, "SELECT schedule_hash FROM v2_schedule")}
        assert set(self.schedules) <= stored
        seqs = [row[0] for row in query(environment, "SELECT seq FROM reading")]
        assert sorted(seqs) == sorted(set(seqs))
        assert set(self.readings) <= set(seqs)


@pytest.fixture
def client(community: Community, launch: Any) -> Client:
    member = community.member()
    # Memberships are read from the chain every time, so a chain replaced under the service
    # is noticed by the next schedule (a cached membership would accept it for 30 s).
    serve: Process = launch("serve", served=True, QUARTIER_MEMBERSHIP_CACHE_SECONDS="0")
    # The chain keeps the wall clock's time (no warp: `anvil --state` does not keep a time
    # offset across a restart, and a fresh chain starts at the wall clock). The next period's
    # first gate must stay open for the test's length: else wait for the next period (after
    # serve started: its start takes minutes on a loaded machine).
    upcoming = GRID.period_start(GRID.period_at(int(time.time())) + 1)
    if upcoming - time.time() < OPEN_SECONDS:
        time.sleep(max(0.0, upcoming - time.time()) + 1)
    client = Client(community, serve, member)
    client.period_id = GRID.period_at(int(time.time())) + 1
    assert client.schedule().status_code == 201
    assert client.reading().status_code == 201  # the meter is known (cached) from here on
    return client


def test_a_stopped_node_is_a_503_within_5_s_and_readings_flow(
    client: Client, node: AnvilNode, environment: dict[str, str]
) -> None:
    node.stop()
    response, seconds = _timed(client.schedule)
    problem(response, 503, "chain-unreachable")
    assert seconds < ANSWER_SECONDS, seconds
    for _ in range(5):
        response, reading_seconds = _timed(client.reading)
        assert response.status_code == 201, response.text
        assert reading_seconds < 2.0, reading_seconds
    node.start()  # with its state: the same chain
    assert client.schedule().status_code == 201
    client.assert_nothing_lost(environment)
    print(f"stopped node: schedule 503 after {seconds:.2f} s; readings still 201")


def test_a_hung_node_is_a_503_within_5_s_and_readings_flow(
    client: Client, node: AnvilNode, environment: dict[str, str]
) -> None:
    assert node.process is not None
    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        timings = []
        for _ in range(2):  # the second is bounded too, not queued behind the first
            response, seconds = _timed(client.schedule)
            problem(response, 503, "chain-unreachable")
            timings.append(seconds)
        response, reading_seconds = _timed(client.reading)
        assert response.status_code == 201, response.text
    finally:
        os.kill(node.process.pid, signal.SIGCONT)
    assert max(timings) < ANSWER_SECONDS, timings
    assert reading_seconds < 2.0, reading_seconds
    assert client.schedule().status_code == 201  # the node answers again: so does the API
    client.assert_nothing_lost(environment)
    print(
        f"hung node (SIGSTOP): schedules 503 after {', '.join(f'{t:.2f}' for t in timings)} s;"
        f" a reading meanwhile 201 in {reading_seconds * 1000:.0f} ms"
    )


def test_a_node_restarted_with_its_state_is_the_same_chain(
    client: Client, node: AnvilNode, environment: dict[str, str], launch: Any
) -> None:
    before = client.community.now()
    node.stop()
    node.start()
    assert client.community.now() >= before
    assert client.schedule().status_code == 201
    assert client.reading().status_code == 201
    relayer: Process = launch("relayer")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = {row[0] for row in query(environment, "SELECT status FROM v2_schedule")}
        if statuses == {"posted"}:
            break
        time.sleep(0.5)
    relayer.stop()
    assert statuses == {"posted"}, statuses
    client.assert_nothing_lost(environment)


def _log_lines(process: Process, text: str) -> list[str]:
    return [line for line in process.text().splitlines() if text in line]


def _wait_for_line(process: Process, text: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not _log_lines(process, text):
        time.sleep(0.5)


def test_a_fresh_chain_in_its_place_is_refused_by_name_and_loses_nothing(
    client: Client,
    node: AnvilNode,
    environment: dict[str, str],
    launch: Any,
    tmp_path: Path,
    relayer_key: str,
) -> None:
    # A relayer at work on the community's chain: it posts the acknowledged schedule.
    early: Process = launch("relayer")
    deadline = time.monotonic() + 300  # its start takes minutes on a loaded machine
    while time.monotonic() < deadline and _statuses(environment) != {"posted"}:
        time.sleep(0.5)
    assert _statuses(environment) == {"posted"}, early.text()[-2000:]
    community = client.community
    original = community.manager.w3.eth.get_block(0)["hash"]

    node.stop()
    (tmp_path / "anvil-state.json").unlink()
    node.start()  # same port and chain id, none of the contracts: another chain
    assert community.manager.w3.eth.get_block(0)["hash"] != original
    response, seconds = _timed(client.schedule)
    body = problem(response, 503, "chain-replaced")
    assert body["started_on"] == "0x" + bytes(original).hex(), body
    assert seconds < ANSWER_SECONDS, seconds
    assert client.reading().status_code == 201  # a known meter needs no chain call
    # The running relayer stops at its next pass, with one line naming the replacement.
    _wait_for_line(early, "chain-replaced")
    assert len(_log_lines(early, "relayer: chain-replaced: stopped")) == 1, early.text()[-2000:]
    # ... and exits non-zero with the replacement named, rather than idling.
    assert early.process is not None
    assert early.process.wait(timeout=60) == 1, early.text()[-2000:]
    assert "quartier: the node serves another chain" in early.text()

    # A relayer started on the empty chain records nothing and acts on nothing (no code).
    late: Process = launch("relayer")
    _wait_for_line(late, "lacks the deployment")
    time.sleep(3)  # a few more passes: still one line
    late.stop()
    assert len(_log_lines(late, "lacks the deployment")) == 1, late.text()[-2000:]

    # The same deployer redeploys on the new chain: the same addresses, code at them again.
    # The service still refuses it by name (its genesis is not the one it started on).
    again = deploy_community_v2(community.manager, rules=RULES, grid=GRID)
    assert again.contracts == community.deployment.contracts
    response, seconds = _timed(client.schedule)
    problem(response, 503, "chain-replaced")
    assert seconds < ANSWER_SECONDS, seconds
    time.sleep(3)
    early.stop()
    assert len(_log_lines(early, "relayer: chain-replaced: stopped")) == 1
    assert "Traceback" not in early.text()
    # Nothing was sent to the other chain by the relayer; nothing acknowledged is lost.
    relayer = Account.from_key(relayer_key).address
    assert community.manager.w3.eth.get_transaction_count(relayer) == 0
    assert _statuses(environment) == {"posted"}
    client.assert_nothing_lost(environment)
    print(
        f"fresh chain in place: schedule 503 chain-replaced after {seconds:.2f} s (also once"
        " the contracts are redeployed at the same addresses); the running relayer stopped"
        " with one chain-replaced line, one started on the empty chain said it lacks the"
        " deployment once; 0 transactions to the other chain"
    )


def _statuses(environment: dict[str, str]) -> set[str]:
    return {row[0] for row in query(environment, "SELECT status FROM v2_schedule")}

"""Faults against a real `quartier serve` process (issue 12), all on 127.0.0.1 and bounded:
a body deep enough to overflow the C stack, bodies streamed past the size limit, the SQLite
file deleted or replaced under the running service, a database that cannot be opened at
start, a database locked by another process, and racing identical requests. (A stopped or
hung node: test_node_faults.py; kill -9: test_api_kills.py, test_relayer_kills.py.)"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import GRID, PROBLEM, QUARTIER, Community, Member, problem
from eth_account import Account

from api.auth import sign_personal
from ledger.anvil import free_port
from ledger.schedules import Entry, EntrySide

pytestmark = pytest.mark.integration

DEEP = b"[" * 100_000 + b"]" * 100_000  # ~200 KB, 100,000 levels
SELL = Entry(EntrySide.SELL, 500, 100_000)


@pytest.fixture
def member(community: Community) -> Member:
    return community.member()


@pytest.fixture
def period_id(community: Community) -> int:
    """An open period whose gates stay open while no block is mined (the clock is frozen
    ahead of the wall clock)."""
    community.warp(GRID.period_start(GRID.period_at(community.now()) + 3))
    return GRID.period_at(community.now()) + 1


def _reading(community: Community, member: Member, interval_id: int) -> dict[str, object]:
    return community.next_reading(member.meters[0], interval_id)


def _assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    return problem(response, status, slug)


def _now_interval() -> int:
    return int(time.time()) // 900


# --- a body that used to kill the process ---------------------------------------------------


def test_a_deep_body_no_longer_kills_serve(launch: Any) -> None:
    served = launch("serve", "--relayer", served=True)
    try:
        for path in ("/readings", "/schedules", "/meter-batches", "/auth/challenge", "/households"):
            response = httpx.post(
                f"{served.url}{path}",
                content=DEEP,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            _assert_problem(response, 422, "json-too-deep")
        assert served.alive()
        assert httpx.get(f"{served.url}/periods/1/schedules", timeout=5).status_code == 200
    finally:
        served.stop()


def test_with_the_depth_limit_off_the_restored_recursion_limit_still_saves_the_process(
    launch: Any, community: Community, environment: dict[str, str], tmp_path: Path
) -> None:
    """The second line of defence alone: the decoders meet Python's recursion guard (1,000),
    not the C stack (py_ecc's 100,000 let them segfault)."""
    served = launch("serve", served=True, QUARTIER_MAX_JSON_DEPTH="1000000")
    try:
        for path in ("/readings", "/schedules", "/meter-batches"):
            response = httpx.post(
                f"{served.url}{path}",
                content=DEEP,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            assert response.headers["content-type"] == PROBLEM, response.text
            assert response.status_code in (400, 422, 500), response.text
        assert served.alive()
        assert httpx.get(f"{served.url}/periods/1/schedules", timeout=5).status_code == 200
    finally:
        served.stop()


# --- bodies past the size limit -------------------------------------------------------------


def _read_response(connection: socket.socket, answer: bytes = b"") -> bytes:
    """Read one whole response (head and Content-Length body), or what came before the
    server closed."""
    connection.settimeout(5)
    while True:
        head, separator, body = answer.partition(b"\r\n\r\n")
        if separator:
            lengths = [
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            if len(body) >= (lengths[0] if lengths else 0):
                return answer
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:  # closed with our unread upload in its buffer
            return answer
        if not chunk:
            return answer
        answer += chunk


def test_a_streamed_body_is_cut_at_the_limit_not_read_to_its_end(
    launch: Any, community: Community, environment: dict[str, str], tmp_path: Path
) -> None:
    served = launch("serve", served=True)
    port = int(served.url.rsplit(":", 1)[1])
    try:
        # Chunked (no Content-Length): only counting the stream can stop it.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(
                b"POST /readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"x" * 65536
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            sent = 0
            connection.setblocking(False)
            answer = b""
            deadline = time.monotonic() + 20
            while sent < 64 << 20 and time.monotonic() < deadline:
                try:
                    answer += connection.recv(65536)
                    break  # the server answered (or closed): stop sending
                except BlockingIOError:
                    pass
                try:
                    sent += connection.send(frame)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    time.sleep(0.005)
            connection.setblocking(True)
            answer = _read_response(connection, answer)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"body-too-large" in answer
        # Cut after ~1 MiB, plus what the kernel and uvicorn buffer: far from 64 MB.
        assert sent < 8 << 20, sent
        # A declared 64 MB body is refused on its header, before a byte of it is sent.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            started = time.monotonic()
            connection.sendall(
                b"POST /schedules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 67108864\r\n\r\n"
            )
            answer = _read_response(connection)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert time.monotonic() - started < 2
        assert served.alive()
        assert httpx.get(f"{served.url}/periods/1/schedules", timeout=5).status_code == 200
    finally:
        served.stop()


# --- the database file under a running service ----------------------------------------------


def _stored_readings(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM reading").fetchone()
    return int(count)


def test_a_deleted_database_file_stops_acknowledging_until_it_is_back(
    launch: Any, community: Community, tmp_path: Path, member: Member
) -> None:
    database = tmp_path / "quartier.db"
    served = launch("serve", served=True)
    k = _now_interval() - 20
    url = f"{served.url}/readings"
    try:
        assert httpx.post(url, json=_reading(community, member, k)).status_code == 201
        # Deleted (moved away): nothing is acknowledged, reads and writes alike.
        database.rename(tmp_path / "moved.db")
        for seq in (2, 3):
            _assert_problem(
                httpx.post(url, json=_reading(community, member, k + seq)),
                503,
                "database-file-lost",
            )
        _assert_problem(httpx.get(f"{served.url}/periods/1/schedules"), 503, "database-file-lost")
        assert not database.exists()  # and no fresh empty file was created in its place
        # Back: acknowledged again.
        (tmp_path / "moved.db").rename(database)
        assert httpx.post(url, json=_reading(community, member, k + 2)).status_code == 201
        assert served.alive()
    finally:
        served.stop()
    assert "Traceback" not in served.text()
    # Exactly the two acknowledged readings are in the file (the refused ones nowhere).
    assert _stored_readings(database) == 2


def test_a_replaced_database_file_is_refused(
    launch: Any, community: Community, tmp_path: Path, member: Member
) -> None:
    database = tmp_path / "quartier.db"
    served = launch("serve", served=True)
    url = f"{served.url}/readings"
    k = _now_interval() - 20
    try:
        assert httpx.post(url, json=_reading(community, member, k)).status_code == 201
        # A copy put in its place (another inode; a restore from backup looks the same): the
        # open connections would keep writing to the orphaned original.
        shutil.copy(database, tmp_path / "copy.db")
        (tmp_path / "copy.db").replace(database)
        body = _assert_problem(
            httpx.post(url, json=_reading(community, member, k + 1)), 503, "database-file-lost"
        )
        assert "replaced" in body["detail"]
        assert served.alive()
    finally:
        served.stop()


def test_an_unusable_database_at_start_is_one_line_and_an_exit(
    launch: Any, community: Community, environment: dict[str, str], tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database " * 1000)
    cases = {
        "corrupt": f"sqlite:///{corrupt}",
        "missing directory": f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'api.db'}",
        "a directory": f"sqlite:///{tmp_path}",
    }
    for case, url in cases.items():
        done = subprocess.run(
            [QUARTIER, "serve", "--port", str(free_port())],
            env={**environment, "QUARTIER_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0, case
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (case, done.stderr)
        assert lines[0].startswith("quartier: cannot "), (case, lines)
        assert "Traceback" not in done.stderr


# --- races and a locked database -------------------------------------------------------------


def _post_together(
    barrier: threading.Barrier, url: str, body: dict[str, object], answers: list[httpx.Response]
) -> None:
    # Bounds with room for a loaded machine (8 requests at once on 2 shared cores).
    barrier.wait(timeout=60)
    answers.append(httpx.post(url, json=body, timeout=60))


def test_concurrent_identical_schedules_store_one_and_answer_no_5xx(
    launch: Any, community: Community, member: Member, period_id: int
) -> None:
    served = launch("serve", served=True)
    period = period_id
    body = community.schedule_body(member, period, [SELL], 7)
    try:
        for _round in range(3):
            answers: list[httpx.Response] = []
            barrier = threading.Barrier(8)
            threads = [
                threading.Thread(
                    target=_post_together, args=(barrier, f"{served.url}/schedules", body, answers)
                )
                for _ in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=90)
            statuses = sorted(answer.status_code for answer in answers)
            assert len(statuses) == 8
            assert all(status in (200, 201, 409) for status in statuses), statuses
            assert statuses.count(201) <= 1, statuses
            for answer in answers:
                if answer.status_code == 409:
                    assert answer.headers["content-type"] == PROBLEM
        book = httpx.get(f"{served.url}/periods/{period}/schedules").json()
        assert len(book["schedules"]) == 1
    finally:
        served.stop()
    assert "Traceback" not in served.text()


def test_a_database_locked_by_another_process_is_a_503_not_a_500(
    launch: Any, community: Community, tmp_path: Path, member: Member
) -> None:
    served = launch("serve", served=True)
    k = _now_interval() - 5
    try:
        assert (
            httpx.post(f"{served.url}/readings", json=_reading(community, member, k)).status_code
            == 201
        )
        holder = sqlite3.connect(tmp_path / "quartier.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock too long
        try:
            started = time.monotonic()
            response = httpx.post(
                f"{served.url}/readings", json=_reading(community, member, k + 1), timeout=30
            )
            waited = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        _assert_problem(response, 503, "database-busy")
        assert response.headers["retry-after"] == "1"
        assert waited < 10, waited
        response = httpx.post(f"{served.url}/readings", json=_reading(community, member, k + 1))
        assert response.status_code == 201, response.text
    finally:
        served.stop()


def test_one_signed_challenge_yields_one_token_under_concurrency(
    launch: Any, community: Community, environment: dict[str, str], tmp_path: Path
) -> None:
    served = launch("serve", served=True)
    account = Account.create()
    try:
        for _round in range(3):
            challenge = httpx.post(
                f"{served.url}/auth/challenge", json={"address": account.address}
            ).json()
            signature = sign_personal(account.key, challenge["message"])
            body = {"nonce": challenge["nonce"], "signature": signature}
            answers: list[httpx.Response] = []
            barrier = threading.Barrier(8)
            threads = [
                threading.Thread(
                    target=_post_together,
                    args=(barrier, f"{served.url}/auth/token", body, answers),
                )
                for _ in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=90)
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [200] + [401] * 7, statuses
    finally:
        served.stop()

"""Faults against a real `quartier serve` process (issue 12), all on 127.0.0.1 and bounded:
a body deep enough to overflow the C stack, bodies streamed past the size limit, a node that
accepts connections but never answers, the SQLite file deleted or replaced under the running
service, and a database that cannot be opened at start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from api.auth import sign_personal
from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender
from ledger.deployment import Deployment, save_deployment
from ledger.orders import Order, Side, sign_order
from ledger.registry import RegistryClient
from metering.reading import PublicKey, Reading, meter_id_of, sign_reading

pytestmark = pytest.mark.integration

QUARTIER = str(Path(sys.executable).parent / "quartier")
PROBLEM = "application/problem+json"
DEEP = b"[" * 100_000 + b"]" * 100_000  # ~200 KB, 100,000 levels


@dataclass
class Served:
    """A running `quartier serve` and where its stderr goes."""

    process: subprocess.Popen[bytes]
    url: str
    stderr: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")


def _serve(environment: dict[str, str], log: Path, *arguments: str) -> Served:
    port = free_port()
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [QUARTIER, "serve", "--port", str(port), *arguments],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and served.alive():
        try:
            if httpx.get(f"{served.url}/openapi.json", timeout=1).status_code == 200:
                return served
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"serve did not start: {served.log()[-2000:]}")


def _stop(served: Served) -> None:
    if served.alive():
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait(timeout=5)


@dataclass
class Member:
    """A household admitted on-chain with one admitted meter."""

    account: Any
    meter_key: ec.EllipticCurvePrivateKey
    community: Deployment

    def reading(self, interval_id: int, import_wh: int, seq: int) -> dict[str, object]:
        public = PublicKey.from_cryptography(self.meter_key.public_key())
        reading = Reading(meter_id_of(public), interval_id, import_wh, 0, seq)
        market = self.community.address("QuartierMarket")
        return sign_reading(self.meter_key, reading, self.community.chain_id, market).to_json()

    def order(self, interval_id: int, nonce: int) -> dict[str, object]:
        order = Order(self.account.address, Side.SELL, interval_id, 500, 60, nonce)
        market = self.community.address("QuartierMarket")
        signed = sign_order(self.account.key, order, self.community.chain_id, market)
        return {
            "household": self.account.address,
            "side": "sell",
            "interval_id": interval_id,
            "energy_wh": 500,
            "price_per_kwh": 60,
            "nonce": nonce,
            "signature": {"v": signed.v, "r": hex(signed.r), "s": hex(signed.s)},
        }


@pytest.fixture
def member(manager: Sender, community: Deployment) -> Member:
    registry = RegistryClient(manager, community.address("CommunityRegistry"))
    account = Account.create()
    registry.admit_household(account.address)
    key = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey.from_cryptography(key.public_key())
    registry.admit_meter(account.address, public.x, public.y)
    return Member(account, key, community)


@pytest.fixture
def environment(anvil: AnvilNode, community: Deployment, tmp_path: Path) -> dict[str, str]:
    path = save_deployment(community, tmp_path)
    return {
        **os.environ,
        "QUARTIER_RPC_URL": anvil.url,
        "QUARTIER_DEPLOYMENT": str(path),
        "QUARTIER_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "QUARTIER_GATE_CLOSURE_SECONDS": "0",
        "QUARTIER_WORKER": "0",
    }


def _assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:quartier:problem:{slug}"
    return body


def _now_interval() -> int:
    return int(time.time()) // 900


# --- a body that used to kill the process ---------------------------------------------------


def test_a_deep_body_no_longer_kills_serve(environment: dict[str, str], tmp_path: Path) -> None:
    served = _serve(environment, tmp_path / "serve.log", "--worker")
    try:
        for path in ("/readings", "/orders", "/auth/challenge", "/households"):
            response = httpx.post(
                f"{served.url}{path}",
                content=DEEP,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            _assert_problem(response, 422, "json-too-deep")
        assert served.alive()
        assert httpx.get(f"{served.url}/intervals/1/orders", timeout=5).status_code == 200
    finally:
        _stop(served)


def test_with_the_depth_limit_off_the_restored_recursion_limit_still_saves_the_process(
    environment: dict[str, str], tmp_path: Path
) -> None:
    """The second line of defence alone: the decoders meet Python's recursion guard (1,000),
    not the C stack (py_ecc's 100,000 let them segfault)."""
    environment = {**environment, "QUARTIER_MAX_JSON_DEPTH": "1000000"}
    served = _serve(environment, tmp_path / "serve.log")
    try:
        for path in ("/readings", "/orders"):
            response = httpx.post(
                f"{served.url}{path}",
                content=DEEP,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            assert response.headers["content-type"] == PROBLEM, response.text
            assert response.status_code in (400, 422, 500), response.text
        assert served.alive()
        assert httpx.get(f"{served.url}/intervals/1/orders", timeout=5).status_code == 200
    finally:
        _stop(served)


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
    environment: dict[str, str], tmp_path: Path
) -> None:
    served = _serve(environment, tmp_path / "serve.log")
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
                b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 67108864\r\n\r\n"
            )
            answer = _read_response(connection)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert time.monotonic() - started < 2
        assert served.alive()
        assert httpx.get(f"{served.url}/intervals/1/orders", timeout=5).status_code == 200
    finally:
        _stop(served)


# --- a hung node ----------------------------------------------------------------------------


class HangingProxy:
    """A TCP proxy to a node on 127.0.0.1; while `hung` is set it accepts connections and
    reads requests but forwards and answers nothing (a node that hangs, not one that is down).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.hung = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.hung.is_set():
                    target.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        for sock in (self._listener, *self._sockets):
            sock.close()


@pytest.fixture
def proxy(anvil: AnvilNode) -> Iterator[HangingProxy]:
    node = HangingProxy(int(anvil.url.rsplit(":", 1)[1]))
    yield node
    node.close()


@pytest.mark.parametrize("worker", ["0", "1"], ids=["api-only", "with-worker"])
def test_a_hung_node_is_a_503_within_5_s_while_cached_readings_flow(
    environment: dict[str, str], tmp_path: Path, proxy: HangingProxy, member: Member, worker: str
) -> None:
    """With the in-process worker too: its chain calls (no request deadline) must not hold
    the requests back, during the hang or after it."""
    environment = {**environment, "QUARTIER_WORKER": worker, "QUARTIER_WORKER_POLL_SECONDS": "1"}
    served = _serve({**environment, "QUARTIER_RPC_URL": proxy.url}, tmp_path / "serve.log")
    k = _now_interval()
    try:
        # The meter gets cached while the node answers.
        assert (
            httpx.post(f"{served.url}/readings", json=member.reading(k - 29, 10, 1)).status_code
            == 201
        )
        proxy.hung.set()
        answers: dict[str, Any] = {}

        def post_order() -> None:
            started = time.monotonic()
            answers["order"] = httpx.post(
                f"{served.url}/orders", json=member.order(k + 2, 1), timeout=30
            )
            answers["order_seconds"] = time.monotonic() - started

        in_flight = threading.Thread(target=post_order)
        in_flight.start()
        time.sleep(0.3)
        latencies = []
        for seq in range(2, 12):  # while the order waits on the node
            started = time.monotonic()
            response = httpx.post(
                f"{served.url}/readings", json=member.reading(k - 30 + seq, 10 * seq, seq)
            )
            latencies.append(time.monotonic() - started)
            assert response.status_code == 201, response.text
        in_flight.join(timeout=30)
        _assert_problem(answers["order"], 503, "chain-unreachable")
        assert answers["order_seconds"] < 5, answers
        assert max(latencies) < 1, latencies
        print(
            f"hung node: order 503 after {answers['order_seconds']:.2f} s;"
            f" readings meanwhile max {max(latencies) * 1000:.0f} ms"
        )
        # Every later request needing the chain is bounded too, not queued behind the first.
        started = time.monotonic()
        _assert_problem(
            httpx.post(f"{served.url}/orders", json=member.order(k + 2, 2), timeout=30),
            503,
            "chain-unreachable",
        )
        assert time.monotonic() - started < 5
        proxy.hung.clear()  # the node answers again: so does the API
        response = httpx.post(f"{served.url}/orders", json=member.order(k + 2, 3), timeout=30)
        assert response.status_code == 201, response.text
    finally:
        proxy.hung.clear()
        _stop(served)


def test_a_node_hung_from_the_start_is_a_503_within_5_s(
    environment: dict[str, str], tmp_path: Path, proxy: HangingProxy, member: Member
) -> None:
    proxy.hung.set()
    served = _serve({**environment, "QUARTIER_RPC_URL": proxy.url}, tmp_path / "serve.log")
    try:
        for body, path in (
            (member.order(_now_interval() + 2, 1), "/orders"),
            (member.reading(_now_interval() - 1, 1, 1), "/readings"),
        ):
            started = time.monotonic()
            response = httpx.post(f"{served.url}{path}", json=body, timeout=30)
            _assert_problem(response, 503, "chain-unreachable")
            assert time.monotonic() - started < 5, path
    finally:
        _stop(served)


# --- the database file under a running service ----------------------------------------------


def _stored_readings(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM reading").fetchone()
    return int(count)


def test_a_deleted_database_file_stops_acknowledging_until_it_is_back(
    environment: dict[str, str], tmp_path: Path, member: Member
) -> None:
    database = tmp_path / "api.db"
    served = _serve(environment, tmp_path / "serve.log")
    k = _now_interval() - 20
    url = f"{served.url}/readings"
    try:
        assert httpx.post(url, json=member.reading(k, 10, 1)).status_code == 201
        # Deleted (moved away): nothing is acknowledged, reads and writes alike.
        database.rename(tmp_path / "moved.db")
        for seq in (2, 3):
            _assert_problem(
                httpx.post(url, json=member.reading(k + seq, 10 * seq, seq)),
                503,
                "database-file-lost",
            )
        _assert_problem(httpx.get(f"{served.url}/intervals/1/orders"), 503, "database-file-lost")
        assert not database.exists()  # and no fresh empty file was created in its place
        # Back: acknowledged again.
        (tmp_path / "moved.db").rename(database)
        assert httpx.post(url, json=member.reading(k + 2, 20, 2)).status_code == 201
        assert served.alive()
    finally:
        _stop(served)
    assert "Traceback" not in served.log()
    # Exactly the two acknowledged readings are in the file (the refused ones nowhere).
    assert _stored_readings(database) == 2


def test_a_replaced_database_file_is_refused(
    environment: dict[str, str], tmp_path: Path, member: Member
) -> None:
    database = tmp_path / "api.db"
    served = _serve(environment, tmp_path / "serve.log")
    url = f"{served.url}/readings"
    k = _now_interval() - 20
    try:
        assert httpx.post(url, json=member.reading(k, 10, 1)).status_code == 201
        # A copy put in its place (another inode; a restore from backup looks the same): the
        # open connections would keep writing to the orphaned original.
        shutil.copy(database, tmp_path / "copy.db")
        (tmp_path / "copy.db").replace(database)
        body = _assert_problem(
            httpx.post(url, json=member.reading(k + 1, 20, 2)), 503, "database-file-lost"
        )
        assert "replaced" in body["detail"]
        assert served.alive()
    finally:
        _stop(served)


def test_an_unusable_database_at_start_is_one_line_and_an_exit(
    environment: dict[str, str], tmp_path: Path
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
    barrier.wait(timeout=10)
    answers.append(httpx.post(url, json=body, timeout=30))


def test_concurrent_identical_orders_store_one_and_answer_no_5xx(
    environment: dict[str, str], tmp_path: Path, member: Member
) -> None:
    served = _serve(environment, tmp_path / "serve.log")
    body = member.order(_now_interval() + 3, 7)
    try:
        for _round in range(3):
            answers: list[httpx.Response] = []
            barrier = threading.Barrier(8)
            threads = [
                threading.Thread(
                    target=_post_together, args=(barrier, f"{served.url}/orders", body, answers)
                )
                for _ in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            statuses = sorted(answer.status_code for answer in answers)
            assert len(statuses) == 8
            assert all(status in (200, 201, 409) for status in statuses), statuses
            assert statuses.count(201) <= 1, statuses
            for answer in answers:
                if answer.status_code == 409:
                    assert answer.headers["content-type"] == PROBLEM
        book = httpx.get(f"{served.url}/intervals/{_now_interval() + 3}/orders").json()
        assert len(book["orders"]) == 1
    finally:
        _stop(served)
    assert "Traceback" not in served.log()


def test_a_database_locked_by_another_process_is_a_503_not_a_500(
    environment: dict[str, str], tmp_path: Path, member: Member
) -> None:
    served = _serve(environment, tmp_path / "serve.log")
    k = _now_interval() - 5
    try:
        assert httpx.post(f"{served.url}/readings", json=member.reading(k, 1, 1)).status_code == 201
        holder = sqlite3.connect(tmp_path / "api.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock too long
        try:
            started = time.monotonic()
            response = httpx.post(
                f"{served.url}/readings", json=member.reading(k + 1, 2, 2), timeout=30
            )
            waited = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        _assert_problem(response, 503, "database-busy")
        assert response.headers["retry-after"] == "1"
        assert waited < 10, waited
        response = httpx.post(f"{served.url}/readings", json=member.reading(k + 1, 2, 2))
        assert response.status_code == 201, response.text
    finally:
        _stop(served)


def test_one_signed_challenge_yields_one_token_under_concurrency(
    environment: dict[str, str], tmp_path: Path
) -> None:
    served = _serve(environment, tmp_path / "serve.log")
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
                thread.join(timeout=30)
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [200] + [401] * 7, statuses
    finally:
        _stop(served)

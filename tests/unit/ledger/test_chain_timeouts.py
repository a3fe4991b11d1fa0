"""ledger.chain's bounded waits against a node that accepts connections and never answers
(a listening socket on 127.0.0.1 that reads nothing back)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ledger.chain import chain_deadline, connect, deadline_remaining
from ledger.errors import ChainUnreachableError


@pytest.fixture
def hung_node() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(connection)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in accepted:
        connection.close()


def _seconds(action: object) -> float:
    started = time.monotonic()
    with pytest.raises(ChainUnreachableError):
        action()  # type: ignore[operator]
    return time.monotonic() - started


def test_a_timed_out_request_is_not_retried(hung_node: str) -> None:
    # web3.py's default retried a timeout 5 times (about 5.9 s here).
    assert _seconds(lambda: connect(hung_node, timeout_seconds=0.5)) < 1.5


def test_the_deadline_bounds_a_longer_timeout(hung_node: str) -> None:
    with chain_deadline(0.4):
        assert _seconds(lambda: connect(hung_node, timeout_seconds=10)) < 1.2
        # Past the deadline no request even starts.
        assert _seconds(lambda: connect(hung_node, timeout_seconds=10)) < 0.2
        remaining = deadline_remaining()
        assert remaining is not None
        assert remaining < 0
    assert deadline_remaining() is None


def test_a_nested_deadline_only_shortens(hung_node: str) -> None:
    with chain_deadline(0.3), chain_deadline(60):
        remaining = deadline_remaining()
        assert remaining is not None
        assert remaining <= 0.3

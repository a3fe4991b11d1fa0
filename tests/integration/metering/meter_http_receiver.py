"""A tiny real HTTP API stand-in on 127.0.0.1 recording POSTed readings and batches (bounded)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """What the server saw, and how it should answer the next POSTs."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # every POST, re-sends included, in order
        self.batches: list[dict[str, Any]] = []  # every POSTed period batch, likewise
        self.status = 201  # 201 normal; set 500 or 400 to simulate failures
        self.lock = threading.Lock()

    def unique(self) -> list[dict[str, Any]]:
        """Stored readings (first receipt of each payload), in arrival order."""
        seen: list[dict[str, Any]] = []
        for item in self.received:
            if item not in seen:
                seen.append(item)
        return seen


@contextmanager
def http_receiver(port: int = 0) -> Iterator[tuple[Receiver, int]]:
    """Serve POST /readings and /meter-batches on 127.0.0.1:port (0 = any free port);
    yield (receiver, port)."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                status = receiver.status
                queue = {"/readings": receiver.received, "/meter-batches": receiver.batches}
                if self.path in queue and status < 300:
                    payload = json.loads(body)
                    status = 200 if payload in queue[self.path] else 201
                    queue[self.path].append(payload)
                elif self.path not in queue:
                    status = 404
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json")
            self.end_headers()
            self.wfile.write(json.dumps({"title": f"status {status}"}).encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield receiver, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

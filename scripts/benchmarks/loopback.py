"""A cheap HTTP/1.1 load over loopback, and the API served under uvicorn in its own process.

The load shares the machine's cores with the server, so it is kept cheap: requests are
serialised to bytes before the clock starts and responses are read with a minimal HTTP/1.1
reader (~0.1 ms of CPU a request; httpx took ~1.1 ms and was the limit). `concurrency`
clients each run one lane of requests, in order, on their own keep-alive connection; every
request is timed from write to the last byte of its response.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass(frozen=True)
class LoadFigure:
    """Throughput and latency percentiles of one load run."""

    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    #: Status and body of the first unexpected answer, for the error message.
    first_error: str
    #: CPU time the server process spent per request (user + system): on a shared machine
    #: the figure that load changes least (None when not measured).
    server_cpu_ms: float | None = None


class Server:
    """`served_app:app` (api.app with the v2 routers) under uvicorn on 127.0.0.1."""

    def __init__(self, env: dict[str, str], port: int, log: IO[bytes], workers: int = 1) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "served_app:app",
            "--factory",
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # As `quartier serve` runs it (uvicorn's defaults, access log included).
            "--log-level",
            "info",
        ]
        if workers > 1:
            # uvicorn's supervisor forks `workers` processes sharing the socket.
            command += ["--workers", str(workers)]
        self.port = port
        self._log = log
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"the API did not start: {self._log.read().decode()[-800:]}")
            try:
                answer = httpx.get(f"http://127.0.0.1:{self.port}/openapi.json", timeout=2)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer within {seconds} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def request(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    """One HTTP/1.1 keep-alive request, serialised once before the clock starts."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
) -> tuple[int, bytes]:
    """Send one request and read its whole response (status line, headers, body)."""
    writer.write(message)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return int(head[9:12]), body


async def _timed(port: int, lanes: list[list[bytes]], expected: tuple[int, ...]) -> LoadFigure:
    async def run(lane: list[bytes]) -> list[tuple[float, int, bytes]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        results = []
        try:
            for message in lane:
                start = time.perf_counter()
                status, body = await _exchange(reader, writer, message)
                results.append((time.perf_counter() - start, status, body))
        finally:
            writer.close()
        return results

    start = time.perf_counter()
    per_lane = await asyncio.gather(*(run(lane) for lane in lanes if lane))
    elapsed = time.perf_counter() - start
    results = [result for lane in per_lane for result in lane]
    latencies = sorted(latency for latency, _status, _body in results)
    failed = [(status, body) for _latency, status, body in results if status not in expected]
    return LoadFigure(
        requests=len(results),
        per_second=round(len(results) / elapsed, 1),
        p50_ms=round(latencies[len(latencies) // 2] * 1000, 2),
        p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        errors=len(failed),
        first_error=f"{failed[0][0]} {failed[0][1][:300].decode(errors='replace')}"
        if failed
        else "",
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live descendants (Linux /proc):
    uvicorn's worker processes when it runs several."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            pending.extend(int(child) for child in task.read_text().split())
    return total


def run_load(
    port: int, lanes: list[list[bytes]], expected: tuple[int, ...], server_pid: int | None = None
) -> LoadFigure:
    """Run every lane concurrently, one keep-alive connection each; time each request (and
    the server's CPU time per request when `server_pid` is given)."""
    before = None if server_pid is None else _cpu_seconds(server_pid)
    figure = asyncio.run(_timed(port, lanes, expected))
    if server_pid is None or before is None or not figure.requests:
        return figure
    cpu_ms = (_cpu_seconds(server_pid) - before) * 1000 / figure.requests
    return dataclasses.replace(figure, server_cpu_ms=round(cpu_ms, 2))

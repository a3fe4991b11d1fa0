"""A load over loopback from several processes (aiohttp), and the API served under uvicorn.

The load is aiohttp's client (a maintained HTTP/1.1 client with a C parser), run by
`processes` generator processes so that neither one Python process nor its GIL caps the
load: on this 2-core machine the server has a core and the generator the other. (httpx's
AsyncClient cost ~3.5 ms of CPU a request here, 10x aiohttp, and was the limit.) A run's
`lanes` are spread over the processes; each lane is one client sending its requests in
order on its own keep-alive connection, every request timed from its send to the last byte
of its response. All processes start together (they connect first, then wait for the go),
and the run lasts from the first start to the last end.

The server is `served_app:app` under uvicorn with the options `quartier serve` uses
(`api.service_cli.UVICORN_OPTIONS`): uvloop, httptools, no access log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from api.service_cli import UVICORN_OPTIONS

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

#: Load generator processes (each an aiohttp client in its own interpreter).
GENERATOR_PROCESSES = 2


@dataclass(frozen=True)
class Call:
    """One HTTP request of a lane (built before the clock starts)."""

    method: str
    path: str
    body: bytes = b""


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


def uvicorn_arguments() -> list[str]:
    """`UVICORN_OPTIONS` as uvicorn's command-line flags."""
    options = UVICORN_OPTIONS
    flags = ["--loop", str(options["loop"]), "--http", str(options["http"])]
    flags += ["--log-level", str(options["log_level"])]
    return flags + ([] if options["access_log"] else ["--no-access-log"])


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
            *uvicorn_arguments(),
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


def request(method: str, path: str, body: bytes = b"") -> Call:
    """One request of a lane."""
    return Call(method, path, body)


#: One request's (latency s, status, body if the status was unexpected else None).
_Result = tuple[float, int, bytes | None]
#: What a generator sends back per run: its (start, end) perf_counter times (one clock for
#: every process of the machine) and its requests' results.
_Outcome = tuple[float, float, list[_Result]]


async def _drive(
    port: int, lanes: list[list[Call]], expected: tuple[int, ...], go: Callable[[], None]
) -> _Outcome:
    import aiohttp

    base = f"http://127.0.0.1:{port}"
    json_headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=max(1, len(lanes)), force_close=False)
    async with aiohttp.ClientSession(
        base, connector=connector, auto_decompress=False, timeout=aiohttp.ClientTimeout(120)
    ) as session:
        # Every lane connects before the clock starts (a HEAD of /, answered 404).
        async def connect() -> None:
            async with session.head("/") as answer:
                await answer.read()

        await asyncio.gather(*(connect() for _ in lanes))
        await asyncio.get_running_loop().run_in_executor(None, go)

        async def run(lane: list[Call]) -> list[_Result]:
            results: list[_Result] = []
            for call in lane:
                start = time.perf_counter()
                async with session.request(
                    call.method,
                    call.path,
                    data=call.body or None,
                    headers=json_headers if call.body else None,
                ) as answer:
                    body = await answer.read()
                latency = time.perf_counter() - start
                status = answer.status
                results.append((latency, status, None if status in expected else body[:300]))
            return results

        started = time.perf_counter()
        per_lane = await asyncio.gather(*(run(lane) for lane in lanes))
        ended = time.perf_counter()
    return started, ended, [result for lane in per_lane for result in lane]


def _generator(connection: Connection, port: int) -> None:
    """A generator process: runs the lanes it is sent, after the parent's go, until None."""
    while True:
        job = connection.recv()
        if job is None:
            return
        lanes, expected = job

        def go() -> None:
            connection.send("ready")
            connection.recv()  # the go

        connection.send(asyncio.run(_drive(port, lanes, expected, go)))


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


class LoadGenerator:
    """`processes` generator processes against the server on `port`, started once, used for
    every run (`run_load`), stopped on exit."""

    def __init__(self, port: int, processes: int = GENERATOR_PROCESSES) -> None:
        self.port = port
        self.processes = processes
        self._workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []

    def __enter__(self) -> LoadGenerator:
        # spawn: a fresh interpreter (no inherited threads or chain clients of this one).
        context = multiprocessing.get_context("spawn")
        for _ in range(self.processes):
            ours, theirs = context.Pipe()
            process = context.Process(target=_generator, args=(theirs, self.port), daemon=True)
            process.start()
            self._workers.append((process, ours))
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        for process, connection in self._workers:
            with contextlib.suppress(OSError):  # already gone
                connection.send(None)
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        self._workers = []

    def run_load(
        self,
        lanes: Sequence[list[Call]],
        expected: tuple[int, ...],
        server_pid: int | None = None,
    ) -> LoadFigure:
        """Run every lane concurrently (spread over the processes), one keep-alive connection
        each; time each request (and the server's CPU time per request when `server_pid` is
        given)."""
        lanes = [lane for lane in lanes if lane]
        shares = [lanes[index :: self.processes] for index in range(self.processes)]
        busy = [(worker, share) for worker, share in zip(self._workers, shares, strict=True)]
        busy = [(worker, share) for worker, share in busy if share]
        for (_process, connection), share in busy:
            connection.send((share, expected))
        for (_process, connection), _share in busy:
            if connection.recv() != "ready":
                raise RuntimeError("a load generator process failed to start its lanes")
        before = None if server_pid is None else _cpu_seconds(server_pid)
        for (_process, connection), _share in busy:
            connection.send("go")
        outcomes: list[_Outcome] = [connection.recv() for (_p, connection), _s in busy]
        after = None if server_pid is None else _cpu_seconds(server_pid)
        figure = _figure(outcomes)
        if before is None or after is None or not figure.requests:
            return figure
        cpu_ms = (after - before) * 1000 / figure.requests
        return dataclasses.replace(figure, server_cpu_ms=round(cpu_ms, 2))


def _figure(outcomes: list[_Outcome]) -> LoadFigure:
    results = [result for _start, _end, per_request in outcomes for result in per_request]
    if not results:
        return LoadFigure(0, 0.0, 0.0, 0.0, 0, "")
    elapsed = max(end for _s, end, _r in outcomes) - min(start for start, _e, _r in outcomes)
    latencies = sorted(latency for latency, _status, _body in results)
    failed = [(status, body) for _latency, status, body in results if body is not None]
    return LoadFigure(
        requests=len(results),
        per_second=round(len(results) / elapsed, 1),
        p50_ms=round(latencies[len(latencies) // 2] * 1000, 2),
        p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        errors=len(failed),
        first_error=f"{failed[0][0]} {failed[0][1].decode(errors='replace')}" if failed else "",
    )

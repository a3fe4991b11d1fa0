"""Signed readings ingested per second by the API over loopback, from a second process.

The API runs under uvicorn (`quartier serve`, its own process) against a real Anvil and a
SQLite file; this process is the load: `concurrency` clients, each owning a disjoint set of
meters and posting their readings in seq order (a meter never races itself), each on its own
keep-alive connection. The load shares the machine's cores with the server, so it is kept
cheap: requests are serialised to bytes before the clock starts and responses are read with a
minimal HTTP/1.1 reader (~0.1 ms of CPU a request; httpx took ~1.1 ms and was the limit).
Every request is timed from write to the last byte of its response. The baseline
is the same load on a request that touches the database but verifies nothing: the public
order book of an interval.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from web3 import Web3

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender, connect
from ledger.deploy import deploy_community
from ledger.deployment import save_deployment
from ledger.registry import RegistryClient
from metering.reading import PublicKey, Reading, meter_id_of, sign_reading

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LoadFigure:
    """Throughput and latency percentiles of one load run."""

    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class IngestFigures:
    readings: LoadFigure
    baseline: LoadFigure
    concurrency: int


def measure_ingest(
    total_readings: int, meters: int = 40, concurrency: int = 8, processes: int = 1
) -> IngestFigures:
    """Start Anvil and the API (`processes` uvicorn workers), pre-sign readings, then post
    them and the baseline."""
    with AnvilNode() as node, tempfile.TemporaryDirectory() as workdir:
        w3 = connect(node.url)
        manager = Sender(w3, default_deployer(w3.eth.chain_id, None))
        deployment = deploy_community(manager)
        deployment_file = save_deployment(deployment, Path(workdir))
        keys = _admit_meters(manager, deployment.address("CommunityRegistry"), meters)
        payloads = _signed_payloads(
            keys, total_readings, w3.eth.chain_id, deployment.address("QuartierMarket")
        )
        port = free_port()
        server = _start_api(node.url, deployment_file, Path(workdir) / "bench.db", port, processes)
        try:
            # Untimed warm-up: each meter's first reading makes the API look the meter up in
            # the registry (two eth_calls); later readings hit its meter cache. The figure is
            # the steady state a meter agent sees every quarter-hour.
            asyncio.run(_post_all(port, [per_meter[:1] for per_meter in payloads], concurrency))
            timed = [per_meter[1:] for per_meter in payloads]
            readings = asyncio.run(_post_all(port, timed, concurrency))
            interval = int(time.time()) // 900
            baseline = asyncio.run(
                _get_all(port, f"/intervals/{interval}/orders", total_readings, concurrency)
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    return IngestFigures(readings, baseline, concurrency)


def _admit_meters(
    manager: Sender, registry_address: str, count: int
) -> list[ec.EllipticCurvePrivateKey]:
    registry = RegistryClient(manager, registry_address)
    keys = []
    for index in range(count):
        household = Web3.to_checksum_address(f"0x{index + 1:040x}")
        registry.admit_household(household)
        key = ec.generate_private_key(ec.SECP256R1())
        public = PublicKey.from_cryptography(key.public_key())
        registry.admit_meter(household, public.x, public.y)
        keys.append(key)
    return keys


def _signed_payloads(
    keys: list[ec.EllipticCurvePrivateKey], total: int, chain_id: int, market: str
) -> list[list[dict[str, object]]]:
    """Per meter, its readings in seq order over past intervals."""
    per_meter = 1 + -(-total // len(keys))  # one more each for the warm-up
    first_interval = int(time.time()) // 900 - per_meter - 1
    payloads: list[list[dict[str, object]]] = []
    for key in keys:
        meter_id = meter_id_of(PublicKey.from_cryptography(key.public_key()))
        payloads.append(
            [
                sign_reading(
                    key,
                    Reading(meter_id, first_interval + n, 1_000 + 90 * n, 500 + 40 * n, n + 1),
                    chain_id,
                    market,
                ).to_json()
                for n in range(per_meter)
            ]
        )
    return payloads


def _start_api(
    rpc_url: str, deployment: Path, database: Path, port: int, processes: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QUARTIER_RPC_URL": rpc_url,
        "QUARTIER_DEPLOYMENT": str(deployment),
        "QUARTIER_DATABASE_URL": f"sqlite:///{database}",
        "QUARTIER_WORKER": "0",
    }
    command = [
        sys.executable,
        "-c",
        "from api.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--processes",
        str(processes),
    ]
    server = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API did not start: {server.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("the API did not answer within 30 s")


def _request(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    """One HTTP/1.1 keep-alive request, serialised once before the clock starts."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request and read its whole response (status line, headers, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return int(head[9:12])


async def _post_all(
    port: int, payloads: list[list[dict[str, object]]], concurrency: int
) -> LoadFigure:
    lanes: list[list[dict[str, object]]] = [[] for _ in range(concurrency)]
    for index, meter_readings in enumerate(payloads):
        lanes[index % concurrency].extend(meter_readings)
    # Interleave meters inside a lane by interval, so each meter's readings stay in seq order.
    for lane in lanes:
        lane.sort(key=lambda payload: int(payload["interval_id"]))  # type: ignore[call-overload]
    requests = [
        [_request("POST", "/readings", port, json.dumps(payload).encode()) for payload in lane]
        for lane in lanes
    ]
    return await _timed(port, requests, 201)


async def _get_all(port: int, path: str, total: int, concurrency: int) -> LoadFigure:
    request = _request("GET", path, port)
    return await _timed(port, [[request] * (total // concurrency)] * concurrency, 200)


async def _timed(port: int, lanes: list[list[bytes]], expected_status: int) -> LoadFigure:
    """Run each lane on its own keep-alive connection; every request is timed."""

    async def run(lane: list[bytes]) -> list[tuple[float, bool]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        results = []
        try:
            for request in lane:
                start = time.perf_counter()
                status = await _exchange(reader, writer, request)
                results.append((time.perf_counter() - start, status == expected_status))
        finally:
            writer.close()
        return results

    start = time.perf_counter()
    per_lane = await asyncio.gather(*(run(lane) for lane in lanes))
    elapsed = time.perf_counter() - start
    results = [result for lane in per_lane for result in lane]
    latencies = sorted(latency for latency, _ok in results)
    return LoadFigure(
        requests=len(results),
        per_second=round(len(results) / elapsed, 1),
        p50_ms=round(latencies[len(latencies) // 2] * 1000, 2),
        p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        errors=sum(1 for _latency, ok in results if not ok),
    )

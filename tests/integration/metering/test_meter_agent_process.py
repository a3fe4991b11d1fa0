"""`quartier meter run` as a real process: SIGKILL it mid-run, restart it, nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from meter_http_receiver import http_receiver

from metering.keys import generate_private_key, save_private_key
from metering.reading import SignedReading, verify_signed_reading
from metering.spool import SENT, Spool

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def agent_command(key: Path, spool: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-c", "from api.cli import main; main()",
        "meter", "run",
        "--adapter", "simulated:0",
        "--key", str(key),
        "--api", f"http://127.0.0.1:{port}",
        "--chain-id", "31337",
        "--market", MARKET,
        "--spool", str(spool),
        # A 1-second interval so the test takes seconds; the format is the same.
        "--interval-seconds", "1",
        *extra,
    ]  # fmt: skip


def test_kill_and_restart_loses_nothing(tmp_path: Path) -> None:
    key, spool = tmp_path / "meter.pem", tmp_path / "spool.sqlite"
    save_private_key(generate_private_key(), key, None)
    with http_receiver() as (receiver, port):
        first = subprocess.Popen(
            agent_command(key, spool, port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 60
            while len(receiver.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            first.kill()  # SIGKILL: no cleanup, no flush
            first.wait(timeout=10)
        assert len(receiver.received) >= 2, first.stderr.read() if first.stderr else ""
        second = subprocess.run(
            agent_command(key, spool, port, "--max-intervals", "2"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 0, second.stderr
    entries = Spool(spool).all()
    seqs = [entry.signed.reading.seq for entry in entries]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(entry.status == SENT for entry in entries)
    delivered = [SignedReading.from_json(p) for p in receiver.unique()]
    assert [d.reading.seq for d in delivered] == seqs  # everything, in order, once stored
    intervals = [d.reading.interval_id for d in delivered]
    assert intervals == sorted(set(intervals))
    assert all(verify_signed_reading(d, 31337, MARKET) for d in delivered)

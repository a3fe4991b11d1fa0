"""`quartier meter run` as a real process: settings from a v2 deployment file and the chain,
SIGKILL it mid-run, restart it, nothing spooled is lost and every complete period's batch
goes out with every boundary."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from meter_http_receiver import http_receiver

from api.cli import main
from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.deploy_v2 import DEFAULT_RULES, deploy_community_v2
from ledger.deployment import Deployment, save_deployment
from ledger.rules import TimeGrid
from metering.keys import generate_private_key, save_private_key
from metering.period import meter_batch_of_body, verify_meter_period
from metering.reading import SignedReading, verify_signed_reading
from metering.spool import INCOMPLETE, SENT, Spool

# 3-second intervals, 2 per period, so a test sees several periods in seconds; the format is
# the same as a day of quarter-hours.
GRID = TimeGrid(interval_seconds=3, period_intervals=2)
RULES = replace(DEFAULT_RULES, gate_lead_seconds=1)  # the gate lead must be under a period


def agent_command(deployment: Path, rpc: str, key: Path, spool: Path, port: int) -> list[str]:
    return [
        sys.executable, "-c", "from api.cli import main; main()",
        "meter", "run",
        "--adapter", "simulated:0",
        "--key", str(key),
        "--api", f"http://127.0.0.1:{port}",
        "--deployment", str(deployment),
        "--rpc", rpc,
        "--spool", str(spool),
        "--read-tolerance-seconds", "2",
    ]  # fmt: skip


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_kill_and_restart_loses_nothing(manager: Sender, anvil: AnvilNode, tmp_path: Path) -> None:
    deployment: Deployment = deploy_community_v2(manager, rules=RULES, grid=GRID)
    deployment_file = save_deployment(deployment, tmp_path)
    exchange = deployment.address("QuartierExchange")
    key, spool = tmp_path / "meter.pem", tmp_path / "spool.sqlite"
    save_private_key(generate_private_key(), key, None)
    with http_receiver() as (receiver, port):
        command = agent_command(deployment_file, anvil.url, key, spool, port)
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 90
            while len(receiver.received) < 4 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            first.kill()  # SIGKILL: no cleanup, no flush
            first.wait(timeout=10)
        assert len(receiver.received) >= 4, first.stderr.read() if first.stderr else ""
        second = subprocess.run(
            [*command, "--max-intervals", "5"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert second.returncode == 0, second.stderr
    opened = Spool(spool)
    entries = opened.all()
    seqs = [entry.signed.reading.seq for entry in entries]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(entry.status == SENT for entry in entries)
    delivered = [SignedReading.from_json(p) for p in receiver.unique()]
    assert [d.reading.seq for d in delivered] == seqs  # everything, in order, once stored
    assert all(verify_signed_reading(d, deployment.chain_id, exchange) for d in delivered)

    # Every decided period: a sent batch whose boundaries are the spooled registers, or
    # incomplete because a boundary really is missing from the spool.
    registers = {
        e.signed.reading.interval_id: (
            e.signed.reading.import_wh_total,
            e.signed.reading.export_wh_total,
        )
        for e in entries
    }
    decided = opened.batches.all()
    sent = [b for b in decided if b.status == SENT]
    assert sent, decided  # 5 boundaries after the restart hold at least one whole period
    posted = {b["period_id"]: b for b in receiver.batches}
    for batch in decided:
        ends = range(GRID.first_interval(batch.period_id) - 1, GRID.intervals(batch.period_id).stop)
        if batch.status == INCOMPLETE:
            assert any(k not in registers for k in ends), batch
            assert batch.period_id not in posted
            continue
        assert batch.status == SENT
        signed, public_key = meter_batch_of_body(posted[batch.period_id])
        assert verify_meter_period(signed, public_key, deployment.chain_id, exchange)
        assert signed.period.boundaries() == [registers[k] for k in ends]


def test_configuration_errors_are_one_line_and_a_non_zero_exit(
    manager: Sender,
    anvil: AnvilNode,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment = deploy_community_v2(manager, rules=RULES, grid=GRID)
    deployment_file = save_deployment(deployment, tmp_path)
    key = tmp_path / "meter.pem"
    save_private_key(generate_private_key(), key, None)
    base = ["meter", "run", "--adapter", "simulated:0", "--key", str(key)]
    base += ["--api", "http://127.0.0.1:9", "--spool", str(tmp_path / "s.db")]
    monkeypatch.delenv("QUARTIER_RPC_URL", raising=False)
    # The real entry point once as a process (what an operator sees)...
    result = run_cli(*base)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "quartier: give --deployment FILE, or --chain-id (its deployment file is then "
        "contracts/deployments/<chain id>.json), or both --chain-id and --exchange"
    ]
    # ... then each refusal through the same `main`, in-process (seconds, not minutes).
    chain = str(deployment.chain_id)
    token, exchange = deployment.address("QuartierToken"), deployment.address("QuartierExchange")
    cases = [
        (["--deployment", str(deployment_file)], "give --rpc URL"),
        (["--deployment", str(tmp_path / "none.json"), "--rpc", anvil.url], "not found"),
        (
            ["--deployment", str(deployment_file), "--chain-id", "1", "--rpc", anvil.url],
            "--chain-id 1 disagrees",
        ),
        (
            ["--deployment", str(deployment_file), "--exchange", "0x" + "11" * 20],
            "disagrees with",
        ),
        (["--chain-id", chain, "--exchange", "0x" + "11" * 20], "give --rpc URL"),
        (
            ["--chain-id", chain, "--exchange", token, "--rpc", anvil.url],
            "cannot read the community's time grid",
        ),
        (
            ["--chain-id", chain, "--exchange", exchange, "--rpc", "http://127.0.0.1:9"],
            "cannot read the community's time grid",
        ),
    ]
    for extra, message in cases:
        monkeypatch.setattr(sys, "argv", ["quartier", *base, *extra])
        with pytest.raises(SystemExit) as exited:
            main()
        lines = capsys.readouterr().err.strip().splitlines()
        assert exited.value.code == 1, (extra, lines)
        assert len(lines) == 1, lines
        assert message in lines[0], (extra, lines[0])

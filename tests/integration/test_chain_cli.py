"""`quartier chain up|deploy` as a user runs them, and their failures as one clear line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ledger.anvil import AnvilNode
from ledger.deployment import load_deployment
from ledger.errors import AnvilStartError, DeploymentError

QUARTIER = [sys.executable, "-c", "from api.cli import main; main()"]


def run_quartier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUARTIER, *args], capture_output=True, text=True, timeout=60)


def test_deploy_to_existing_node_writes_deployment_file(anvil: AnvilNode, tmp_path: Path) -> None:
    result = run_quartier("chain", "deploy", "--rpc", anvil.url, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    deployment = load_deployment(tmp_path / "31337.json")
    assert deployment.chain_id == 31337
    assert set(deployment.contracts) == {
        "QuartierToken",
        "QuartierCommunity",
        "QuartierExchange",
        "QuartierSettlementVersions",
        "QuartierSharingKeys",
    }
    assert deployment.contracts["QuartierExchange"] in result.stdout
    assert deployment.compiler["evm_version"] == "osaka"


def test_unreachable_rpc_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: nothing answers
        result = run_quartier("chain", "deploy", "--rpc", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no Ethereum JSON-RPC node answers" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_rpc_url_is_one_line() -> None:
    result = run_quartier("chain", "deploy", "--rpc", "not-a-url")
    assert result.returncode == 1
    assert result.stderr.startswith("quartier: no Ethereum JSON-RPC node answers at not-a-url")


def test_missing_deployment_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "31337.json"
    with pytest.raises(DeploymentError, match=r"31337\.json not found"):
        load_deployment(missing)


def test_malformed_deployment_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "1.json"
    path.write_text(json.dumps({"chain_id": 1}))
    with pytest.raises(DeploymentError, match="lacks a valid"):
        load_deployment(path)


def test_anvil_on_a_busy_port_fails_clearly(anvil: AnvilNode) -> None:
    with pytest.raises(AnvilStartError, match="failed to start"):
        AnvilNode(port=anvil.port).start()


def test_chain_up_runs_until_interrupted_and_stops_anvil(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*QUARTIER, "chain", "up", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not url:
            line = process.stdout.readline()
            if line.startswith("RPC URL:"):
                url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        assert (tmp_path / "31337.json").exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        with pytest.raises(requests.ConnectionError):  # the node is gone with it
            requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=2)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)

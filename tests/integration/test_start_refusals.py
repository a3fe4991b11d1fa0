"""`quartier serve` and `quartier relayer` refuse to start on what they cannot run with (no
node at the RPC URL, no deployment file, a deployment of another chain): one line on stderr,
exit 1, no database created. `quartier audit --html/--csv` says its verdict and where it
wrote (issue 13). Real processes on a real Anvil."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import save_deployment

pytestmark = pytest.mark.integration

QUARTIER = str(Path(sys.executable).parent / "quartier")


def _run(
    arguments: list[str], tmp_path: Path, **variables: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QUARTIER_")}
    environment |= {"QUARTIER_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}", **variables}
    return subprocess.run(
        [QUARTIER, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["relayer", "--once"]])
def test_no_node_at_the_rpc_url_is_one_line(tmp_path: Path, command: list[str]) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    line = _one_line(_run(command, tmp_path, QUARTIER_RPC_URL=down))
    assert line.startswith(f"quartier: cannot start: no Ethereum JSON-RPC node answers at {down}")
    assert not (tmp_path / "api.db").exists()


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["relayer", "--once"]])
def test_a_missing_deployment_file_is_one_line(
    tmp_path: Path, anvil: AnvilNode, command: list[str]
) -> None:
    missing = tmp_path / "nowhere" / "31337.json"
    line = _one_line(
        _run(command, tmp_path, QUARTIER_RPC_URL=anvil.url, QUARTIER_DEPLOYMENT=str(missing))
    )
    assert line == (
        f"quartier: cannot start: no deployment file at {missing} (deploy with `quartier chain"
        " deploy` or `quartier community deploy`, or set QUARTIER_DEPLOYMENT)"
    )
    assert not (tmp_path / "api.db").exists()


def test_a_deployment_of_another_chain_is_one_line(
    tmp_path: Path, anvil: AnvilNode, manager: Sender
) -> None:
    elsewhere = dataclasses.replace(deploy_community_v2(manager), chain_id=5)
    path = save_deployment(elsewhere, tmp_path)
    line = _one_line(
        _run(
            ["relayer", "--once"],
            tmp_path,
            QUARTIER_RPC_URL=anvil.url,
            QUARTIER_DEPLOYMENT=str(path),
        )
    )
    assert line == (
        f"quartier: cannot start: {path} is a deployment on chain 5, the node at {anvil.url}"
        " is chain 31337"
    )


def test_audit_reports_say_the_verdict_and_where_they_went(
    tmp_path: Path, anvil: AnvilNode, manager: Sender
) -> None:
    path = save_deployment(deploy_community_v2(manager), tmp_path / "deployment")
    report, tables = tmp_path / "day.html", tmp_path / "csv"
    arguments = ["audit", "--rpc", anvil.url, "--deployment", str(path)]
    done = _run([*arguments, "--html", str(report), "--csv", str(tables)], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("audit ok: blocks ")
    assert lines[1] == f"HTML report written to {report}"
    assert lines[2] == (
        f"CSV files written to {tables}: periods.csv, intervals.csv, households.csv, problems.csv"
    )
    assert report.stat().st_size > 0
    assert {p.name for p in tables.iterdir()} >= {"periods.csv", "problems.csv"}
    as_json = _run([*arguments, "--json", "--html", str(report)], tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout.lstrip().startswith("{")  # stdout stays one JSON document
    assert f"HTML report written to {report}" in as_json.stderr

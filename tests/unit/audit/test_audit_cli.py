"""The command's failure modes without a node, and the rule adapter's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from audit_world import GRID, PERIOD, RULES
from eth_account import Account
from typer.testing import CliRunner

from api.audit_cli import audit as audit_command
from api.audit_cli import settlement_rule
from ledger.audit import RuleHousehold, RuleRefusedError
from ledger.audit.history import RawPosting
from ledger.community import Window


def _invoke(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(audit_command)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def test_an_unreachable_node_is_one_line_and_exit_2(tmp_path: Path) -> None:
    deployment = tmp_path / "31337.json"
    deployment.write_text(
        json.dumps({"chain_id": 31337, "deploy_block": 1, "manager": "0x0", "contracts": {}})
    )
    code, err = _invoke("--rpc", "http://127.0.0.1:1", "--deployment", str(deployment))
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("quartier audit: no Ethereum JSON-RPC node answers")


def test_a_malformed_deployment_file_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    code, err = _invoke("--rpc", "http://127.0.0.1:1", "--deployment", str(bad))
    assert code == 2
    assert "unreadable" in err


def test_the_adapter_turns_the_rule_s_refusal_into_the_audit_s_error() -> None:
    household = RuleHousehold(
        Account.create().address,
        Window(1),
        # A posting whose entries run past the period: the reference rule refuses it.
        (RawPosting(1, GRID.first_interval(PERIOD) + 3, bytes(16)),),
        (),
    )
    with pytest.raises(RuleRefusedError, match="past period"):
        settlement_rule(RULES, GRID, PERIOD, [household])

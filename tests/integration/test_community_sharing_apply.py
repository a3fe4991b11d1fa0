"""`quartier community deploy` brings the chain's allocation keys to an edited [[sharing]]
(issue 15), on a real Anvil: a replaced key is ended and the new one scheduled from its
date, a re-run sends nothing, and an edit reaching a period the chain has fixed is refused."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deployment import load_deployment
from ledger.dso.keys import KeyRule
from ledger.sharing_keys import SharingKeysClient, first_period_of
from tests.integration.test_community_cli import DEPLOYER, deploy_json, run

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dso" / "community.toml"
DAY = 86_400
FIRST_DAY = date(2027, 1, 1)  # the fixture's key is valid from then on
KEY_LINES = 'valid_from = 2027-01-01\ncascade = ["fixed", "pro-rata"]\n'


def chain_today(anvil: AnvilNode) -> date:
    timestamp = int(connect(anvil.url).eth.get_block("latest")["timestamp"])
    return datetime.fromtimestamp(timestamp, UTC).date()


def test_an_edited_key_is_applied_from_its_date_once_and_too_early_edits_are_refused(
    anvil: AnvilNode, manager: Sender, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    config = tmp_path / "community.toml"
    shutil.copy(FIXTURE, config)
    deployed = deploy_json(config, anvil, capsys, monkeypatch)
    address = load_deployment(Path(deployed["deployment_file"])).address("QuartierSharingKeys")
    keys = SharingKeysClient(manager, address)
    assert keys.key_count() == 1

    # From a later date, an equal key replaces the fixed one.
    change = max(FIRST_DAY, chain_today(anvil)) + timedelta(days=30)
    text = config.read_text()
    assert KEY_LINES in text
    edited = (
        text.replace(
            KEY_LINES, KEY_LINES.replace("\n", f"\nvalid_until = {change - timedelta(days=1)}\n", 1)
        )
        + f'\n[[sharing]]\nvalid_from = {change}\ncascade = ["equal"]\n'
    )
    config.write_text(edited)
    changes = deploy_json(config, anvil, capsys, monkeypatch)["changes"]
    later = first_period_of(change, DAY)
    assert [c["action"] for c in changes] == ["end_sharing_key", "schedule_sharing_key"]
    assert changes[0]["key_id"] == 0
    assert changes[0]["from_period"] == later
    assert changes[0]["valid_until_period"] == later - 1
    assert changes[1]["key_id"] == 1
    assert changes[1]["sharing"] == 1
    assert changes[1]["valid_from_period"] == later
    assert changes[1]["cascade"] == ["equal"]
    assert all(c["tx"].startswith("0x") for c in changes)

    key_id, key = keys.key_at(later)
    assert (key_id, key.cascade, key.valid_until_period) == (1, (KeyRule.EQUAL,), None)
    for earlier in (first_period_of(FIRST_DAY, DAY), later - 1):
        key_id, key = keys.key_at(earlier)
        assert (key_id, key.cascade) == (0, (KeyRule.FIXED, KeyRule.PRO_RATA))
        assert key.shares_bp == (4000, 3000, 2000, 1000)

    # Nothing changed: nothing sent.
    w3 = connect(anvil.url)
    nonce = w3.eth.get_transaction_count(DEPLOYER)
    assert deploy_json(config, anvil, capsys, monkeypatch)["changes"] == []
    assert w3.eth.get_transaction_count(DEPLOYER) == nonce

    # The printed form names each change.
    shifted = edited.replace(f"valid_from = {change}", f"valid_from = {change + timedelta(days=1)}")
    config.write_text(shifted)
    code, out, err = run(
        ["community", "deploy", str(config), "--rpc", anvil.url], capsys, monkeypatch
    )
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"ended sharing key 1 from period {later} (")
    assert out.splitlines()[1].startswith(
        f"scheduled sharing key 2 (sharing[1]) from period {later + 1} ("
    )
    assert out.splitlines()[1].endswith(": equal")

    # Moving the first key's start to a day the chain has fixed: refused, nothing sent.
    history = keys.history()
    early = chain_today(anvil)
    config.write_text(shifted.replace("valid_from = 2027-01-01", f"valid_from = {early}"))
    nonce = w3.eth.get_transaction_count(DEPLOYER)
    code, out, err = run(
        ["community", "deploy", str(config), "--rpc", anvil.url], capsys, monkeypatch
    )
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert str(config) in err
    assert "sharing" in err
    found = re.search(
        r"changes period (\d+) .*the earliest period a change may touch is (\d+)", err
    )
    assert found is not None, err
    assert int(found.group(1)) < int(found.group(2))
    assert w3.eth.get_transaction_count(DEPLOYER) == nonce
    assert keys.history() == history

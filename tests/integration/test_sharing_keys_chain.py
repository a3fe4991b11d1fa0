"""The CWaPE keys on chain (issue 15): `quartier community deploy` sets community.toml's
[[sharing]] on QuartierSharingKeys, and `quartier dso check-keys --rpc --deployment` applies
the chain's key (saying so), which the manager's change then moves."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from ledger.anvil import AnvilNode
from ledger.chain import Sender
from ledger.community_config.model import load_config
from ledger.deployment import load_deployment
from ledger.dso.keys import KeyRule
from ledger.errors import revert_class
from ledger.sharing_keys import ChainKey, SharingKeysClient, chain_key_of, first_period_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dso"
WORKBOOK = FIXTURES / "2027-02 ORES.xlsx"
DAY = 86_400


def _quartier(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "quartier"), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def deployed(anvil: AnvilNode, tmp_path: Path) -> tuple[Path, Path]:
    community = tmp_path / "community.toml"
    shutil.copy(FIXTURES / "community.toml", community)
    deployment = tmp_path / "deployment.json"
    done = _quartier(
        "community", "deploy", str(community), "--rpc", anvil.url, "--deployment", str(deployment)
    )
    assert done.returncode == 0, done.stderr
    assert "deployed QuartierSharingKeys" in done.stdout
    return community, deployment


def test_deploy_sets_the_files_key_from_its_first_period(
    deployed: tuple[Path, Path], manager: Sender
) -> None:
    community, deployment = deployed
    config = load_config(community)
    client = SharingKeysClient(manager, load_deployment(deployment).address("QuartierSharingKeys"))
    first = first_period_of(date(2027, 1, 1), DAY)
    # Brussels midnight of 1 January is 23:00 UTC the day before: the first whole UTC day.
    assert first * DAY == 1_798_761_600  # 2027-01-01T00:00:00Z
    key_id, key = client.key_at(first)
    members = [(m.name, m.address) for m in config.members]
    assert (key_id, key) == (0, chain_key_of(config.sharing[0], members, DAY))
    assert key.cascade == (KeyRule.FIXED, KeyRule.PRO_RATA)
    assert key.shares_bp == (4000, 3000, 2000, 1000)
    assert key.valid_until_period is None
    with pytest.raises(revert_class("SharingKeysNoKeyInForce")):
        client.key_at(first - 1)


def test_check_keys_from_the_chain_says_so_and_follows_a_change(
    anvil: AnvilNode, deployed: tuple[Path, Path], manager: Sender
) -> None:
    community, deployment = deployed
    on_chain = ["dso", "check-keys", str(WORKBOOK), "--rpc", anvil.url]
    done = _quartier(*on_chain, "--deployment", str(deployment), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["agree"]
    assert result["quarter_hours"] == 28 * 96
    assert result["key_source"].startswith("key from the chain: QuartierSharingKeys 0x")
    assert result["key_source"].endswith("(keys 0)")

    # The manager ends the key from 10 February and shares equally from then on: the chain's
    # key now differs from the operator's figures there, the file's does not.
    client = SharingKeysClient(manager, load_deployment(deployment).address("QuartierSharingKeys"))
    change = first_period_of(date(2027, 2, 10), DAY)
    client.end_key_from(0, change)
    key = client.key_by_id(0)
    client.schedule_key(ChainKey(change, None, (KeyRule.EQUAL,), key.members))
    done = _quartier(*on_chain, "--deployment", str(deployment), "--community", str(community))
    assert done.returncode == 1, done.stderr
    assert "key from the chain" in done.stdout
    assert "(keys 0, 1)" in done.stdout
    first_difference = done.stdout.splitlines()[1]
    assert first_difference.split()[0] >= "2027-02-10"
    from_file = _quartier("dso", "check-keys", str(WORKBOOK), "--community", str(community))
    assert from_file.returncode == 0, from_file.stderr
    assert f"key from {community}" in from_file.stdout


def test_check_keys_needs_both_chain_options(deployed: tuple[Path, Path]) -> None:
    _, deployment = deployed
    done = _quartier("dso", "check-keys", str(WORKBOOK), "--deployment", str(deployment))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "needs both --rpc and --deployment" in done.stderr

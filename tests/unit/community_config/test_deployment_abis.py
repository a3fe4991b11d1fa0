"""The deployment file carries each contract's ABI; files written before it are still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.compiler import artifact
from ledger.deployment import Deployment, load_deployment, save_deployment
from ledger.errors import DeploymentError

CONTRACTS = {
    "QuartierToken": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "QuartierCommunity": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "QuartierExchange": "0x9fE46736679d2D9a65F0593F2a3c8D5f6E7A8Bc1",
}


def test_a_saved_deployment_carries_the_compiled_abis(tmp_path: Path) -> None:
    path = save_deployment(Deployment(31337, 1, CONTRACTS["QuartierToken"], CONTRACTS), tmp_path)
    raw = json.loads(path.read_text())
    assert raw["abis"]["QuartierExchange"] == artifact("QuartierExchange").abi
    loaded = load_deployment(path)
    assert loaded.abi("QuartierCommunity") == artifact("QuartierCommunity").abi
    # A recorded ABI is kept on rewrite (it is the deployed bytecode's, not today's sources').
    kept = [{"type": "function", "name": "old", "inputs": [], "outputs": []}]
    old = Deployment(31337, 1, CONTRACTS["QuartierToken"], CONTRACTS, abis={"QuartierToken": kept})
    assert load_deployment(save_deployment(old, tmp_path)).abi("QuartierToken") == kept


def test_a_file_without_abis_is_read_and_says_what_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "31337.json"
    path.write_text(
        json.dumps(
            {
                "chain_id": 31337,
                "deploy_block": 1,
                "manager": CONTRACTS["QuartierToken"],
                "contracts": CONTRACTS,
                "compiler": {},
            }
        )
    )
    loaded = load_deployment(path)
    assert loaded == Deployment(31337, 1, CONTRACTS["QuartierToken"], CONTRACTS, {})
    with pytest.raises(DeploymentError, match="no ABI of QuartierExchange"):
        loaded.abi("QuartierExchange")
    assert loaded.with_abis().abi("QuartierExchange") == artifact("QuartierExchange").abi

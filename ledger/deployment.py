"""The deployment file: which contracts live where on one chain.

`contracts/deployments/<chain_id>.json` records addresses, the block of the deployment (where
auditors start reading events), the compiler settings the bytecode came from, and `abis`: the
JSON ABI of each contract by name, as compiled when it was deployed, so that a wallet, `cast`
or a script talks to the contracts from this file alone. Files written before `abis` existed
are still read (their ABIs are empty until the file is written again).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from web3 import Web3

from ledger.errors import DeploymentError
from ledger.paths import DEPLOYMENTS_DIR


@dataclass(frozen=True)
class Deployment:
    """Addresses of one community's contracts on one chain."""

    chain_id: int
    deploy_block: int
    manager: str
    contracts: dict[str, str]
    compiler: dict[str, Any] = field(default_factory=dict)
    #: Contract name -> JSON ABI. Not part of equality: the same deployment read from an old
    #: file (no ABIs) is the same deployment.
    abis: dict[str, list[dict[str, Any]]] = field(default_factory=dict, compare=False)

    def address(self, contract: str) -> str:
        """The address of `contract`, or a DeploymentError naming what is missing."""
        if contract not in self.contracts:
            raise DeploymentError(f"the deployment of chain {self.chain_id} has no {contract}")
        return self.contracts[contract]

    def abi(self, contract: str) -> list[dict[str, Any]]:
        """The JSON ABI of `contract`, or a DeploymentError when the file has none."""
        self.address(contract)
        if contract not in self.abis:
            raise DeploymentError(
                f"the deployment of chain {self.chain_id} has no ABI of {contract}"
            )
        return self.abis[contract]

    def with_abis(self) -> Deployment:
        """This deployment with an ABI for each contract that lacks one, from the compiled
        sources (those just deployed, when called at deployment; ABIs already recorded are
        kept, so a later rewrite of the file never swaps them for newer sources')."""
        missing = [name for name in self.contracts if name not in self.abis]
        if not missing:
            return self
        from ledger.compiler import artifact  # compiling is only needed when ABIs are missing

        return replace(self, abis={**self.abis, **{name: artifact(name).abi for name in missing}})

    def check_chain(self, w3: Web3) -> None:
        """Refuse a node of another chain than the one this deployment was made on."""
        actual = w3.eth.chain_id
        if actual != self.chain_id:
            raise DeploymentError(
                f"deployment is for chain {self.chain_id} but the node is chain {actual}"
            )


def deployment_path(chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> Path:
    """Where the deployment file of `chain_id` lives."""
    return directory / f"{chain_id}.json"


def save_deployment(deployment: Deployment, directory: Path = DEPLOYMENTS_DIR) -> Path:
    """Write the deployment file atomically, with the contracts' ABIs; returns its path."""
    path = deployment_path(deployment.chain_id, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(deployment_json(deployment), indent=2, sort_keys=True) + "\n")
    temporary.replace(path)
    return path


def deployment_json(deployment: Deployment) -> dict[str, Any]:
    """The file's JSON object (ABIs filled in for contracts that lack one)."""
    return asdict(deployment.with_abis())


def load_deployment(path: Path) -> Deployment:
    """Read a deployment file; a missing or malformed file raises DeploymentError."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DeploymentError(
            f"deployment file {path} not found (run `quartier chain deploy --rpc URL`)"
        ) from None
    except (OSError, ValueError) as error:
        raise DeploymentError(f"deployment file {path} is unreadable: {error}") from error
    try:
        return Deployment(
            chain_id=int(raw["chain_id"]),
            deploy_block=int(raw["deploy_block"]),
            manager=str(raw["manager"]),
            contracts={str(k): str(v) for k, v in raw["contracts"].items()},
            compiler=dict(raw.get("compiler", {})),
            abis={str(k): list(v) for k, v in dict(raw.get("abis", {})).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DeploymentError(f"deployment file {path} lacks a valid {error}") from error

"""The deployment file: which contracts live where on one chain.

`contracts/deployments/<chain_id>.json` records addresses, the block of the deployment (where
auditors start reading events) and the compiler settings the bytecode came from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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

    def address(self, contract: str) -> str:
        """The address of `contract`, or a DeploymentError naming what is missing."""
        if contract not in self.contracts:
            raise DeploymentError(f"the deployment of chain {self.chain_id} has no {contract}")
        return self.contracts[contract]

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
    """Write the deployment file atomically; returns its path."""
    path = deployment_path(deployment.chain_id, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(asdict(deployment), indent=2, sort_keys=True) + "\n")
    temporary.replace(path)
    return path


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
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DeploymentError(f"deployment file {path} lacks a valid {error}") from error

"""The deployment file this package writes, and the journal of a deployment under way.

The deployment file is `ledger.deployment`'s format (chain id, deploy block, manager,
contracts, compiler, abis) plus a `community` object: the file's name and the member directory
(address -> name and EAN, meter id -> member), which stays off chain and lets `status` speak
in names. The journal (`<deployment>.partial.json`) records each contract's address before
its creation is sent (predicted from the deployer's nonce), so that a deployment the node or
the process lost midway is completed by the next run, never made twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledger.deployment import Deployment, deployment_json, load_deployment


@dataclass
class Directory:
    """Who is who, off chain: addresses and meter ids to names."""

    name: str = ""
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    meters: dict[str, str] = field(default_factory=dict)

    def member_name(self, address: str) -> str | None:
        entry = self.members.get(address.lower())
        return entry["name"] if entry else None

    def meter_member(self, meter_id: bytes) -> str | None:
        return self.meters.get("0x" + meter_id.hex())


def default_deployment_path(config_path: Path, chain_id: int) -> Path:
    """`community.toml` on chain 31337 -> `community.31337.json` beside it."""
    return config_path.with_name(f"{config_path.stem}.{chain_id}.json")


def journal_path(deployment_path: Path) -> Path:
    return deployment_path.with_name(deployment_path.name + ".partial.json")


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    temporary.replace(path)


def save_deployment_file(path: Path, deployment: Deployment, directory: Directory) -> None:
    write_json(path, {**deployment_json(deployment), "community": asdict(directory)})


def load_deployment_file(path: Path) -> tuple[Deployment, Directory]:
    """The deployment and its directory (empty for a deployment file made elsewhere)."""
    deployment = load_deployment(path)
    raw = json.loads(path.read_text()).get("community")
    if not isinstance(raw, dict):
        return deployment, Directory()
    return deployment, Directory(
        name=str(raw.get("name", "")),
        members={str(k): dict(v) for k, v in dict(raw.get("members", {})).items()},
        meters={str(k): str(v) for k, v in dict(raw.get("meters", {})).items()},
    )

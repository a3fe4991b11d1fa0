"""Where the project's files are: the repository root holds contracts/ and node_modules/."""

from __future__ import annotations

from pathlib import Path

#: The checkout this package runs from (the project is installed editable by scripts/setup).
REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = REPO_ROOT / "contracts"
DEPLOYMENTS_DIR = CONTRACTS_DIR / "deployments"
FOUNDRY_TOML = REPO_ROOT / "foundry.toml"
SOLC_LAUNCHER = REPO_ROOT / "scripts" / "solc"
NODE_MODULES = REPO_ROOT / "node_modules"
CACHE_DIR = REPO_ROOT / ".cache"

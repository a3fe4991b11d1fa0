"""Compile `contracts/` with py-solc-x through the project's solc launcher.

The settings (EVM version, optimizer, remappings) are read from foundry.toml, the one place
they live, so the Python side deploys exactly the bytecode forge tests. Imported dependencies
(OpenZeppelin under node_modules/, reached through the remappings) are gathered here, by
following import statements, and handed to solc as sources: solc then needs no import
callback, and the cache key covers every file that reaches the bytecode. Artifacts are cached
under .cache/artifacts by a hash of the sources and settings: compiling takes seconds, loading
a cached artifact milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from ledger.errors import ToolchainError
from ledger.paths import (
    CACHE_DIR,
    CONTRACTS_DIR,
    FOUNDRY_TOML,
    NODE_MODULES,
    REPO_ROOT,
    SOLC_LAUNCHER,
)


@dataclass(frozen=True)
class CompilerSettings:
    """What decides the bytecode: compiler version and the foundry.toml settings."""

    solc_version: str
    evm_version: str
    optimizer: bool
    optimizer_runs: int
    via_ir: bool
    #: "prefix=target" import remappings, as forge and solc spell them.
    remappings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "solc_version": self.solc_version,
            "evm_version": self.evm_version,
            "optimizer": self.optimizer,
            "optimizer_runs": self.optimizer_runs,
            "via_ir": self.via_ir,
            "remappings": list(self.remappings),
        }


@dataclass(frozen=True)
class ContractArtifact:
    """A compiled contract: its ABI and creation bytecode."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def compiler_settings() -> CompilerSettings:
    """Read the compiler settings from foundry.toml and the launcher's version."""
    try:
        profile = tomllib.loads(FOUNDRY_TOML.read_text())["profile"]["default"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
        raise ToolchainError(f"cannot read settings from {FOUNDRY_TOML}: {error}") from error
    if not SOLC_LAUNCHER.exists():
        raise ToolchainError(f"solc launcher missing at {SOLC_LAUNCHER}; run ./scripts/setup")
    # The npm lock pins the compiler, so its package version names it exactly; reading it
    # costs nothing, where asking the launcher (`solc --version`) starts Node (~0.4 s).
    try:
        version = json.loads((NODE_MODULES / "solc" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError) as error:
        raise ToolchainError(
            f"the solc npm package is not installed ({error}); run ./scripts/setup"
        ) from error
    return CompilerSettings(
        solc_version=str(version),
        evm_version=str(profile["evm_version"]),
        optimizer=bool(profile["optimizer"]),
        optimizer_runs=int(profile["optimizer_runs"]),
        via_ir=bool(profile.get("via_ir", False)),
        remappings=tuple(str(entry) for entry in profile.get("remappings", [])),
    )


# `import "p";`, `import "p" as X;`, `import * as X from "p";`, `import {A, B as C} from "p";`
# (the braces may span lines). Block-comment lines start with `*`, so they do not match.
_IMPORT = re.compile(r"""^\s*import\s+(?:[^;"']*?\bfrom\s+)?["']([^"']+)["']""", re.MULTILINE)


def _resolve_import(importer: str, path: str, remappings: tuple[str, ...]) -> str:
    """The source unit name solc gives `path` imported from `importer` (both repo-relative)."""
    if path.startswith(("./", "../")):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), path))
    # solc applies the longest matching remapping prefix, as forge does.
    matches = [entry.split("=", 1) for entry in remappings if path.startswith(entry.split("=")[0])]
    if matches:
        prefix, target = max(matches, key=lambda match: len(match[0]))
        return target + path[len(prefix) :]
    return path


def _own_sources(directories: tuple[Path, ...]) -> dict[str, str]:
    # Source unit names are repo-relative paths, so relative imports resolve between them.
    return {
        path.relative_to(REPO_ROOT).as_posix(): path.read_text()
        for directory in directories
        for path in sorted(directory.rglob("*.sol"))
    }


def _with_imports(own: dict[str, str], remappings: tuple[str, ...]) -> dict[str, str]:
    """`own` plus, transitively, every file it imports, under the names solc resolves.

    Remapped imports become repo-relative node_modules/... names, the names forge gives them.
    """
    sources = dict(own)
    pending = list(sources)
    while pending:
        importer = pending.pop()
        for imported in _IMPORT.findall(sources[importer]):
            name = _resolve_import(importer, imported, remappings)
            if name in sources:
                continue
            file = REPO_ROOT / name
            if name.startswith("../") or not file.is_file():
                raise ToolchainError(
                    f"{importer} imports {imported!r}, which is not at {name}; run ./scripts/setup"
                )
            sources[name] = file.read_text()
            pending.append(name)
    return dict(sorted(sources.items()))


def _standard_input(
    sources: dict[str, str], own: tuple[str, ...], settings: CompilerSettings
) -> dict[str, Any]:
    # Output only for our own sources: dependencies compile in, but their contracts (OZ's
    # P256 beside ours, say) are not artifacts and cannot shadow ours by name.
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "evmVersion": settings.evm_version,
            "optimizer": {"enabled": settings.optimizer, "runs": settings.optimizer_runs},
            "viaIR": settings.via_ir,
            "metadata": {"bytecodeHash": "none"},
            "remappings": list(settings.remappings),
            "outputSelection": {name: {"*": ["abi", "evm.bytecode.object"]} for name in own},
        },
    }


@cache
def compile_contracts(extra_directories: tuple[Path, ...] = ()) -> dict[str, ContractArtifact]:
    """Compile every contract under contracts/ (cached); artifacts by contract name.

    `extra_directories` (inside the repository) add sources that are not part of the product,
    such as the benchmark's reference design.
    """
    settings = compiler_settings()
    directories = (CONTRACTS_DIR, *extra_directories)
    own = _own_sources(directories)
    sources = _with_imports(own, settings.remappings)
    standard_input = _standard_input(sources, tuple(own), settings)
    digest = hashlib.sha256(
        json.dumps([standard_input, settings.as_dict()], sort_keys=True).encode()
    ).hexdigest()
    cache_file = CACHE_DIR / "artifacts" / f"{digest}.json"
    if cache_file.exists():
        output = json.loads(cache_file.read_text())
    else:
        output = _run_solc(standard_input)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(output))
        temporary.replace(cache_file)
    return _artifacts(output)


def _run_solc(standard_input: dict[str, Any]) -> dict[str, Any]:
    try:
        output: dict[str, Any] = solcx.compile_standard(
            standard_input, solc_binary=SOLC_LAUNCHER, allow_empty=True
        )
    except SolcError as error:
        raise ToolchainError(f"solc failed: {_first_error(error)}") from error
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ToolchainError(f"solc rejected the contracts: {errors[0]['formattedMessage']}")
    return output


def _first_error(error: SolcError) -> str:
    text = str(getattr(error, "stdout_data", "") or error)
    try:
        return str(json.loads(text)["errors"][0]["formattedMessage"]).strip()
    except (ValueError, KeyError, IndexError, TypeError):
        return text.strip().splitlines()[0] if text.strip() else "unknown error"


def _artifacts(output: dict[str, Any]) -> dict[str, ContractArtifact]:
    artifacts: dict[str, ContractArtifact] = {}
    for source, contracts in output.get("contracts", {}).items():
        for name, compiled in contracts.items():
            artifacts[name] = ContractArtifact(
                name=name,
                source=source,
                abi=compiled["abi"],
                bytecode="0x" + compiled["evm"]["bytecode"]["object"],
            )
    return artifacts


def artifact(name: str) -> ContractArtifact:
    """The compiled artifact of contract `name`."""
    artifacts = compile_contracts()
    if name not in artifacts:
        raise ToolchainError(f"no contract named {name} under {CONTRACTS_DIR}")
    return artifacts[name]

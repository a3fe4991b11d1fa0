"""The compiler path (py-solc-x via scripts/solc, settings and remappings from foundry.toml,
OpenZeppelin imports); revert decoding."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak

from ledger.compiler import _resolve_import, _with_imports, compile_contracts, compiler_settings
from ledger.errors import ToolchainError
from ledger.paths import CACHE_DIR, FOUNDRY_TOML, REPO_ROOT
from ledger.reverts import decode_revert


def test_settings_come_from_foundry_toml() -> None:
    profile = tomllib.loads(FOUNDRY_TOML.read_text())["profile"]["default"]
    settings = compiler_settings()
    assert settings.evm_version == profile["evm_version"] == "osaka"
    assert settings.optimizer_runs == profile["optimizer_runs"]
    assert settings.solc_version.startswith("0.8.")


def test_community_compiles_with_its_custom_errors() -> None:
    community = compile_contracts()["QuartierCommunity"]
    errors = {entry["name"] for entry in community.abi if entry["type"] == "error"}
    assert {"CommunityNotManager", "CommunityInvalidMeterKey", "CommunityMeterExists"} <= errors
    assert len(community.bytecode) > 1000


def test_custom_error_decodes_to_named_exception() -> None:
    data = keccak(text="CommunityMeterExists(bytes32)")[:4] + encode(["bytes32"], [b"\x01" * 32])
    error = decode_revert(data)
    assert type(error).__name__ == "CommunityMeterExists"
    assert error.arguments == {"meterId": b"\x01" * 32}


def test_error_string_and_unknown_data_decode() -> None:
    message = keccak(text="Error(string)")[:4] + encode(["string"], ["boom"])
    assert decode_revert(message).arguments == {"message": "boom"}
    unknown = decode_revert(b"\xde\xad\xbe\xef")
    assert unknown.name == "UnknownRevert"


# A contract of our own that imports OpenZeppelin through the foundry.toml remapping. It lives
# under the git-ignored .cache/ because compile_contracts only takes directories inside the repo.
_OZ_PROBE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";

contract OzProbe {
    function onCurve(bytes32 x, bytes32 y) external pure returns (bool) {
        return P256.isValidPublicKey(x, y);
    }
}
"""


def _oz_probe_directory() -> Path:
    directory = CACHE_DIR / "test-oz-probe"
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / "OzProbe.sol"
    if not probe.exists() or probe.read_text() != _OZ_PROBE:
        probe.write_text(_OZ_PROBE)
    return directory


def test_openzeppelin_imports_compile_through_the_remapping() -> None:
    artifacts = compile_contracts((_oz_probe_directory(),))
    assert artifacts["OzProbe"].source == ".cache/test-oz-probe/OzProbe.sol"
    # OZ's on-curve check is inlined: the bytecode pushes the P-256 curve constant b.
    assert "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b" in (
        artifacts["OzProbe"].bytecode
    )
    # OZ's own P256 compiles in but is no artifact: ours keeps its name.
    assert artifacts["P256"].source == "contracts/libraries/P256.sol"


def test_imported_sources_are_gathered_so_the_cache_key_covers_them() -> None:
    settings = compiler_settings()
    own = {"contracts/Probe.sol": _OZ_PROBE}
    sources = _with_imports(own, settings.remappings)
    oz = "node_modules/@openzeppelin/contracts/utils/cryptography/P256.sol"
    assert sources[oz] == (REPO_ROOT / oz).read_text()
    # P256 imports Math relatively; the closure follows it under the name solc gives it.
    assert "node_modules/@openzeppelin/contracts/utils/math/Math.sol" in sources
    assert sources["contracts/Probe.sol"] == _OZ_PROBE


def test_import_resolution_follows_solc() -> None:
    remappings = ("@oz/=lib/oz/", "@oz/contracts/=node_modules/oz/")
    assert _resolve_import("a/b/C.sol", "../D.sol", remappings) == "a/D.sol"
    assert _resolve_import("a/b/C.sol", "./E.sol", remappings) == "a/b/E.sol"
    assert _resolve_import("a/C.sol", "@oz/contracts/X.sol", remappings) == "node_modules/oz/X.sol"
    assert _resolve_import("a/C.sol", "@oz/Y.sol", remappings) == "lib/oz/Y.sol"
    assert _resolve_import("a/C.sol", "contracts/Z.sol", remappings) == "contracts/Z.sol"


def test_missing_import_is_a_toolchain_error() -> None:
    own = {"contracts/Broken.sol": 'import {X} from "@openzeppelin/contracts/Nope.sol";\n'}
    with pytest.raises(ToolchainError, match=r"Nope\.sol"):
        _with_imports(own, compiler_settings().remappings)

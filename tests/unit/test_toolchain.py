"""The compiler path (py-solc-x via scripts/solc, settings from foundry.toml); revert decoding."""

from __future__ import annotations

import tomllib

from eth_abi import encode
from eth_utils import keccak

from ledger.compiler import compile_contracts, compiler_settings
from ledger.paths import FOUNDRY_TOML
from ledger.reverts import decode_revert


def test_settings_come_from_foundry_toml() -> None:
    profile = tomllib.loads(FOUNDRY_TOML.read_text())["profile"]["default"]
    settings = compiler_settings()
    assert settings.evm_version == profile["evm_version"] == "osaka"
    assert settings.optimizer_runs == profile["optimizer_runs"]
    assert settings.solc_version.startswith("0.8.")


def test_registry_compiles_with_its_custom_errors() -> None:
    registry = compile_contracts()["CommunityRegistry"]
    errors = {entry["name"] for entry in registry.abi if entry["type"] == "error"}
    assert {"RegistryNotManager", "RegistryInvalidMeterKey", "RegistryMeterExists"} <= errors
    assert len(registry.bytecode) > 1000


def test_custom_error_decodes_to_named_exception() -> None:
    data = keccak(text="RegistryMeterExists(bytes32)")[:4] + encode(["bytes32"], [b"\x01" * 32])
    error = decode_revert(data)
    assert type(error).__name__ == "RegistryMeterExists"
    assert error.arguments == {"meterId": b"\x01" * 32}


def test_error_string_and_unknown_data_decode() -> None:
    message = keccak(text="Error(string)")[:4] + encode(["string"], ["boom"])
    assert decode_revert(message).arguments == {"message": "boom"}
    unknown = decode_revert(b"\xde\xad\xbe\xef")
    assert unknown.name == "UnknownRevert"

"""Decode revert data into the named exception of the Solidity custom error.

The selectors of every custom error of every compiled contract are indexed once; a revert is
matched by its first four bytes and its arguments decoded with the error's ABI.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.compiler import compile_contracts
from ledger.errors import ContractRevertError, revert_class

_PANIC_SELECTOR = bytes.fromhex("4e487b71")
_ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")


def _abi_type(component: dict[str, Any]) -> str:
    if component["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in component["components"])
        return f"({inner}){component['type'][len('tuple') :]}"
    return str(component["type"])


@cache
def _custom_errors() -> dict[bytes, tuple[str, str, list[dict[str, Any]]]]:
    errors: dict[bytes, tuple[str, str, list[dict[str, Any]]]] = {}
    for contract in compile_contracts().values():
        for entry in contract.abi:
            if entry["type"] != "error":
                continue
            types = ",".join(_abi_type(i) for i in entry["inputs"])
            selector = keccak(text=f"{entry['name']}({types})")[:4]
            errors[selector] = (entry["name"], contract.name, entry["inputs"])
    return errors


def decode_revert(data: bytes) -> ContractRevertError:
    """The exception for raw revert data (a custom error, Error(string), Panic or unknown)."""
    selector, payload = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING_SELECTOR:
            (message,) = decode(["string"], payload)
            return revert_class("Error")({"message": message})
        if selector == _PANIC_SELECTOR:
            (code,) = decode(["uint256"], payload)
            return revert_class("Panic")({"code": hex(code)})
        known = _custom_errors().get(selector)
        if known is not None:
            name, contract, inputs = known
            values = decode([_abi_type(i) for i in inputs], payload)
            arguments = {
                i["name"] or f"arg{n}": _readable(i["type"], v)
                for n, (i, v) in enumerate(zip(inputs, values, strict=True))
            }
            return revert_class(name)(arguments, contract)
    except DecodingError:
        pass
    return revert_class("UnknownRevert")({"data": data})


def _readable(abi_type: str, value: Any) -> Any:
    return to_checksum_address(value) if abi_type == "address" else value


def revert_data_of(error: Exception) -> bytes | None:
    """The raw revert bytes carried by a web3.py exception, if it has any."""
    data = getattr(error, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return bytes.fromhex(data["data"].removeprefix("0x"))
    return None

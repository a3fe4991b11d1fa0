"""Errors of the ledger package, one root for all of them.

    LedgerError
    ├── ToolchainError          the compiler launcher is missing or compilation failed
    ├── ChainUnreachableError   nothing answers JSON-RPC at the given URL
    ├── AnvilStartError         a local Anvil node did not start
    ├── DeploymentError         deployment file missing, unreadable or for another chain
    └── ContractRevertError     a call or transaction reverted
        └── one subclass per Solidity custom error, named after it (RegistryNotManager, ...)

web3.py leaves custom errors as raw hex; `ledger.reverts` decodes them once, here, into the
subclass of the error's name with its arguments by name.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LedgerError(Exception):
    """Root of every error raised by `ledger`."""

    #: Exit status the CLI uses when this error ends a command.
    exit_code: ClassVar[int] = 1


class ToolchainError(LedgerError):
    """The Solidity compiler could not be run or rejected the sources."""


class ChainUnreachableError(LedgerError):
    """No Ethereum JSON-RPC node answers at the URL."""


class AnvilStartError(LedgerError):
    """A local Anvil node failed to start."""


class DeploymentError(LedgerError):
    """A deployment file is missing, malformed, or belongs to another chain."""


class ContractRevertError(LedgerError):
    """A contract call reverted. `name` is the custom error, `arguments` its decoded fields."""

    #: The Solidity custom error's name; each subclass made by `revert_class` sets its own.
    name: ClassVar[str] = "ContractRevert"

    def __init__(self, arguments: dict[str, Any], contract: str | None = None) -> None:
        self.arguments = arguments
        self.contract = contract
        facts = ", ".join(f"{key}={_show(value)}" for key, value in arguments.items())
        super().__init__(f"contract reverted with {self.name}({facts})")


_REVERT_CLASSES: dict[str, type[ContractRevertError]] = {}


def revert_class(name: str) -> type[ContractRevertError]:
    """The exception class for the Solidity custom error `name` (created once, then reused).

    Tests and callers catch these by name: `except revert_class("RegistryNotManager")`.
    """
    if name not in _REVERT_CLASSES:
        _REVERT_CLASSES[name] = type(
            name, (ContractRevertError,), {"__module__": __name__, "name": name}
        )
    return _REVERT_CLASSES[name]


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)

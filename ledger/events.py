"""Events of the settlement token (ERC-20 Transfer and Approval), decoded into frozen
dataclasses; the generic decoder `ledger.events_v2` follows for the v2 contracts' events.

Names and fields follow the Solidity events with units kept in the names
(`amount_units`, `energy_wh`); addresses are checksummed strings, ids and hashes are bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3.contract import Contract
from web3.types import LogReceipt, TxReceipt


@dataclass(frozen=True)
class Transfer:
    sender: str
    receiver: str
    amount_units: int


@dataclass(frozen=True)
class Approval:
    owner: str
    spender: str
    amount_units: int


Event = Transfer | Approval

_CLASSES: dict[str, type[Any]] = {cls.__name__: cls for cls in (Transfer, Approval)}
# ERC-20's argument names say nothing about units; everything else maps camelCase -> snake_case.
_RENAMES = {"from": "sender", "to": "receiver", "value": "amount_units"}

E = TypeVar("E")


def _snake(name: str) -> str:
    return _RENAMES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return value


@dataclass(frozen=True)
class _EventCodec:
    """How to decode one event: its dataclass, and its indexed and data fields (name, type)."""

    cls: type[Any]
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]

    def decode(self, log: LogReceipt) -> Event:
        values: dict[str, Any] = {}
        for (name, abi_type), topic in zip(self.indexed, log["topics"][1:], strict=True):
            values[name] = _value(abi_decode([abi_type], bytes(topic))[0])
        raw = abi_decode([abi_type for _, abi_type in self.data], bytes(log["data"]))
        for (name, _), value in zip(self.data, raw, strict=True):
            values[name] = _value(value)
        decoded: Event = self.cls(**{f.name: values[f.name] for f in fields(self.cls)})
        return decoded


#: Topic tables per ABI (keyed by the ABI list's id; the list is kept alive beside its table so
#: the id cannot be reused). Contracts built from the same artifact share one ABI list.
_TABLES: dict[int, tuple[Any, dict[bytes, _EventCodec]]] = {}
_MAX_TABLES = 64


def _topic_table(contract: Contract) -> dict[bytes, _EventCodec]:
    abi = contract.abi
    cached = _TABLES.get(id(abi))
    if cached is not None and cached[0] is abi:
        return cached[1]
    table: dict[bytes, _EventCodec] = {}
    for item in abi:
        if item["type"] != "event" or item["name"] not in _CLASSES:
            continue
        entry: Any = item

        def pairs(indexed: bool, entry: Any = entry) -> tuple[tuple[str, str], ...]:
            return tuple(
                (_snake(i["name"]), collapse_if_tuple(dict(i)))
                for i in entry["inputs"]
                if i["indexed"] is indexed
            )

        table[event_abi_to_log_topic(entry)] = _EventCodec(
            _CLASSES[entry["name"]], pairs(True), pairs(False)
        )
    if len(_TABLES) >= _MAX_TABLES:
        _TABLES.clear()
    _TABLES[id(abi)] = (abi, table)
    return table


def decode_log(contract: Contract, log: LogReceipt) -> Event | None:
    """The dataclass of one log emitted by `contract`, or None for a log it did not emit.

    Topics are looked up in a table built once per ABI, and fields decoded with eth-abi:
    hashing every event signature of the ABI per log, then web3.py's `process_log`, cost
    more than the rest of a settlement's client work.
    """
    if not log["topics"] or to_checksum_address(log["address"]) != contract.address:
        return None
    codec = _topic_table(contract).get(bytes(log["topics"][0]))
    return None if codec is None else codec.decode(log)


def decode_receipt(contract: Contract, receipt: TxReceipt) -> list[Event]:
    """Every event `contract` emitted in a transaction, in log order."""
    decoded = (decode_log(contract, log) for log in receipt["logs"])
    return [event for event in decoded if event is not None]


def only(events: Iterable[Event], kind: type[E]) -> list[E]:
    """The events of one kind, in order."""
    return [event for event in events if isinstance(event, kind)]

"""ABI encoding of calls and decoding of the market's events with eth-abi directly.

web3.py walks every argument through its recursive formatters (tens of milliseconds for a
settlement carrying a hundred households' proofs) and `ledger.events.decode_log` hashes every
event signature of the ABI for every log. The same bytes, computed once per call or log:
the e2e test checks the chain ends up exactly as with web3.py's own encoding.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from ledger import events
from ledger.events import Event

_CLASSES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        events.Deposited,
        events.Withdrawn,
        events.NonceCancelled,
        events.IntervalCommitted,
        events.TradeCommitted,
        events.EscrowLocked,
        events.ReadingAccepted,
        events.TradeSettled,
        events.EscrowReleased,
        events.IntervalSettled,
    )
}


def encode_call(fn: ContractFunction) -> bytes:
    """The calldata of a bound contract function call: selector ‖ abi.encode(args)."""
    abi: Any = fn.abi
    types = [collapse_if_tuple(dict(item)) for item in abi["inputs"]]
    return function_abi_to_4byte_selector(abi) + abi_encode(types, list(fn.args))


def decode_call(contract: Contract, function: str, data: bytes) -> tuple[Any, ...]:
    """The arguments of a call of `function` from its calldata (ValueError if another call)."""
    abi: Any = next(
        item for item in contract.abi if item["type"] == "function" and item["name"] == function
    )
    if data[:4] != function_abi_to_4byte_selector(abi):
        raise ValueError(f"the calldata is not a call of {function}")
    types = [collapse_if_tuple(dict(item)) for item in abi["inputs"]]
    return tuple(abi_decode(types, data[4:]))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _value(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return value


class EventDecoder:
    """Decodes the market's events of a receipt into `ledger.events` dataclasses."""

    def __init__(self, contract: Contract) -> None:
        self.address = contract.address
        self._by_topic: dict[bytes, tuple[type[Any], list[Any], list[Any]]] = {}
        for item in contract.abi:
            if item["type"] != "event" or item.get("name") not in _CLASSES:
                continue
            entry: Any = item
            indexed = [i for i in entry["inputs"] if i["indexed"]]
            plain = [i for i in entry["inputs"] if not i["indexed"]]
            self._by_topic[event_abi_to_log_topic(entry)] = (
                _CLASSES[entry["name"]],
                indexed,
                plain,
            )

    def decode_receipt(self, receipt: TxReceipt) -> list[Event]:
        """Every market event of the transaction, in log order."""
        decoded: list[Event] = []
        for log in receipt["logs"]:
            if not log["topics"] or to_checksum_address(log["address"]) != self.address:
                continue
            known = self._by_topic.get(bytes(log["topics"][0]))
            if known is None:
                continue
            cls, indexed, plain = known
            values: dict[str, Any] = {}
            for item, topic in zip(indexed, log["topics"][1:], strict=True):
                values[_snake(item["name"])] = _value(
                    item["type"], abi_decode([item["type"]], bytes(topic))[0]
                )
            data = abi_decode([item["type"] for item in plain], bytes(log["data"]))
            for item, value in zip(plain, data, strict=True):
                values[_snake(item["name"])] = _value(item["type"], value)
            decoded.append(cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)}))
        return decoded

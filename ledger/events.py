"""Events of the market and the token, decoded into frozen dataclasses.

Names and fields follow the Solidity events with units kept in the names
(`amount_units`, `energy_wh`); addresses are checksummed strings, ids and hashes are bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3.contract import Contract
from web3.types import LogReceipt, TxReceipt


@dataclass(frozen=True)
class Deposited:
    household: str
    amount_units: int


@dataclass(frozen=True)
class Withdrawn:
    household: str
    amount_units: int


@dataclass(frozen=True)
class NonceCancelled:
    household: str
    nonce: int


@dataclass(frozen=True)
class IntervalCommitted:
    interval_id: int
    commitment: bytes
    order_count: int
    trade_count: int
    committer: str


@dataclass(frozen=True)
class TradeCommitted:
    interval_id: int
    seller: str
    buyer: str
    energy_wh: int
    price_per_kwh: int


@dataclass(frozen=True)
class EscrowLocked:
    interval_id: int
    household: str
    amount_units: int


@dataclass(frozen=True)
class ReadingAccepted:
    meter_id: bytes
    interval_id: int
    import_wh_total: int
    export_wh_total: int
    seq: int


@dataclass(frozen=True)
class TradeSettled:
    interval_id: int
    seller: str
    buyer: str
    delivered_wh: int
    payment_units: int


@dataclass(frozen=True)
class EscrowReleased:
    interval_id: int
    household: str
    amount_units: int


@dataclass(frozen=True)
class IntervalSettled:
    interval_id: int
    delivered_wh: int
    paid_units: int


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


Event = (
    Deposited
    | Withdrawn
    | NonceCancelled
    | IntervalCommitted
    | TradeCommitted
    | EscrowLocked
    | ReadingAccepted
    | TradeSettled
    | EscrowReleased
    | IntervalSettled
    | Transfer
    | Approval
)

_CLASSES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Deposited,
        Withdrawn,
        NonceCancelled,
        IntervalCommitted,
        TradeCommitted,
        EscrowLocked,
        ReadingAccepted,
        TradeSettled,
        EscrowReleased,
        IntervalSettled,
        Transfer,
        Approval,
    )
}
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


def decode_log(contract: Contract, log: LogReceipt) -> Event | None:
    """The dataclass of one log emitted by `contract`, or None for a log it did not emit."""
    if to_checksum_address(log["address"]) != contract.address or not log["topics"]:
        return None
    topic = bytes(log["topics"][0])
    for abi in contract.abi:
        if abi["type"] != "event" or abi["name"] not in _CLASSES:
            continue
        if event_abi_to_log_topic(abi) != topic:
            continue
        args = contract.events[abi["name"]]().process_log(log)["args"]
        cls = _CLASSES[abi["name"]]
        values = {_snake(name): _value(value) for name, value in args.items()}
        decoded: Event = cls(**{f.name: values[f.name] for f in fields(cls)})
        return decoded
    return None


def decode_receipt(contract: Contract, receipt: TxReceipt) -> list[Event]:
    """Every event `contract` emitted in a transaction, in log order."""
    decoded = (decode_log(contract, log) for log in receipt["logs"])
    return [event for event in decoded if event is not None]


def only(events: Iterable[Event], kind: type[E]) -> list[E]:
    """The events of one kind, in order."""
    return [event for event in events if isinstance(event, kind)]

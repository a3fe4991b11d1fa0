"""Events of protocol v2 (QuartierCommunity, QuartierExchange) as frozen dataclasses.

Same conventions as `ledger.events` (v1): fields are the Solidity names in snake_case with
their units, addresses checksummed, ids and hashes bytes. Decoding goes through eth-abi with
a topic table built once per ABI, as `ledger.events` does, for the v2 classes only.
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

from ledger.rules import Rules


@dataclass(frozen=True)
class HouseholdAdmitted:
    household: str
    admitted_at: int


@dataclass(frozen=True)
class HouseholdRemoved:
    household: str
    removed_at: int


@dataclass(frozen=True)
class MeterAdmitted:
    meter_id: bytes
    household: str
    public_key_x: int
    public_key_y: int
    admitted_at: int


@dataclass(frozen=True)
class MeterRevoked:
    meter_id: bytes
    household: str
    revoked_at: int


@dataclass(frozen=True)
class RulesScheduled:
    effective_from_period_id: int
    rules: Rules

    def __post_init__(self) -> None:
        if not isinstance(self.rules, Rules):
            object.__setattr__(self, "rules", Rules.from_abi(self.rules))


@dataclass(frozen=True)
class ManagementTransferred:
    previous_manager: str
    new_manager: str


@dataclass(frozen=True)
class ExchangeDeposited:
    household: str
    amount_units: int


@dataclass(frozen=True)
class ExchangeWithdrawn:
    household: str
    amount_units: int


@dataclass(frozen=True)
class SchedulePosted:
    period_id: int
    household: str
    version: int
    first_interval_id: int
    schedule_hash: bytes
    locked_units: int
    #: The posting's entries as signed (IQuartierExchange): postings are read from events.
    entries: bytes = b""


@dataclass(frozen=True)
class MeterBatchAccepted:
    meter_id: bytes
    period_id: int
    end_import_wh: int
    end_export_wh: int


@dataclass(frozen=True)
class ClearedInterval:
    """One interval of PeriodCleared: price (PayAsBid: 0), traded and delivered Wh."""

    price_per_kwh: int
    traded_wh: int
    delivered_wh: int


@dataclass(frozen=True)
class PeriodCleared:
    period_id: int
    intervals: bytes

    def cleared(self) -> tuple[ClearedInterval, ...]:
        """The packed `intervals` (16 bytes each: uint64 price, uint32 traded, delivered)."""
        data = self.intervals
        return tuple(
            ClearedInterval(
                int.from_bytes(data[at : at + 8], "big"),
                int.from_bytes(data[at + 8 : at + 12], "big"),
                int.from_bytes(data[at + 12 : at + 16], "big"),
            )
            for at in range(0, len(data), 16)
        )


@dataclass(frozen=True)
class HouseholdSettled:
    period_id: int
    household: str
    delivered_wh: int
    received_wh: int
    change_units: int
    released_units: int


@dataclass(frozen=True)
class PeriodSettled:
    period_id: int
    household_count: int
    delivered_wh: int
    rounding_units: int


EventV2 = (
    HouseholdAdmitted
    | HouseholdRemoved
    | MeterAdmitted
    | MeterRevoked
    | RulesScheduled
    | ManagementTransferred
    | ExchangeDeposited
    | ExchangeWithdrawn
    | SchedulePosted
    | MeterBatchAccepted
    | PeriodCleared
    | HouseholdSettled
    | PeriodSettled
)

# Solidity event name -> class (Deposited/Withdrawn keep v1's names on-chain).
_CLASSES: dict[str, type[Any]] = {
    "HouseholdAdmitted": HouseholdAdmitted,
    "HouseholdRemoved": HouseholdRemoved,
    "MeterAdmitted": MeterAdmitted,
    "MeterRevoked": MeterRevoked,
    "RulesScheduled": RulesScheduled,
    "ManagementTransferred": ManagementTransferred,
    "Deposited": ExchangeDeposited,
    "Withdrawn": ExchangeWithdrawn,
    "SchedulePosted": SchedulePosted,
    "MeterBatchAccepted": MeterBatchAccepted,
    "PeriodCleared": PeriodCleared,
    "HouseholdSettled": HouseholdSettled,
    "PeriodSettled": PeriodSettled,
}

E = TypeVar("E")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return value


@dataclass(frozen=True)
class _Codec:
    cls: type[Any]
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]

    def decode(self, log: LogReceipt) -> Any:
        values: dict[str, Any] = {}
        for (name, abi_type), topic in zip(self.indexed, log["topics"][1:], strict=True):
            values[name] = _value(abi_decode([abi_type], bytes(topic))[0])
        raw = abi_decode([abi_type for _, abi_type in self.data], bytes(log["data"]))
        for (name, _), value in zip(self.data, raw, strict=True):
            values[name] = _value(value)
        return self.cls(**{f.name: values[f.name] for f in fields(self.cls)})


_TABLES: dict[int, tuple[Any, dict[bytes, _Codec]]] = {}


def _table(contract: Contract) -> dict[bytes, _Codec]:
    abi = contract.abi
    cached = _TABLES.get(id(abi))
    if cached is not None and cached[0] is abi:
        return cached[1]
    table: dict[bytes, _Codec] = {}
    for item in abi:
        if item["type"] != "event" or item["name"] not in _CLASSES:
            continue
        entry: Any = item
        pairs = [
            (_snake(i["name"]), collapse_if_tuple(dict(i)), i["indexed"]) for i in entry["inputs"]
        ]
        table[event_abi_to_log_topic(entry)] = _Codec(
            _CLASSES[entry["name"]],
            tuple((name, kind) for name, kind, indexed in pairs if indexed),
            tuple((name, kind) for name, kind, indexed in pairs if not indexed),
        )
    _TABLES[id(abi)] = (abi, table)
    return table


def decode_receipt_v2(contract: Contract, receipt: TxReceipt) -> list[EventV2]:
    """Every v2 event `contract` emitted in a transaction, in log order."""
    return [e for e in (decode_log_v2(contract, log) for log in receipt["logs"]) if e is not None]


def decode_log_v2(contract: Contract, log: LogReceipt) -> EventV2 | None:
    """The dataclass of one log of `contract`, or None for a log it did not emit."""
    if not log["topics"] or to_checksum_address(log["address"]) != contract.address:
        return None
    codec = _table(contract).get(bytes(log["topics"][0]))
    if codec is None:
        return None
    event: EventV2 = codec.decode(log)
    return event


def only(events: Iterable[EventV2], kind: type[E]) -> list[E]:
    """The events of one kind, in order."""
    return [event for event in events if isinstance(event, kind)]

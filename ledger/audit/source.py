"""Read what the chain says: the contracts' events in a block range, and the calldata of the
transactions that emitted them.

Events alone are not evidence enough (a `TradeCommitted` carries no order and no signature),
so every commit, readings batch and settlement is read back from its transaction input:
`commitInterval` carries the signed orders and trades, `submitReadings` the meter-signed
readings, `settleInterval` the reading proofs. A transaction that reached the market through
another contract has no readable calldata; the audit then names that as a problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import FilterParams, LogReceipt

from ledger.audit.model import Problem
from ledger.events import (
    Deposited,
    EscrowLocked,
    EscrowReleased,
    Event,
    IntervalCommitted,
    IntervalSettled,
    ReadingAccepted,
    TradeCommitted,
    TradeSettled,
    Transfer,
    Withdrawn,
    decode_log,
    only,
)
from ledger.meter_chain import ChainValues, MeterProof
from ledger.orders import Order, Side, SignedOrder, Trade
from metering.reading import PublicKey, Reading, SignedReading

#: Blocks per eth_getLogs request: nodes cap the range or the answer size.
LOG_CHUNK_BLOCKS = 5_000

#: Called as progress(done, total) while transactions are fetched.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CommitRecord:
    """One `commitInterval`: its calldata and the events it emitted."""

    interval_id: int
    block_number: int
    orders: tuple[SignedOrder, ...]
    trades: tuple[Trade, ...]
    committed: IntervalCommitted
    trade_events: tuple[TradeCommitted, ...]
    locks: tuple[EscrowLocked, ...]


@dataclass(frozen=True)
class ReadingRecord:
    """One accepted reading: the signed reading from calldata and its event."""

    block_number: int
    signed: SignedReading
    accepted: ReadingAccepted


@dataclass(frozen=True)
class SettleRecord:
    """One `settleInterval`: its calldata (orders, trades, proofs per household) and events."""

    interval_id: int
    block_number: int
    orders: tuple[Order, ...]
    trades: tuple[Trade, ...]
    proofs: tuple[tuple[MeterProof, ...], ...]
    settled: IntervalSettled
    trade_events: tuple[TradeSettled, ...]
    releases: tuple[EscrowReleased, ...]


@dataclass
class ChainHistory:
    """Everything read from the chain in the audited range."""

    chain_id: int
    market: str
    from_block: int
    to_block: int
    commits: dict[int, CommitRecord] = field(default_factory=dict)
    readings: list[ReadingRecord] = field(default_factory=list)
    settlements: dict[int, SettleRecord] = field(default_factory=dict)
    deposits: list[Deposited] = field(default_factory=list)
    withdrawals: list[Withdrawn] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    meter_households: dict[bytes, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _fields(value: Any) -> tuple[Any, ...]:
    # web3.py decodes a struct either as a tuple or as a name -> value mapping.
    return tuple(value.values()) if isinstance(value, dict) else tuple(value)


def _order(raw: Any) -> Order:
    household, side, interval_id, energy_wh, price_per_kwh, nonce = _fields(raw)
    return Order(household, Side(side), interval_id, energy_wh, price_per_kwh, nonce)


def _trade(raw: Any) -> Trade:
    return Trade(*(int(value) for value in _fields(raw)))


def _values(raw: Any) -> ChainValues:
    return ChainValues(*(int(value) for value in _fields(raw)))


def _signed_order(raw: Any) -> SignedOrder:
    order, v, r, s = _fields(raw)
    return SignedOrder(_order(order), int(v), int.from_bytes(r, "big"), int.from_bytes(s, "big"))


def _signed_reading(raw: Any) -> SignedReading:
    x, y, values, r, s, _link, _previous = _fields(raw)
    public_key = PublicKey(int(x), int(y))
    chain_values = _values(values)
    reading = Reading(
        Web3.keccak(public_key.to_bytes()),
        chain_values.interval_id,
        chain_values.import_wh_total,
        chain_values.export_wh_total,
        chain_values.seq,
    )
    return SignedReading(reading, public_key, int.from_bytes(r, "big"), int.from_bytes(s, "big"))


def _proof(raw: Any) -> MeterProof:
    meter_id, link, readings = _fields(raw)
    return MeterProof(bytes(meter_id), bytes(link), tuple(_values(v) for v in readings))


def _logs(w3: Web3, address: str, from_block: int, to_block: int) -> list[LogReceipt]:
    logs: list[LogReceipt] = []
    start = from_block
    while start <= to_block:
        end = min(start + LOG_CHUNK_BLOCKS - 1, to_block)
        params: FilterParams = {
            "address": Web3.to_checksum_address(address),
            "fromBlock": start,
            "toBlock": end,
        }
        logs.extend(w3.eth.get_logs(params))
        start = end + 1
    return sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))


def _by_transaction(
    contract: Contract, logs: Iterable[LogReceipt]
) -> dict[bytes, tuple[int, list[Event]]]:
    grouped: dict[bytes, tuple[int, list[Event]]] = {}
    for log in logs:
        event = decode_log(contract, log)
        if event is None:
            continue
        tx_hash = bytes(log["transactionHash"])
        grouped.setdefault(tx_hash, (int(log["blockNumber"]), []))[1].append(event)
    return grouped


def read_history(
    w3: Web3,
    market: Contract,
    registry: Contract,
    token: Contract,
    from_block: int,
    to_block: int,
    progress: Progress | None = None,
) -> ChainHistory:
    """Events of the market, registry and token in [from_block, to_block], with calldata."""
    history = ChainHistory(int(w3.eth.chain_id), str(market.address), from_block, to_block)
    for log in _logs(w3, str(registry.address), from_block, to_block):
        if bytes(log["topics"][0]) == bytes(
            Web3.keccak(text="MeterAdmitted(bytes32,address,uint256,uint256)")
        ):
            meter_id = bytes(log["topics"][1])
            history.meter_households[meter_id] = to_checksum_address(log["topics"][2][-20:])
    for log in _logs(w3, str(token.address), from_block, to_block):
        event = decode_log(token, log)
        if isinstance(event, Transfer):
            history.transfers.append(event)
    grouped = _by_transaction(market, _logs(w3, str(market.address), from_block, to_block))
    for done, (tx_hash, (block_number, events)) in enumerate(grouped.items(), start=1):
        history.deposits.extend(only(events, Deposited))
        history.withdrawals.extend(only(events, Withdrawn))
        if any(
            isinstance(e, IntervalCommitted | ReadingAccepted | IntervalSettled) for e in events
        ):
            _read_call(w3, market, history, tx_hash, block_number, events)
        if progress is not None:
            progress(done, len(grouped))
    return history


def _read_call(
    w3: Web3,
    market: Contract,
    history: ChainHistory,
    tx_hash: bytes,
    block_number: int,
    events: list[Event],
) -> None:
    transaction = w3.eth.get_transaction(HexBytes(tx_hash))
    to = transaction.get("to")
    if to is None or to_checksum_address(to) != market.address:
        history.problems.append(
            Problem(
                _interval_of(events),
                "calldata_unavailable",
                f"transaction 0x{tx_hash.hex()} reached the market through {to}: its orders, "
                "readings or proofs cannot be read back",
            )
        )
        return
    function, params = market.decode_function_input(transaction["input"])
    name = function.fn_name
    if name == "commitInterval":
        committed = only(events, IntervalCommitted)[0]
        history.commits[committed.interval_id] = CommitRecord(
            committed.interval_id,
            block_number,
            tuple(_signed_order(raw) for raw in params["orders"]),
            tuple(_trade(raw) for raw in params["trades"]),
            committed,
            tuple(only(events, TradeCommitted)),
            tuple(only(events, EscrowLocked)),
        )
    elif name == "submitReadings":
        accepted = only(events, ReadingAccepted)
        signed = [_signed_reading(raw) for raw in params["readings"]]
        if len(signed) != len(accepted):
            history.problems.append(
                Problem(
                    None,
                    "reading_event_mismatch",
                    f"transaction 0x{tx_hash.hex()} carries {len(signed)} readings but "
                    f"emitted {len(accepted)} ReadingAccepted events",
                )
            )
        for reading, event in zip(signed, accepted, strict=False):
            history.readings.append(ReadingRecord(block_number, reading, event))
    elif name == "settleInterval":
        settled = only(events, IntervalSettled)[0]
        history.settlements[settled.interval_id] = SettleRecord(
            settled.interval_id,
            block_number,
            tuple(_order(raw) for raw in params["orders"]),
            tuple(_trade(raw) for raw in params["trades"]),
            tuple(
                tuple(_proof(meter) for meter in _fields(household)[0])
                for household in params["households"]
            ),
            settled,
            tuple(only(events, TradeSettled)),
            tuple(only(events, EscrowReleased)),
        )


def _interval_of(events: list[Event]) -> int | None:
    for event in events:
        if isinstance(event, IntervalCommitted | IntervalSettled):
            return event.interval_id
    return None

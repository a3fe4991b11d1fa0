"""The meters' signed batches as the chain accepted them, per meter and period.

Read with the auditor's reader (`ledger.audit.source.read_history`: events and the calldata
of every call that accepted a batch): a batch is taken from the `postMeterBatches` call that
posted it or from the `settlePeriod` call that carried it inline (its meter is the entry of
the household's `metersOf` at that position), and only when a MeterBatchAccepted event
records it. Signatures and chaining were checked by the contract when it accepted them
(`quartier audit` re-checks them); this module only reads the registers' differences.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests
from eth_abi.exceptions import DecodingError
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import FilterParams, RPCEndpoint

from ledger.audit.history import BatchCall, History, Logged, RawBatch, RawHousehold, SettleCall
from ledger.chain import RPC_TIMEOUT_SECONDS, connect, decode_calldata
from ledger.community import Window
from ledger.compiler import artifact
from ledger.deployment import Deployment
from ledger.dso.errors import ReconcileError
from ledger.events_v2 import MeterAdmitted, MeterBatchAccepted, MeterRevoked, decode_log_v2
from ledger.exchange import MeterData, MeterSource
from ledger.rules import TimeGrid


@dataclass(frozen=True)
class SignedBatch:
    """One accepted batch: start registers and (import, export) Wh per interval."""

    meter_id: bytes
    period_id: int
    start_import_wh: int
    start_export_wh: int
    deltas: np.ndarray  # shape (period_intervals, 2), uint32 as int64


@dataclass
class ChainMeters:
    """Every meter's window and accepted batches, and each household's meters in order."""

    grid: TimeGrid
    windows: dict[bytes, Window] = field(default_factory=dict)
    meters_of: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    batches: dict[tuple[bytes, int], SignedBatch] = field(default_factory=dict)


def _deltas(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=">u4").reshape(-1, 2).astype(np.int64)


def chain_meters(history: History) -> ChainMeters:
    """The meters and batches of `history` (see the module docstring)."""
    found = ChainMeters(history.grid)
    for logged in history.community_events:
        event = logged.event
        if isinstance(event, MeterAdmitted):
            found.windows[event.meter_id] = Window(event.admitted_at)
            found.meters_of[event.household.lower()].append(event.meter_id)
        elif isinstance(event, MeterRevoked) and event.meter_id in found.windows:
            found.windows[event.meter_id] = Window(
                found.windows[event.meter_id].admitted_at, event.revoked_at
            )
    accepted = {
        (logged.event.meter_id, logged.event.period_id): logged.tx_hash
        for logged in history.exchange_events
        if isinstance(logged.event, MeterBatchAccepted)
    }
    for (meter_id, period_id), tx_hash in accepted.items():
        call = history.calls.get(tx_hash)
        if isinstance(call, BatchCall):
            for raw in call.batches:
                if (raw.meter_id, raw.period_id) == (meter_id, period_id):
                    found.batches[meter_id, period_id] = SignedBatch(
                        meter_id,
                        period_id,
                        raw.start_import_wh,
                        raw.start_export_wh,
                        _deltas(raw.deltas),
                    )
        elif isinstance(call, SettleCall) and call.period_id == period_id:
            for household in call.households:
                meters = found.meters_of.get(household.household.lower(), [])
                for position, data in enumerate(household.meters):
                    if (
                        data.source == MeterSource.INLINE
                        and position < len(meters)
                        and meters[position] == meter_id
                    ):
                        found.batches[meter_id, period_id] = SignedBatch(
                            meter_id,
                            period_id,
                            data.start_import_wh,
                            data.start_export_wh,
                            _deltas(data.deltas),
                        )
    return found


#: Blocks per eth_getLogs request, and transactions per batched JSON-RPC request.
LOG_CHUNK_BLOCKS = 5_000
TRANSACTIONS_PER_REQUEST = 100


def read_chain_meters(rpc_url: str, deployment: Deployment) -> ChainMeters:
    """Only what a reconciliation needs, read lean: the meters' admissions and revocations,
    the MeterBatchAccepted events and the input of each transaction that carried a batch
    (fetched in batched JSON-RPC requests). The same batches as `chain_meters(read_history)`
    (the auditor's full reader, which also reads postings, money and views), in a fraction of
    the requests."""
    w3 = connect(rpc_url)
    deployment.check_chain(w3)
    exchange = _contract(w3, deployment, "QuartierExchange")
    community = _contract(
        w3, deployment, "QuartierCommunity", str(exchange.functions.community().call())
    )
    grid = TimeGrid(
        int(community.functions.intervalSeconds().call()),
        int(community.functions.periodIntervals().call()),
    )
    last = int(w3.eth.block_number)
    history = History(int(w3.eth.chain_id), exchange.address, "", grid, 0, 0, last, 0)
    topics = [_topic(community, name) for name in ("MeterAdmitted", "MeterRevoked")]
    for log in _logs(w3, community.address, topics, deployment.deploy_block, last):
        event = decode_log_v2(community, log)
        if event is not None:
            history.community_events.append(
                Logged(event, int(log["blockNumber"]), 0, bytes(log["transactionHash"]), 0)
            )
    accepted = _topic(exchange, "MeterBatchAccepted")
    for raw in _raw_logs(w3, exchange.address, accepted, deployment.deploy_block, last):
        history.exchange_events.append(
            Logged(
                _batch_accepted(raw),
                int(raw["blockNumber"], 16),
                0,
                bytes.fromhex(raw["transactionHash"][2:]),
                0,
            )
        )
    hashes = list(dict.fromkeys(logged.tx_hash for logged in history.exchange_events))
    inputs = _inputs(rpc_url, hashes)
    post = exchange.functions.postMeterBatches.signature
    settle = exchange.functions.settlePeriod.signature
    for tx_hash, data in inputs.items():
        call = _call(data, post, settle)
        if call is not None:
            history.calls[tx_hash] = call
    return chain_meters(history)


def _batch_accepted(raw: dict[str, Any]) -> MeterBatchAccepted:
    """MeterBatchAccepted(bytes32 indexed meterId, uint64 indexed periodId, uint64 endImportWh,
    uint64 endExportWh) read from the log's raw words: a month holds thousands, and web3.py's
    log formatting and generic decoder cost more than the rest of the reading."""
    data = bytes.fromhex(raw["data"][2:])
    return MeterBatchAccepted(
        bytes.fromhex(raw["topics"][1][2:]),
        int(raw["topics"][2], 16),
        int.from_bytes(data[0:32], "big"),
        int.from_bytes(data[32:64], "big"),
    )


def _raw_logs(w3: Web3, address: str, topic: HexBytes, first: int, last: int) -> list[Any]:
    """eth_getLogs answers as the node sent them (hex strings), in chain order."""
    found: list[Any] = []
    start = first
    while start <= last:
        end = min(start + LOG_CHUNK_BLOCKS - 1, last)
        query = {"address": address, "topics": ["0x" + topic.hex().removeprefix("0x")],
                 "fromBlock": hex(start), "toBlock": hex(end)}  # fmt: skip
        answer = w3.provider.make_request(RPCEndpoint("eth_getLogs"), [query])
        if "error" in answer:
            raise ReconcileError(f"the node refused eth_getLogs: {answer['error']}")
        found.extend(answer["result"])
        start = end + 1
    return sorted(found, key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))


def _contract(w3: Web3, deployment: Deployment, name: str, address: str | None = None) -> Contract:
    abi = deployment.abis.get(name) or artifact(name).abi
    at = Web3.to_checksum_address(address or deployment.address(name))
    if not w3.eth.get_code(at):
        raise ReconcileError(f"no {name} at {at} on this chain")
    return w3.eth.contract(address=at, abi=abi)


def _topic(contract: Contract, name: str) -> HexBytes:
    entry: Any = next(i for i in contract.abi if i["type"] == "event" and i["name"] == name)
    return HexBytes(event_abi_to_log_topic(entry))


def _logs(w3: Web3, address: str, topics: list[HexBytes], first: int, last: int) -> list[Any]:
    found: list[Any] = []
    start = first
    while start <= last:
        end = min(start + LOG_CHUNK_BLOCKS - 1, last)
        params: FilterParams = {
            "address": Web3.to_checksum_address(address),
            "topics": [topics],
            "fromBlock": start,
            "toBlock": end,
        }
        found.extend(w3.eth.get_logs(params))
        start = end + 1
    return sorted(found, key=lambda log: (log["blockNumber"], log["logIndex"]))


def _inputs(rpc_url: str, hashes: list[bytes]) -> dict[bytes, bytes]:
    """Each transaction's input, TRANSACTIONS_PER_REQUEST per JSON-RPC batch."""
    inputs: dict[bytes, bytes] = {}
    with requests.Session() as session:
        for at in range(0, len(hashes), TRANSACTIONS_PER_REQUEST):
            chunk = hashes[at : at + TRANSACTIONS_PER_REQUEST]
            body: Any = [
                {"jsonrpc": "2.0", "id": n, "method": "eth_getTransactionByHash",
                 "params": ["0x" + tx_hash.hex()]}
                for n, tx_hash in enumerate(chunk)
            ]  # fmt: skip
            answer = session.post(rpc_url, json=body, timeout=RPC_TIMEOUT_SECONDS)
            answer.raise_for_status()
            for item in answer.json():
                result = item.get("result") if isinstance(item, dict) else None
                if not result:
                    raise ReconcileError(
                        f"transaction {chunk[int(item.get('id', 0))].hex()} is unavailable"
                    )
                inputs[chunk[int(item["id"])]] = bytes.fromhex(str(result["input"])[2:])
    return inputs


def _call(data: bytes, post: str, settle: str) -> BatchCall | SettleCall | None:
    try:
        if data[:4] == keccak(text=post)[:4]:
            (items,) = decode_calldata(post, data)
            return BatchCall(
                "",
                tuple(
                    RawBatch(bytes(m), int(p), int(i), int(x), bytes(d), bytes(s))
                    for m, p, i, x, d, s in items
                ),
            )
        if data[:4] == keccak(text=settle)[:4]:
            period_id, households, _hints = decode_calldata(settle, data)
            return SettleCall(
                "",
                int(period_id),
                tuple(
                    RawHousehold(
                        str(household),
                        (),
                        tuple(
                            MeterData(MeterSource(int(s)), int(i), int(x), bytes(d), bytes(g))
                            for s, i, x, d, g in meters
                        ),
                    )
                    for household, _postings, meters in households
                ),
                b"",
            )
    except (ValueError, DecodingError):
        return None
    return None

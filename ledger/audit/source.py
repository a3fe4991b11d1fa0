"""Read a v2 community's history from a node: the events of the community, the exchange
and the token (transfers from or to the exchange), the block times, the calldata of every
postSchedules / postMeterBatches / settlePeriod transaction, and the views at the last block.

Nothing else is read: no API, no settings. The calldata must come from direct calls of the
exchange (IQuartierExchange, "Known limits"); any other transaction is kept as Unreadable
and the audit names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import FilterParams, LogReceipt, RPCEndpoint

from ledger.audit.history import (
    BatchCall,
    Call,
    EndState,
    History,
    Logged,
    MeterRecord,
    PostCall,
    RawBatch,
    RawHousehold,
    RawPosting,
    RawSchedule,
    SettleCall,
    Unreadable,
)
from ledger.audit.model import AuditError
from ledger.chain import decode_calldata, encode_call
from ledger.community import Window
from ledger.compiler import artifact
from ledger.deployment import Deployment
from ledger.events import Transfer, decode_log
from ledger.events_v2 import (
    ExchangeDeposited,
    ExchangeWithdrawn,
    HouseholdAdmitted,
    HouseholdRemoved,
    HouseholdSettled,
    MeterAdmitted,
    MeterBatchAccepted,
    PeriodSettled,
    SchedulePosted,
    decode_log_v2,
)
from ledger.exchange import MeterData, MeterSource
from ledger.rules import Rules, TimeGrid

#: Called as progress(done, total) while transactions are fetched.
Progress = Callable[[int, int], None]

_CALL_EVENTS = (SchedulePosted, MeterBatchAccepted, PeriodSettled)

#: Blocks per eth_getLogs request: nodes cap the range or the answer size.
LOG_CHUNK_BLOCKS = 5_000


def _contract(w3: Web3, address: str, name: str) -> Contract:
    address = Web3.to_checksum_address(address)
    if not w3.eth.get_code(address):
        raise AuditError(f"no contract at the {name} address {address} on this chain")
    return w3.eth.contract(address=address, abi=artifact(name).abi)


def _contracts(w3: Web3, deployment: Deployment) -> tuple[Contract, Contract, Contract]:
    """The exchange of the deployment, and the community and token it names (the chain's
    word, checked against the deployment file's)."""
    exchange = _contract(w3, deployment.address("QuartierExchange"), "QuartierExchange")
    named = {
        "QuartierCommunity": to_checksum_address(exchange.functions.community().call()),
        "QuartierToken": to_checksum_address(exchange.functions.token().call()),
    }
    for name, address in named.items():
        listed = deployment.contracts.get(name)
        if listed is not None and to_checksum_address(listed) != address:
            raise AuditError(
                f"the deployment file lists {name} at {listed}, the exchange uses {address}"
            )
    return (
        _contract(w3, named["QuartierCommunity"], "QuartierCommunity"),
        exchange,
        _contract(w3, named["QuartierToken"], "QuartierToken"),
    )


def _logs(w3: Web3, params: FilterParams, first: int, last: int) -> list[LogReceipt]:
    logs: list[LogReceipt] = []
    start = first
    while start <= last:
        end = min(start + LOG_CHUNK_BLOCKS - 1, last)
        logs.extend(w3.eth.get_logs({**params, "fromBlock": start, "toBlock": end}))
        start = end + 1
    return logs


def _call_at(fn: ContractFunction, block: int) -> tuple[Any, ...]:
    """A view at `block` as one bare eth_call (web3.py's contract layer asks the chain id and
    re-formats every argument on each call: most of an audit's time on a day's views)."""
    call = {"to": fn.address, "data": "0x" + encode_call(fn).hex()}
    answer = fn.w3.provider.make_request(RPCEndpoint("eth_call"), [call, hex(block)])
    if "error" in answer:
        raise AuditError(f"the view {fn.signature} failed at block {block}: {answer['error']}")
    outputs = [collapse_if_tuple(dict(item)) for item in fn.abi.get("outputs", [])]
    return tuple(abi_decode(outputs, bytes.fromhex(str(answer["result"])[2:])))


def _fields(value: Any) -> tuple[Any, ...]:
    return tuple(value.values()) if isinstance(value, dict) else tuple(value)


def _decode_call(exchange: Contract, transaction: Any) -> Call:
    sender = to_checksum_address(transaction["from"])
    to = transaction.get("to")
    if to is None or to_checksum_address(to) != exchange.address:
        return Unreadable(sender, None if to is None else to_checksum_address(to))
    data = bytes(transaction["input"])
    functions = exchange.functions
    try:
        if data[:4] == Web3.keccak(text=functions.postSchedules.signature)[:4]:
            (items,) = decode_calldata(functions.postSchedules.signature, data)
            return PostCall(
                sender,
                tuple(
                    RawSchedule(
                        to_checksum_address(h), int(p), int(v), int(f), bytes(e), bytes(sig)
                    )
                    for (h, p, v, f, e), sig in (_fields(item) for item in items)
                ),
            )
        if data[:4] == Web3.keccak(text=functions.postMeterBatches.signature)[:4]:
            (items,) = decode_calldata(functions.postMeterBatches.signature, data)
            return BatchCall(
                sender,
                tuple(
                    RawBatch(bytes(m), int(p), int(i), int(x), bytes(d), bytes(sig))
                    for m, p, i, x, d, sig in (_fields(item) for item in items)
                ),
            )
        if data[:4] == Web3.keccak(text=functions.settlePeriod.signature)[:4]:
            period_id, households, hints = decode_calldata(functions.settlePeriod.signature, data)
            return SettleCall(
                sender, int(period_id), tuple(_household(h) for h in households), bytes(hints)
            )
    except (ValueError, DecodingError):
        pass
    return Unreadable(sender, to_checksum_address(to))


def _household(raw: Any) -> RawHousehold:
    household, postings, meters = _fields(raw)
    return RawHousehold(
        to_checksum_address(household),
        tuple(RawPosting(int(v), int(f), bytes(e)) for v, f, e in map(_fields, postings)),
        tuple(
            MeterData(MeterSource(int(s)), int(i), int(x), bytes(d), bytes(sig))
            for s, i, x, d, sig in map(_fields, meters)
        ),
    )


class _Times:
    """Block times, each block asked once."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.known: dict[int, int] = {}

    def of(self, block_number: int) -> int:
        if block_number not in self.known:
            answer = self.w3.provider.make_request(
                RPCEndpoint("eth_getBlockByNumber"), [hex(block_number), False]
            )
            if "error" in answer or not answer.get("result"):
                raise AuditError(f"block {block_number} is unavailable: {answer.get('error')}")
            self.known[block_number] = int(answer["result"]["timestamp"], 16)
        return self.known[block_number]


def _logged(event: Any, log: LogReceipt, times: _Times) -> Logged[Any]:
    number = int(log["blockNumber"])
    return Logged(
        event, number, times.of(number), bytes(log["transactionHash"]), int(log["logIndex"])
    )


def read_history(
    w3: Web3,
    deployment: Deployment,
    from_block: int | None = None,
    to_block: int | None = None,
    progress: Progress | None = None,
) -> History:
    """The history of the community of `deployment`: events from its deployment block to
    `to_block` (default latest); problems are reported from `from_block` (default the
    deployment block) on. AuditError when the range makes no sense."""
    deployment.check_chain(w3)
    latest = int(w3.eth.block_number)
    first = deployment.deploy_block if from_block is None else from_block
    last = latest if to_block is None else to_block
    if first < 0 or last < first or last > latest or last < deployment.deploy_block:
        raise AuditError(
            f"block range {first}..{last} is not within {deployment.deploy_block}..{latest}"
        )
    community, exchange, token = _contracts(w3, deployment)
    times = _Times(w3)
    start = deployment.deploy_block
    history = History(
        int(w3.eth.chain_id),
        str(exchange.address),
        str(token.address),
        TimeGrid(
            int(community.functions.intervalSeconds().call()),
            int(community.functions.periodIntervals().call()),
        ),
        int(community.functions.ruleChangeDelayPeriods().call()),
        first,
        last,
        times.of(last),
    )
    logs = _logs(w3, {"address": [community.address, exchange.address]}, start, last)
    for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
        source = community if to_checksum_address(log["address"]) == community.address else exchange
        event = decode_log_v2(source, log)
        if event is not None:
            target = history.community_events if source is community else history.exchange_events
            target.append(_logged(event, log, times))
    history.max_postings_per_period = int(exchange.functions.MAX_POSTINGS_PER_PERIOD().call())
    history.max_households_per_period = int(exchange.functions.MAX_HOUSEHOLDS_PER_PERIOD().call())
    history.transfers = _transfers(w3, token, exchange.address, start, last, times)
    calls = [
        logged.tx_hash
        for logged in history.exchange_events
        if isinstance(logged.event, _CALL_EVENTS)
    ]
    unique = list(dict.fromkeys(calls))
    for done, tx_hash in enumerate(unique, start=1):
        history.calls[tx_hash] = _decode_call(exchange, w3.eth.get_transaction(HexBytes(tx_hash)))
        if progress is not None:
            progress(done, len(unique))
    history.state = _end_state(history, community, exchange, token, last)
    return history


def _transfers(
    w3: Web3, token: Contract, exchange: str, first: int, last: int, times: _Times
) -> list[Logged[Any]]:
    entry: Any = next(i for i in token.abi if i["type"] == "event" and i["name"] == "Transfer")
    topic = HexBytes(event_abi_to_log_topic(entry))
    padded = HexBytes(bytes(12) + bytes.fromhex(exchange[2:]))
    found: dict[tuple[bytes, int], LogReceipt] = {}
    for topics in ([topic, padded], [topic, None, padded]):
        params: FilterParams = {"address": token.address, "topics": topics}
        for log in _logs(w3, params, first, last):
            found[(bytes(log["transactionHash"]), int(log["logIndex"]))] = log
    transfers = []
    for log in sorted(found.values(), key=lambda log: (log["blockNumber"], log["logIndex"])):
        event = decode_log(token, log)
        if isinstance(event, Transfer):
            transfers.append(_logged(event, log, times))
    return transfers


def _households(history: History) -> tuple[set[str], set[str], set[bytes]]:
    escrow: set[str] = {call.sender for call in history.calls.values()}
    escrow |= {c.to for c in history.calls.values() if isinstance(c, Unreadable) and c.to}
    for logged in history.exchange_events:
        event = logged.event
        if isinstance(
            event, ExchangeDeposited | ExchangeWithdrawn | SchedulePosted | HouseholdSettled
        ):
            escrow.add(event.household)
    members: set[str] = set()
    meters: set[bytes] = set()
    for logged in history.community_events:
        event = logged.event
        if isinstance(event, HouseholdAdmitted | HouseholdRemoved):
            members.add(event.household)
        elif isinstance(event, MeterAdmitted):
            members.add(event.household)
            meters.add(event.meter_id)
    return escrow, members, meters


def _end_state(
    history: History, community: Contract, exchange: Contract, token: Contract, block: int
) -> EndState:
    escrow_households, members, meter_ids = _households(history)
    state = EndState()
    for household in sorted(escrow_households):
        free, locked = _call_at(exchange.functions.escrowOf(household), block)
        state.escrow[household] = (int(free), int(locked))
    (units,) = _call_at(token.functions.balanceOf(exchange.address), block)
    state.exchange_token_units = int(units)
    periods, rules = _call_at(community.functions.rulesHistory(), block)
    state.rules_history = [
        (int(p), Rules.from_abi(_fields(r))) for p, r in zip(periods, rules, strict=True)
    ]
    for household in sorted(members | {h for h in escrow_households}):
        ((admitted_at, removed_at),) = _call_at(community.functions.membership(household), block)
        if int(admitted_at) or household in members:
            state.memberships[household] = Window(int(admitted_at), int(removed_at))
        (meter_ids_of,) = _call_at(community.functions.metersOf(household), block)
        state.meters_of[household] = [bytes(m) for m in meter_ids_of]
    for meter_id in sorted(meter_ids):
        ((owner, admitted_at, revoked_at, x, y),) = _call_at(
            community.functions.meter(meter_id), block
        )
        state.meters[meter_id] = MeterRecord(
            to_checksum_address(owner), Window(int(admitted_at), int(revoked_at)), int(x), int(y)
        )
    return state

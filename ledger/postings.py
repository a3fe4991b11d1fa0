"""Read a period's postings back from the chain and assemble a settlement's input.

The exchange keeps only a hash chain per (household, period); the entries themselves live in
the calldata of the `postSchedules` transactions. A settler (or an auditor) finds them through
the SchedulePosted events of the period, decodes each transaction's input, and checks every
schedule it keeps against the event's struct hash, so a wrong read cannot go unnoticed. As
IQuartierExchange states, this needs `postSchedules` called directly, not via a contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.types import FilterParams, LogReceipt

from ledger.chain import decode_calldata
from ledger.community import CommunityClient
from ledger.errors import LedgerError
from ledger.events_v2 import SchedulePosted, decode_log_v2
from ledger.exchange import ExchangeClient, HouseholdPeriod, MeterData
from ledger.schedules import Schedule, schedule_struct_hash


def _topic(exchange: ExchangeClient, name: str) -> bytes:
    entry: Any = next(
        item for item in exchange.contract.abi if item["type"] == "event" and item["name"] == name
    )
    return bytes(event_abi_to_log_topic(entry))


def read_postings(
    exchange: ExchangeClient, period_id: int, from_block: int = 0
) -> dict[str, list[Schedule]]:
    """Every posting of period `period_id`, per household in posting order."""
    w3 = exchange.sender.w3
    params: FilterParams = {
        "address": exchange.contract.address,
        "fromBlock": from_block,
        "toBlock": "latest",
        "topics": [
            HexBytes(_topic(exchange, "SchedulePosted")),
            HexBytes(abi_encode(["uint64"], [period_id])),
        ],
    }
    logs: list[LogReceipt] = sorted(
        w3.eth.get_logs(params), key=lambda log: (log["blockNumber"], log["logIndex"])
    )
    signature = exchange.contract.functions.postSchedules.signature
    inputs: dict[bytes, list[Schedule]] = {}
    postings: dict[str, list[Schedule]] = {}
    for log in logs:
        event = decode_log_v2(exchange.contract, log)
        if not isinstance(event, SchedulePosted):
            continue
        tx_hash = bytes(log["transactionHash"])
        if tx_hash not in inputs:
            transaction = w3.eth.get_transaction(HexBytes(tx_hash))
            if transaction.get("to") != exchange.contract.address:
                raise LedgerError(
                    f"schedules of period {period_id} were posted through another contract "
                    f"(transaction 0x{tx_hash.hex()}): their entries cannot be read back"
                )
            (items,) = decode_calldata(signature, bytes(transaction["input"]))
            inputs[tx_hash] = [
                Schedule.from_entries_bytes(
                    Web3.to_checksum_address(household), period, version, first, bytes(entries)
                )
                for (household, period, version, first, entries), _signature in items
            ]
        match = next(
            (s for s in inputs[tx_hash] if schedule_struct_hash(s) == event.schedule_hash), None
        )
        if match is None:
            raise LedgerError(f"no schedule in 0x{tx_hash.hex()} hashes to its SchedulePosted")
        postings.setdefault(match.household, []).append(match)
    return postings


def settlement_households(
    community: CommunityClient,
    postings: dict[str, list[Schedule]],
    meter_data: Callable[[bytes], MeterData],
) -> list[HouseholdPeriod]:
    """The `households` argument of settlePeriod: by increasing address, each with its
    postings and one MeterData per entry of metersOf (asked of `meter_data(meter_id)`)."""
    return [
        HouseholdPeriod(
            household,
            tuple(postings[household]),
            tuple(meter_data(meter_id) for meter_id in community.meters_of(household)),
        )
        for household in sorted(postings, key=lambda address: int(address, 16))
    ]

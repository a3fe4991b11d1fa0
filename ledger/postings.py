"""Read a period's postings back from the chain and assemble a settlement's input.

The exchange keeps only a hash chain per (household, period); each SchedulePosted event
carries the posting's entries (IQuartierExchange), so a settler (or an auditor) rebuilds
every posting from the period's events alone, however it was posted (directly or through
another contract), and checks it against the event's struct hash, so a wrong read cannot go
unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3.types import FilterParams, LogReceipt

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
    postings: dict[str, list[Schedule]] = {}
    for log in logs:
        event = decode_log_v2(exchange.contract, log)
        if not isinstance(event, SchedulePosted):
            continue
        schedule = Schedule.from_entries_bytes(
            event.household, event.period_id, event.version, event.first_interval_id, event.entries
        )
        if schedule_struct_hash(schedule) != event.schedule_hash:
            tx = bytes(log["transactionHash"]).hex()
            raise LedgerError(f"the SchedulePosted of 0x{tx} does not hash to its schedule_hash")
        postings.setdefault(schedule.household, []).append(schedule)
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

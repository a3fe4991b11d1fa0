"""A household's statement, from the exchange's events alone: its escrow movements, and per
period it posted for, its entries (the book after all its postings), the interval's clearing
(PeriodCleared) and, once settled, what it delivered, received and was paid or charged
(HouseholdSettled). Integers in the JSON; `render_text` speaks euros, kWh, Europe/Brussels
time and member names.

Events are found by topics computed from the exchange's ABI and decoded by
`ledger.events_v2`, so a change of their shapes there flows here.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.types import FilterParams, LogReceipt

from ledger.community import CommunityClient
from ledger.community_config.chain_state import LOG_CHUNK_BLOCKS
from ledger.community_config.files import Directory
from ledger.community_config.household_plan import SIDE_NAMES, book_of
from ledger.community_config.status import kwh, local_time, price
from ledger.deployment import Deployment
from ledger.display import euros
from ledger.events_v2 import (
    ExchangeDeposited,
    ExchangeWithdrawn,
    HouseholdSettled,
    PeriodCleared,
    SchedulePosted,
    decode_log_v2,
)
from ledger.exchange import ExchangeClient
from ledger.rules import TimeGrid
from ledger.schedules import Schedule
from ledger.token import TokenClient


def topic(exchange: ExchangeClient, name: str) -> HexBytes:
    """The topic of event `name` of the exchange's ABI."""
    entry: Any = next(
        item for item in exchange.contract.abi if item["type"] == "event" and item["name"] == name
    )
    return HexBytes(event_abi_to_log_topic(entry))


def _word(abi_type: str, value: Any) -> HexBytes:
    return HexBytes(abi_encode([abi_type], [value]))


def exchange_logs(exchange: ExchangeClient, from_block: int, topics: list[Any]) -> list[LogReceipt]:
    """The exchange's logs matching `topics`, in chain order (ranges in chunks)."""
    w3 = exchange.sender.w3
    latest = int(w3.eth.block_number)
    found: list[LogReceipt] = []
    for first in range(from_block, latest + 1, LOG_CHUNK_BLOCKS):
        params: FilterParams = {
            "address": Web3.to_checksum_address(exchange.address),
            "fromBlock": first,
            "toBlock": min(first + LOG_CHUNK_BLOCKS - 1, latest),
            "topics": topics,
        }
        found.extend(w3.eth.get_logs(params))
    return sorted(found, key=lambda log: (log["blockNumber"], log["logIndex"]))


def household_postings(
    exchange: ExchangeClient, from_block: int, household: str, period_id: int | None = None
) -> list[Schedule]:
    """The household's postings (of one period, or all), in posting order, from events."""
    period = None if period_id is None else _word("uint64", period_id)
    logs = exchange_logs(
        exchange,
        from_block,
        [topic(exchange, "SchedulePosted"), period, _word("address", household)],
    )
    postings = []
    for log in logs:
        event = decode_log_v2(exchange.contract, log)
        if isinstance(event, SchedulePosted):
            postings.append(
                Schedule.from_entries_bytes(
                    event.household,
                    event.period_id,
                    event.version,
                    event.first_interval_id,
                    event.entries,
                )
            )
    return postings


def read_statement(
    exchange: ExchangeClient,
    token: TokenClient,
    community: CommunityClient,
    deployment: Deployment,
    directory: Directory,
    household: str,
) -> dict[str, Any]:
    """The household's statement (see the module docstring) as a JSON-ready dict."""
    start = deployment.deploy_block
    grid = community.time_grid()
    escrow_topics = [[topic(exchange, "Deposited"), topic(exchange, "Withdrawn")]]
    movements = []
    for log in exchange_logs(exchange, start, [*escrow_topics, _word("address", household)]):
        event = decode_log_v2(exchange.contract, log)
        if isinstance(event, ExchangeDeposited | ExchangeWithdrawn):
            movements.append(
                {
                    "kind": "deposit" if isinstance(event, ExchangeDeposited) else "withdrawal",
                    "amount_units": event.amount_units,
                    "block": int(log["blockNumber"]),
                    "tx": "0x" + bytes(log["transactionHash"]).hex(),
                }
            )
    settled: dict[int, HouseholdSettled] = {}
    settled_topics = [topic(exchange, "HouseholdSettled"), None, _word("address", household)]
    for log in exchange_logs(exchange, start, settled_topics):
        event = decode_log_v2(exchange.contract, log)
        if isinstance(event, HouseholdSettled):
            settled[event.period_id] = event
    by_period: dict[int, list[Schedule]] = {}
    for posting in household_postings(exchange, start, household):
        by_period.setdefault(posting.period_id, []).append(posting)
    cleared = _cleared(exchange, start, sorted(settled))
    escrow = exchange.escrow_of(household)
    return {
        "household": household,
        "member": directory.member_name(household),
        "token_decimals": token.decimals(),
        "wallet_units": token.balance_of(household),
        "escrow": {"free_units": escrow.free_units, "locked_units": escrow.locked_units},
        "movements": movements,
        "periods": [
            _period(grid, period_id, postings, settled.get(period_id), cleared.get(period_id))
            for period_id, postings in sorted(by_period.items())
        ],
    }


def _cleared(
    exchange: ExchangeClient, from_block: int, period_ids: list[int]
) -> dict[int, PeriodCleared]:
    if not period_ids:
        return {}
    words = [_word("uint64", period_id) for period_id in period_ids]
    found: dict[int, PeriodCleared] = {}
    for log in exchange_logs(exchange, from_block, [topic(exchange, "PeriodCleared"), words]):
        event = decode_log_v2(exchange.contract, log)
        if isinstance(event, PeriodCleared):
            found[event.period_id] = event
    return found


def _period(
    grid: TimeGrid,
    period_id: int,
    postings: list[Schedule],
    settled: HouseholdSettled | None,
    cleared: PeriodCleared | None,
) -> dict[str, Any]:
    intervals = cleared.cleared() if cleared is not None else ()
    first = grid.first_interval(period_id)
    entries = []
    for interval_id, entry in sorted(book_of(postings).items()):
        row: dict[str, Any] = {
            "interval_id": interval_id,
            "index": interval_id - first,
            "start": grid.interval_start(interval_id),
            "side": SIDE_NAMES[entry.side],
            "energy_wh": entry.energy_wh,
            "price_per_kwh": entry.price_per_kwh,
        }
        if interval_id - first < len(intervals):
            outcome = intervals[interval_id - first]
            row["interval"] = {
                "price_per_kwh": outcome.price_per_kwh,
                "traded_wh": outcome.traded_wh,
                "delivered_wh": outcome.delivered_wh,
            }
        entries.append(row)
    return {
        "period_id": period_id,
        "start": grid.period_start(period_id),
        "end": grid.period_end(period_id),
        "state": "settled" if settled is not None else "pending",
        "postings": len(postings),
        "last_version": postings[-1].version,
        "entries": entries,
        "delivered_wh": settled.delivered_wh if settled else None,
        "received_wh": settled.received_wh if settled else None,
        "change_units": settled.change_units if settled else None,
        "released_units": settled.released_units if settled else None,
    }


def render_text(statement: dict[str, Any]) -> list[str]:
    """The statement for people."""
    decimals = int(statement["token_decimals"])
    who = statement["member"] or statement["household"]
    escrow = statement["escrow"]
    lines = [
        f"Statement of {who} ({statement['household']})",
        f"Wallet {euros(statement['wallet_units'], decimals)}; escrow free "
        f"{euros(escrow['free_units'], decimals)}, locked "
        f"{euros(escrow['locked_units'], decimals)}",
    ]
    for movement in statement["movements"]:
        lines.append(
            f"  {movement['kind']} of {euros(movement['amount_units'], decimals)}"
            f" (block {movement['block']})"
        )
    for period in statement["periods"]:
        lines.append(
            f"Period {period['period_id']}, {local_time(period['start'])} to "
            f"{local_time(period['end'])}: {period['state']} ({period['postings']} postings,"
            f" version {period['last_version']})"
        )
        for entry in period["entries"]:
            limit = ">=" if entry["side"] == "sell" else "<="
            line = (
                f"  {local_time(entry['start'])[11:16]} {entry['side']} {kwh(entry['energy_wh'])}"
                f" at {limit} {price(entry['price_per_kwh'], decimals)}"
            )
            outcome = entry.get("interval")
            if outcome is not None:
                line += (
                    f"; the interval cleared at {price(outcome['price_per_kwh'], decimals)},"
                    f" {kwh(outcome['traded_wh'])} traded, {kwh(outcome['delivered_wh'])}"
                    " delivered"
                )
            lines.append(line)
        if period["state"] == "settled":
            change = int(period["change_units"])
            money = (
                f"earned {euros(change, decimals)}"
                if change >= 0
                else (f"paid {euros(-change, decimals)}")
            )
            lines.append(
                f"  delivered {kwh(period['delivered_wh'])}, received "
                f"{kwh(period['received_wh'])}, {money}; lock released "
                f"{euros(period['released_units'], decimals)}"
            )
    return lines

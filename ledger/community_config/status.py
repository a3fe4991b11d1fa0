"""A community's status from the chain: rules (and pending changes), members, meters,
balances and periods, as one JSON-ready dict; `render_text` turns it into lines for people
(names, kWh, euros with 2 decimals by `ledger.display.euros`, Europe/Brussels time)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from web3 import Web3
from web3.types import FilterParams

from ledger.chain import Sender
from ledger.community_config.apply import rules_json
from ledger.community_config.chain_state import LOG_CHUNK_BLOCKS, ChainState, read_state
from ledger.community_config.files import Directory
from ledger.deployment import Deployment
from ledger.display import euros
from ledger.events_v2 import PeriodSettled, SchedulePosted, decode_log_v2
from ledger.exchange import ExchangeClient
from ledger.token import TokenClient

LOCAL_ZONE = ZoneInfo("Europe/Brussels")


def read_status(sender: Sender, deployment: Deployment, directory: Directory) -> dict[str, Any]:
    """Everything `quartier community status` shows, from the chain."""
    state = read_state(sender, deployment.address("QuartierCommunity"), deployment.deploy_block)
    exchange = ExchangeClient(sender, deployment.address("QuartierExchange"))
    token = TokenClient(sender, deployment.address("QuartierToken"))
    now = int(sender.w3.eth.get_block("latest")["timestamp"])
    grid = state.grid
    members = [
        {
            "name": directory.member_name(address),
            "ean": (directory.members.get(address.lower()) or {}).get("ean"),
            "address": address,
            "admitted_at": window.admitted_at,
            "removed_at": window.removed_at or None,
        }
        for address, window in state.members.items()
    ]
    meters = [
        {
            "meter_id": "0x" + meter_id.hex(),
            "member": directory.member_name(info.household),
            "address": info.household,
            "admitted_at": info.window.admitted_at,
            "revoked_at": info.window.removed_at or None,
        }
        for meter_id, info in state.meters.items()
    ]
    balances = []
    for address in state.members:
        escrow = exchange.escrow_of(address)
        balances.append(
            {
                "member": directory.member_name(address),
                "address": address,
                "wallet_units": token.balance_of(address),
                "escrow_free_units": escrow.free_units,
                "escrow_locked_units": escrow.locked_units,
            }
        )
    return {
        "community": {
            "name": directory.name or None,
            "chain_id": deployment.chain_id,
            "manager": state.manager,
            "contracts": deployment.contracts,
            "token_decimals": token.decimals(),
        },
        "now": now,
        "current_period": state.current_period,
        "rules": {
            "current": rules_json(state.rules_now()),
            "pending": [
                {
                    "effective_from_period": period,
                    "effective_from": grid.period_start(period),
                    "rules": rules_json(rules),
                }
                for period, rules in state.pending_rules()
            ],
            "interval_seconds": grid.interval_seconds,
            "period_intervals": grid.period_intervals,
            "rule_change_delay_periods": state.rule_change_delay_periods,
        },
        "members": members,
        "meters": meters,
        "balances": balances,
        "periods": _periods(sender, exchange, deployment.deploy_block, state, now),
    }


def _periods(
    sender: Sender, exchange: ExchangeClient, from_block: int, state: ChainState, now: int
) -> list[dict[str, Any]]:
    # Periods with a posting, from the exchange's events: settled, or pending settlement.
    households: dict[int, set[str]] = {}
    settled: dict[int, PeriodSettled] = {}
    latest = int(sender.w3.eth.block_number)
    for first in range(from_block, latest + 1, LOG_CHUNK_BLOCKS):
        params: FilterParams = {
            "address": Web3.to_checksum_address(exchange.address),
            "fromBlock": first,
            "toBlock": min(first + LOG_CHUNK_BLOCKS - 1, latest),
        }
        for log in sender.w3.eth.get_logs(params):
            event = decode_log_v2(exchange.contract, log)
            if isinstance(event, SchedulePosted):
                households.setdefault(event.period_id, set()).add(event.household)
            elif isinstance(event, PeriodSettled):
                settled[event.period_id] = event
    periods = []
    for period_id in sorted(households):
        done = settled.get(period_id)
        deadline = state.grid.settlement_deadline(period_id, state.rules_of(period_id))
        periods.append(
            {
                "period_id": period_id,
                "start": state.grid.period_start(period_id),
                "end": state.grid.period_end(period_id),
                "settlement_deadline": deadline,
                "posting_households": len(households[period_id]),
                "state": "settled" if done else "pending",
                "delivered_wh": done.delivered_wh if done else None,
            }
        )
    return periods


def local_time(unix_seconds: int | None) -> str:
    """A block time in Europe/Brussels, for people."""
    if not unix_seconds:
        return "-"
    moment = datetime.fromtimestamp(unix_seconds, UTC).astimezone(LOCAL_ZONE)
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def price(units_per_kwh: int, decimals: int) -> str:
    return f"{Decimal(units_per_kwh).scaleb(-decimals):.4f} €/kWh"


def kwh(wh: int) -> str:
    return f"{Decimal(wh).scaleb(-3):.3f} kWh"


def render_text(status: dict[str, Any]) -> list[str]:
    """The status as lines for people."""
    decimals = int(status["community"]["token_decimals"])
    rules = status["rules"]

    def rule_line(r: dict[str, Any]) -> str:
        return (
            f"{r['mechanism']}, floor {price(r['price_floor_per_kwh'], decimals)}, ceiling "
            f"{price(r['price_ceiling_per_kwh'], decimals)}, community price "
            f"{price(r['community_price_per_kwh'], decimals)}, gate lead "
            f"{r['gate_lead_seconds']} s, settlement deadline "
            f"{r['settlement_deadline_seconds']} s, min entry {r['min_entry_wh']} Wh"
        )

    lines = [
        f"Community {status['community']['name'] or '(unnamed)'} on chain "
        f"{status['community']['chain_id']}, manager {status['community']['manager']}",
        f"Now {local_time(status['now'])}, period {status['current_period']}",
        f"Rules: {rule_line(rules['current'])}",
    ]
    for pending in rules["pending"]:
        lines.append(
            f"  from {local_time(pending['effective_from'])} (period "
            f"{pending['effective_from_period']}): {rule_line(pending['rules'])}"
        )
    lines.append(f"Members ({len(status['members'])}):")
    for member in status["members"]:
        left = f", removed {local_time(member['removed_at'])}" if member["removed_at"] else ""
        lines.append(
            f"  {member['name'] or member['address']} (EAN {member['ean'] or '?'}), "
            f"{member['address']}, admitted {local_time(member['admitted_at'])}{left}"
        )
    lines.append(f"Meters ({len(status['meters'])}):")
    for meter in status["meters"]:
        revoked = f", revoked {local_time(meter['revoked_at'])}" if meter["revoked_at"] else ""
        lines.append(
            f"  {meter['meter_id'][:18]}... of {meter['member'] or meter['address']}, "
            f"admitted {local_time(meter['admitted_at'])}{revoked}"
        )
    lines.append("Balances (wallet / escrow free / escrow locked):")
    for balance in status["balances"]:
        lines.append(
            f"  {balance['member'] or balance['address']}: "
            f"{euros(balance['wallet_units'], decimals)} / "
            f"{euros(balance['escrow_free_units'], decimals)} / "
            f"{euros(balance['escrow_locked_units'], decimals)}"
        )
    lines.append(f"Periods with postings ({len(status['periods'])}):")
    for period in status["periods"]:
        delivered = (
            f", {kwh(period['delivered_wh'])} delivered"
            if period["delivered_wh"] is not None
            else ""
        )
        lines.append(
            f"  {period['period_id']} from {local_time(period['start'])}: {period['state']}, "
            f"{period['posting_households']} households{delivered}"
        )
    return lines

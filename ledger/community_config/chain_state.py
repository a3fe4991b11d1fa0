"""What the chain says about a community now: its fixed grid, rules, members, meters and
allocation keys.

Members and meters are listed from the community's HouseholdAdmitted and MeterAdmitted
events (the contract has no enumeration), their current windows read from the contract, so
the state is the chain's alone: a run interrupted midway leaves nothing to remember.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.types import FilterParams, LogReceipt

from ledger.chain import Sender
from ledger.community import CommunityClient, MeterInfo, Window
from ledger.events_v2 import HouseholdAdmitted, MeterAdmitted, decode_log_v2
from ledger.rules import Rules, TimeGrid
from ledger.sharing_keys import ChainKey, SharingKeysClient

#: Blocks per eth_getLogs request (nodes cap a request's range).
LOG_CHUNK_BLOCKS = 10_000


@dataclass(frozen=True)
class ChainState:
    """The community as the chain records it."""

    manager: str
    grid: TimeGrid
    rule_change_delay_periods: int
    current_period: int
    #: Every rules change ever scheduled, oldest first: (effective period, rules).
    rules_history: tuple[tuple[int, Rules], ...]
    #: Household -> membership window, in admission order.
    members: dict[str, Window]
    #: Meter id -> record, in admission order.
    meters: dict[bytes, MeterInfo]
    #: QuartierSharingKeys's address; None for a deployment made before it existed.
    sharing_keys_address: str | None = None
    #: Every allocation key ever set there, by id, as each stands now: (id, key).
    sharing_keys: tuple[tuple[int, ChainKey], ...] = ()

    @property
    def latest_rules(self) -> Rules:
        """The rules every period from the last scheduled change on will have."""
        return self.rules_history[-1][1]

    def rules_now(self) -> Rules:
        """The rules of the current period."""
        return self.rules_of(self.current_period)

    def rules_of(self, period_id: int) -> Rules:
        """The rules of period `period_id` (the last change effective by then)."""
        return [rules for period, rules in self.rules_history if period <= period_id][-1]

    def pending_rules(self) -> list[tuple[int, Rules]]:
        """Scheduled changes not in force yet (the last per effective period)."""
        pending: dict[int, Rules] = {}
        for period, rules in self.rules_history:
            if period > self.current_period:
                pending[period] = rules
        return sorted(pending.items())


def read_state(
    sender: Sender,
    community_address: str,
    from_block: int,
    sharing_keys_address: str | None = None,
) -> ChainState:
    """Read the community at `community_address` from the chain (events from `from_block`),
    and its allocation keys at `sharing_keys_address` if it has that contract."""
    client = CommunityClient(sender, community_address)
    households: list[str] = []
    meter_ids: list[bytes] = []
    for log in _logs(sender.w3, client.address, from_block):
        event = decode_log_v2(client.contract, log)
        if isinstance(event, HouseholdAdmitted) and event.household not in households:
            households.append(event.household)
        elif isinstance(event, MeterAdmitted) and event.meter_id not in meter_ids:
            meter_ids.append(event.meter_id)
    return ChainState(
        manager=client.manager(),
        grid=client.time_grid(),
        rule_change_delay_periods=client.rule_change_delay_periods(),
        current_period=client.current_period(),
        rules_history=tuple(client.rules_history()),
        members={household: client.membership(household) for household in households},
        meters={meter_id: client.meter(meter_id) for meter_id in meter_ids},
        sharing_keys_address=sharing_keys_address,
        sharing_keys=_sharing_keys(sender, sharing_keys_address),
    )


def _sharing_keys(sender: Sender, address: str | None) -> tuple[tuple[int, ChainKey], ...]:
    if address is None:
        return ()
    return tuple(enumerate(SharingKeysClient(sender, address).history()))


def _logs(w3: Web3, address: str, from_block: int) -> list[LogReceipt]:
    latest = int(w3.eth.block_number)
    found: list[LogReceipt] = []
    for first in range(from_block, latest + 1, LOG_CHUNK_BLOCKS):
        params: FilterParams = {
            "address": Web3.to_checksum_address(address),
            "fromBlock": first,
            "toBlock": min(first + LOG_CHUNK_BLOCKS - 1, latest),
        }
        found.extend(w3.eth.get_logs(params))
    return found

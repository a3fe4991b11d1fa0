"""Typed client of QuartierCommunity (protocol v2): members, meters and rules with history.

Writes are the manager's (admissions, revocations, rule changes) and return the decoded
event; reverts come back as the named errors of IQuartierCommunity (`ledger.errors`).
Times are block times (unix seconds); whether a member or meter counts for an interval is
`Window.counts_for` (IQuartierCommunity, "Registry").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from web3 import Web3
from web3.contract import Contract

from ledger.chain import Sender, chain_call
from ledger.compiler import artifact
from ledger.errors import LedgerError
from ledger.events_v2 import (
    EventV2,
    HouseholdAdmitted,
    HouseholdRemoved,
    ManagementTransferred,
    MeterAdmitted,
    MeterRevoked,
    RulesScheduled,
    decode_receipt_v2,
    only,
)
from ledger.rules import Rules, TimeGrid

E = TypeVar("E")

#: The artifact name of the contract this module talks to.
CONTRACT_NAME = "QuartierCommunity"


@dataclass(frozen=True)
class Window:
    """From `admitted_at` until `removed_at` (0: still open), block times."""

    admitted_at: int
    removed_at: int = 0

    def counts_for(self, start: int, end: int) -> bool:
        """The registry's rule for interval [start, end): valid over the whole of it."""
        return (
            self.admitted_at != 0
            and self.admitted_at <= start
            and (self.removed_at == 0 or self.removed_at >= end)
        )


@dataclass(frozen=True)
class MeterInfo:
    """A meter as the community records it (household zero address: never admitted)."""

    meter_id: bytes
    household: str
    window: Window
    public_key_x: int
    public_key_y: int


def _fields(value: Any) -> tuple[Any, ...]:
    # web3.py decodes a struct either as a tuple or as a name -> value mapping.
    return tuple(value.values()) if isinstance(value, dict) else tuple(value)


class CommunityClient:
    """Reads the community; writes as `sender` (the manager for every write)."""

    def __init__(self, sender: Sender, address: str) -> None:
        self.sender = sender
        self.contract: Contract = sender.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact(CONTRACT_NAME).abi
        )

    @property
    def address(self) -> str:
        return str(self.contract.address)

    # ------------------------------------------------------------ writes (manager)

    def admit_household(self, household: str) -> HouseholdAdmitted:
        """Admit `household` from now on (an address is admitted at most once)."""
        return _one(
            self._send(self.contract.functions.admitHousehold(household)), HouseholdAdmitted
        )

    def remove_household(self, household: str) -> HouseholdRemoved:
        """End `household`'s membership now (its meters stop counting too)."""
        return _one(
            self._send(self.contract.functions.removeHousehold(household)), HouseholdRemoved
        )

    def admit_meter(self, household: str, public_key_x: int, public_key_y: int) -> MeterAdmitted:
        """Admit the P-256 key (x, y) as a meter of a member; `meter_id` is in the event."""
        fn = self.contract.functions.admitMeter(household, public_key_x, public_key_y)
        return _one(self._send(fn), MeterAdmitted)

    def revoke_meter(self, meter_id: bytes) -> MeterRevoked:
        """Revoke a meter now: it counts for no interval ending after this moment."""
        return _one(self._send(self.contract.functions.revokeMeter(meter_id)), MeterRevoked)

    def schedule_rules(self, rules: Rules) -> RulesScheduled:
        """Schedule `rules` from currentPeriod + ruleChangeDelayPeriods (in the event)."""
        fn = self.contract.functions.scheduleRules(rules.as_abi())
        return _one(self._send(fn), RulesScheduled)

    def transfer_management(self, new_manager: str) -> ManagementTransferred:
        """Hand the manager role over."""
        fn = self.contract.functions.transferManagement(new_manager)
        return _one(self._send(fn), ManagementTransferred)

    # ------------------------------------------------------------ reads

    def manager(self) -> str:
        return Web3.to_checksum_address(chain_call(self.contract.functions.manager()))

    def time_grid(self) -> TimeGrid:
        """The fixed interval and period lengths."""
        return TimeGrid(
            int(chain_call(self.contract.functions.intervalSeconds())),
            int(chain_call(self.contract.functions.periodIntervals())),
        )

    def rule_change_delay_periods(self) -> int:
        return int(chain_call(self.contract.functions.ruleChangeDelayPeriods()))

    def current_period(self) -> int:
        return int(chain_call(self.contract.functions.currentPeriod()))

    def rules_at(self, period_id: int) -> Rules:
        """The rules of period `period_id`."""
        return Rules.from_abi(_fields(chain_call(self.contract.functions.rulesAt(period_id))))

    def rules_history(self) -> list[tuple[int, Rules]]:
        """Every rules change ever scheduled, oldest first: (effective period, rules)."""
        periods, rules = chain_call(self.contract.functions.rulesHistory())
        return [
            (int(period), Rules.from_abi(_fields(raw)))
            for period, raw in zip(periods, rules, strict=True)
        ]

    def membership(self, household: str) -> Window:
        """The household's membership (admitted_at 0: never admitted)."""
        admitted_at, removed_at = _fields(chain_call(self.contract.functions.membership(household)))
        return Window(int(admitted_at), int(removed_at))

    def meter(self, meter_id: bytes) -> MeterInfo:
        """The community's record of a meter."""
        raw = _fields(chain_call(self.contract.functions.meter(meter_id)))
        household, admitted_at, revoked_at, x, y = raw
        return MeterInfo(
            meter_id,
            Web3.to_checksum_address(household),
            Window(int(admitted_at), int(revoked_at)),
            int(x),
            int(y),
        )

    def meters_of(self, household: str) -> list[bytes]:
        """The household's meters in admission order, revoked ones included."""
        return [bytes(m) for m in chain_call(self.contract.functions.metersOf(household))]

    def meter_id_of(self, public_key_x: int, public_key_y: int) -> bytes:
        return bytes(chain_call(self.contract.functions.meterIdOf(public_key_x, public_key_y)))

    # ------------------------------------------------------------ helpers

    def _send(self, fn: Any) -> list[EventV2]:
        return decode_receipt_v2(self.contract, self.sender.transact(fn))


def _one(events: list[EventV2], kind: type[E]) -> E:
    matching = only(events, kind)
    if len(matching) != 1:
        raise LedgerError(f"expected one {kind.__name__} event, got {len(matching)}")
    return matching[0]

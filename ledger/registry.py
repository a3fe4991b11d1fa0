"""Typed client of the CommunityRegistry: members and meters of one community."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from web3 import Web3
from web3.contract import Contract

from ledger.chain import Sender, chain_call
from ledger.compiler import artifact
from ledger.errors import LedgerError


class MeterStatus(IntEnum):
    """Mirror of ICommunityRegistry.MeterStatus."""

    UNKNOWN = 0
    ACTIVE = 1
    REVOKED = 2


@dataclass(frozen=True)
class MeterInfo:
    """A meter as the registry records it."""

    meter_id: bytes
    household: str
    status: MeterStatus
    public_key_x: int
    public_key_y: int


class RegistryClient:
    """Reads the registry; writes as `sender` (the community manager for admissions)."""

    def __init__(self, sender: Sender, address: str) -> None:
        self.sender = sender
        self.contract: Contract = sender.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact("CommunityRegistry").abi
        )

    def admit_household(self, household: str) -> None:
        """Admit a household (manager only)."""
        self.sender.transact(self.contract.functions.admitHousehold(household))

    def remove_household(self, household: str) -> None:
        """Remove a household with no active meter (manager only)."""
        self.sender.transact(self.contract.functions.removeHousehold(household))

    def admit_meter(self, household: str, public_key_x: int, public_key_y: int) -> bytes:
        """Admit a meter of a member household; returns the meter id from the event."""
        receipt = self.sender.transact(
            self.contract.functions.admitMeter(household, public_key_x, public_key_y)
        )
        events = self.contract.events.MeterAdmitted().process_receipt(receipt)
        if len(events) != 1:
            raise LedgerError("admitMeter succeeded without a MeterAdmitted event")
        return bytes(events[0]["args"]["meterId"])

    def revoke_meter(self, meter_id: bytes) -> None:
        """Revoke a meter for good (manager only)."""
        self.sender.transact(self.contract.functions.revokeMeter(meter_id))

    def transfer_management(self, new_manager: str) -> None:
        """Hand the manager role over (manager only)."""
        self.sender.transact(self.contract.functions.transferManagement(new_manager))

    def manager(self) -> str:
        return str(chain_call(self.contract.functions.manager()))

    def is_member(self, household: str) -> bool:
        return bool(chain_call(self.contract.functions.isMember(household)))

    def meter(self, meter_id: bytes) -> MeterInfo:
        """The registry's record of a meter (status UNKNOWN when never admitted)."""
        household, status = chain_call(self.contract.functions.meter(meter_id))
        x, y = chain_call(self.contract.functions.meterKey(meter_id))
        return MeterInfo(meter_id, str(household), MeterStatus(status), int(x), int(y))

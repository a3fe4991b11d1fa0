"""Who the member is, off chain: its name, EAN and supply contract.

From the community file (`community.toml`, `members[]` with `contract`) when one is given,
else from the directory that `quartier community deploy` keeps in the deployment file (name
and EAN only: it has no contract, so the statement then asks for the community file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from api.economics.tariff import Member
from api.statements.errors import StatementError, UnknownMemberError
from ledger.community_config.files import Directory
from ledger.community_config.model import load_config


@dataclass(frozen=True)
class MemberInfo:
    """The member as its statement names it."""

    address: str
    name: str
    ean: str
    region: str
    contract: Member
    community: str


def checked_address(text: str) -> str:
    """The checksum form of `text` (StatementError when it is no address)."""
    if not Web3.is_address(text):
        raise StatementError(f"--member: {text!r} is not an Ethereum address")
    return str(Web3.to_checksum_address(text))


def member_info(address: str, community_file: Path | None, directory: Directory) -> MemberInfo:
    """The member at `address` (UnknownMemberError when neither source names it)."""
    if community_file is not None:
        config = load_config(community_file)
        for entry in config.members:
            if entry.address.lower() != address.lower():
                continue
            if entry.contract is None:
                raise StatementError(
                    f"{community_file}: members.{entry.name}: no contract (dso, supply, "
                    "injection of the tariff file) to bill the month with"
                )
            contract = entry.contract
            return MemberInfo(
                address,
                entry.name,
                entry.ean,
                contract.region,
                Member(contract.dso, contract.supply, contract.injection, contract.in_building),
                config.name,
            )
        raise UnknownMemberError(f"unknown member {address}: not in {community_file}")
    if directory.member_name(address) is None:
        raise UnknownMemberError(
            f"unknown member {address}: not in the deployment file's directory"
            " (give --community community.toml)"
        )
    raise StatementError(
        f"member {address}: the deployment file has no supply contract for it: give"
        " --community community.toml (members[].contract)"
    )

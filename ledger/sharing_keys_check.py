"""`quartier dso check-keys --rpc URL --deployment FILE`: the allocation key read from the
chain (QuartierSharingKeys, by period) instead of the community file's [[sharing]].

The chain names a key's members by address; the community file or the deployment file's
directory says which member (name, EAN) each address is. A quarter-hour takes the key of the
period containing it (`keyAt(start // period length)`), read once per period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ledger.dso.errors import KeyConfigError
from ledger.dso.keys import AllocationKey
from ledger.dso.members import CommunityMembers
from ledger.errors import LedgerError, revert_class
from ledger.sharing_keys import SharingKeysClient


@dataclass
class ChainKeySource:
    """A check_keys KeySource over `addresses` (the members' addresses, community order)."""

    client: SharingKeysClient
    period_seconds: int
    addresses: Sequence[str]
    #: Period -> (key id, its rule, its members' positions), filled as periods are asked.
    by_period: dict[int, tuple[int, AllocationKey, tuple[int, ...]]] = field(default_factory=dict)

    def __call__(self, start: int) -> tuple[AllocationKey, Sequence[int] | None]:
        period = start // self.period_seconds
        if period not in self.by_period:
            self.by_period[period] = self._read(period)
        _, rule, positions = self.by_period[period]
        return rule, positions

    def used_keys(self) -> list[int]:
        """The ids of the chain's keys the check applied, in order."""
        return sorted({key_id for key_id, _, _ in self.by_period.values()})

    def _read(self, period: int) -> tuple[int, AllocationKey, tuple[int, ...]]:
        try:
            key_id, key = self.client.key_at(period)
        except revert_class("SharingKeysNoKeyInForce"):
            raise KeyConfigError(
                f"no allocation key on chain ({self.client.address}) holds for period {period}"
            ) from None
        at = {address.lower(): i for i, address in enumerate(self.addresses)}
        unknown = [member for member in key.members if member.lower() not in at]
        if unknown:
            raise KeyConfigError(
                f"the chain's key {key_id} shares with {unknown[0]}, no member the community"
                " or deployment file knows"
            )
        return key_id, key.rule(), tuple(at[member.lower()] for member in key.members)


def key_source_on_chain(
    rpc: str, deployment_path: Path, community_path: Path | None
) -> tuple[CommunityMembers, ChainKeySource, str]:
    """The members (from `community_path`, else the deployment file's directory), the chain's
    keys over them, and what to say of where the key came from; KeyConfigError (exit 2) when
    the chain or a file cannot be read."""
    import requests
    from web3.exceptions import Web3Exception

    from ledger.accounts import ANVIL_DEV_KEY, account_from_key
    from ledger.chain import Sender, connect
    from ledger.community import CommunityClient
    from ledger.community_config.files import load_deployment_file

    try:
        deployment, directory = load_deployment_file(deployment_path)
        if community_path is not None:
            from ledger.community_config.model import load_config

            config = load_config(community_path)
            people = [(m.name, m.ean, m.address) for m in config.members]
        else:
            people = [
                (str(entry.get("name", address)), str(entry["ean"]), address)
                for address, entry in directory.members.items()
                if entry.get("ean")
            ]
        if not people:
            raise KeyConfigError(
                f"{deployment_path} names no member's EAN: give the community file with --community"
            )
        w3 = connect(rpc)
        deployment.check_chain(w3)
        # Reads only: any account will do as the sender of calls.
        sender = Sender(w3, account_from_key(ANVIL_DEV_KEY))
        address = deployment.address("QuartierSharingKeys")
        client = SharingKeysClient(sender, address)
        grid = CommunityClient(sender, deployment.address("QuartierCommunity")).time_grid()
    except KeyConfigError:
        raise
    except (LedgerError, OSError) as error:
        raise KeyConfigError(f"cannot read the key from the chain: {error}") from None
    except (requests.RequestException, Web3Exception) as error:
        raise KeyConfigError(
            f"cannot read the key from the chain: {type(error).__name__}: {error}"
        ) from None
    names, eans, addresses = (tuple(column) for column in zip(*people, strict=True))
    members = CommunityMembers(names, eans, ())
    source = ChainKeySource(client, grid.interval_seconds * grid.period_intervals, addresses)
    return members, source, f"key from the chain: QuartierSharingKeys {address}"

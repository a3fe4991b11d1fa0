"""Typed client of QuartierSharingKeys (protocol v2): the community's CWaPE allocation keys on
chain, their validity by period, and the contract's own computation of the rule.

The rule is ledger.dso.keys's (IQuartierSharingKeys states it the same); a key on chain names
its members by address, in the order ties break to, and holds for periods. community.toml's
`[[sharing]]` keys hold for Brussels dates: a key from date d holds from the first period that
starts at or after Brussels midnight of d, until the period before the one of the day after
its last date. Consecutive dates thus give consecutive periods (no gap, no overlap); with
daily UTC periods, a Brussels day's first hour or two fall in the previous UTC day's period,
which keeps the previous key (the chain shares by period, the operator by local day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from web3 import Web3
from web3.contract import Contract

from ledger.chain import Sender, chain_call
from ledger.community_config.sharing import SharingEntry
from ledger.compiler import artifact
from ledger.deploy import deploy_contract
from ledger.dso.calendar import BRUSSELS
from ledger.dso.errors import KeyConfigError
from ledger.dso.keys import AllocationKey, KeyRule

#: The artifact name of the contract this module talks to.
CONTRACT_NAME = "QuartierSharingKeys"
#: validUntilPeriod of a key with no end.
NO_END = 2**64 - 1
#: KeyRule as the contract numbers it (types/SharingKey.sol).
RULE_CODES: dict[KeyRule, int] = {KeyRule.EQUAL: 0, KeyRule.FIXED: 1, KeyRule.PRO_RATA: 2}
_RULES_BY_CODE = {code: rule for rule, code in RULE_CODES.items()}


@dataclass(frozen=True)
class ChainKey:
    """A key as the contract holds it: periods from `valid_from_period` to
    `valid_until_period` (both included; None: no end), members by address."""

    valid_from_period: int
    valid_until_period: int | None
    cascade: tuple[KeyRule, ...]
    members: tuple[str, ...]
    shares_bp: tuple[int, ...] = ()

    def holds_for(self, period: int) -> bool:
        until = NO_END if self.valid_until_period is None else self.valid_until_period
        return self.valid_from_period <= period <= until

    def rule(self) -> AllocationKey:
        """The rule alone, for ledger.dso.keys.allocate (the validity is the chain's, by
        period: the dates say nothing)."""
        return AllocationKey(date.min, None, self.cascade, self.shares_bp)

    def as_abi(self) -> tuple[Any, ...]:
        until = NO_END if self.valid_until_period is None else self.valid_until_period
        return (
            self.valid_from_period,
            until,
            [RULE_CODES[rule] for rule in self.cascade],
            [Web3.to_checksum_address(member) for member in self.members],
            list(self.shares_bp),
        )

    @classmethod
    def from_abi(cls, raw: Any) -> ChainKey:
        fields = tuple(raw.values()) if isinstance(raw, dict) else tuple(raw)
        valid_from, valid_until, cascade, members, shares = fields
        return cls(
            int(valid_from),
            None if int(valid_until) == NO_END else int(valid_until),
            tuple(_RULES_BY_CODE[int(code)] for code in cascade),
            tuple(Web3.to_checksum_address(member) for member in members),
            tuple(int(share) for share in shares),
        )


def first_period_of(day: date, period_seconds: int) -> int:
    """The first period starting at or after Brussels midnight of `day`."""
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=BRUSSELS).timestamp())
    return -(-midnight // period_seconds)


def chain_key_of(
    entry: SharingEntry, members: Sequence[tuple[str, str]], period_seconds: int
) -> ChainKey:
    """The chain's form of a `[[sharing]]` entry over `members` ((name, address), the
    community file's order); KeyConfigError when its dates cover no whole period."""
    key = entry.key([name for name, _ in members])
    start = first_period_of(entry.valid_from, period_seconds)
    until = (
        None
        if entry.valid_until is None
        else first_period_of(entry.valid_until + timedelta(days=1), period_seconds) - 1
    )
    if until is not None and until < start:
        raise KeyConfigError(
            f"the key valid from {entry.valid_from} to {entry.valid_until} covers no whole"
            f" period of {period_seconds} s"
        )
    return ChainKey(start, until, key.cascade, tuple(a for _, a in members), key.shares_bp)


def deploy_sharing_keys(
    sender: Sender, community: str, keys: Sequence[ChainKey]
) -> tuple[str, int]:
    """Deploy QuartierSharingKeys bound to `community` with `keys`; address and block."""
    return deploy_contract(
        sender,
        CONTRACT_NAME,
        Web3.to_checksum_address(community),
        [key.as_abi() for key in keys],
    )


class SharingKeysClient:
    """Reads the keys; writes as `sender` (the community's manager for every write)."""

    def __init__(self, sender: Sender, address: str) -> None:
        self.sender = sender
        self.contract: Contract = sender.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact(CONTRACT_NAME).abi
        )

    @property
    def address(self) -> str:
        return str(self.contract.address)

    # ------------------------------------------------------------ writes (manager)

    def schedule_key(self, key: ChainKey) -> int:
        """Set `key` (from earliest_change_period() on at the earliest); its id."""
        receipt = self.sender.transact(self.contract.functions.scheduleKey(key.as_abi()))
        (event,) = self.contract.events.KeyScheduled().process_receipt(receipt)
        return int(event["args"]["keyId"])

    def end_key_from(self, key_id: int, period: int) -> int:
        """Key `key_id` no longer holds from `period` on; its last period now."""
        receipt = self.sender.transact(self.contract.functions.endKeyFrom(key_id, period))
        (event,) = self.contract.events.KeyEnded().process_receipt(receipt)
        return int(event["args"]["validUntilPeriod"])

    # ------------------------------------------------------------ reads

    def community(self) -> str:
        return Web3.to_checksum_address(chain_call(self.contract.functions.community()))

    def earliest_change_period(self) -> int:
        return int(chain_call(self.contract.functions.earliestChangePeriod()))

    def key_count(self) -> int:
        return int(chain_call(self.contract.functions.keyCount()))

    def key_by_id(self, key_id: int) -> ChainKey:
        return ChainKey.from_abi(chain_call(self.contract.functions.keyById(key_id)))

    def history(self) -> list[ChainKey]:
        """Every key ever set, by id (as each stands now)."""
        return [self.key_by_id(key_id) for key_id in range(self.key_count())]

    def key_at(self, period: int) -> tuple[int, ChainKey]:
        """The key holding for `period` and its id (SharingKeysNoKeyInForce if none)."""
        key_id, raw = chain_call(self.contract.functions.keyAt(period))
        return int(key_id), ChainKey.from_abi(raw)

    def key_at_time(self, unix_seconds: int) -> tuple[int, ChainKey]:
        key_id, raw = chain_call(self.contract.functions.keyAtTime(unix_seconds))
        return int(key_id), ChainKey.from_abi(raw)

    def allocate(
        self, key: ChainKey, production_wh: Sequence[int], consumption_wh: Sequence[int]
    ) -> tuple[list[int], list[int]]:
        """The contract's computation: (received, shared) per member of `key`."""
        fn = self.contract.functions.allocate(
            key.as_abi(), list(production_wh), list(consumption_wh)
        )
        received, shared = chain_call(fn)
        return [int(wh) for wh in received], [int(wh) for wh in shared]

    def allocate_at(
        self, period: int, production_wh: Sequence[int], consumption_wh: Sequence[int]
    ) -> tuple[list[int], list[int]]:
        fn = self.contract.functions.allocateAt(period, list(production_wh), list(consumption_wh))
        received, shared = chain_call(fn)
        return [int(wh) for wh in received], [int(wh) for wh in shared]

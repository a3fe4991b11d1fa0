"""The changes that bring the chain to the file: pure, from a ChainState and a CommunityFile.

Order matters and is fixed: admit new members, register their meters, revoke meters the file
dropped, remove members the file dropped (removal revokes their meters too, so those are not
revoked twice), then schedule the rules if the file's differ from the last scheduled ones
(they take effect after the contract's delay, so a rerun sees them scheduled and plans
nothing), then the allocation keys' ends and new keys (`sharing_plan`). What the chain fixed
for ever is refused, before anything is sent: another time grid or delay, a removed member or
revoked meter listed again, a meter moved to another member, an allocation key changed before
the earliest period a change may touch.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.community_config.chain_state import ChainState
from ledger.community_config.errors import ChainConflictError
from ledger.community_config.model import CommunityFile
from ledger.community_config.sharing_plan import (
    EndSharingKey,
    ScheduleSharingKey,
    plan_sharing,
)
from ledger.rules import Rules
from metering.reading import PublicKey, meter_id_of


@dataclass(frozen=True)
class AdmitMember:
    name: str
    address: str


@dataclass(frozen=True)
class RemoveMember:
    name: str | None
    address: str


@dataclass(frozen=True)
class RegisterMeter:
    member: str
    address: str
    meter_id: bytes
    public_key_x: int
    public_key_y: int


@dataclass(frozen=True)
class RevokeMeter:
    member: str | None
    meter_id: bytes


@dataclass(frozen=True)
class ScheduleRules:
    rules: Rules


Change = (
    AdmitMember
    | RemoveMember
    | RegisterMeter
    | RevokeMeter
    | ScheduleRules
    | EndSharingKey
    | ScheduleSharingKey
)


def check_fixed(config: CommunityFile, state: ChainState, source: str) -> None:
    """Refuse a file whose deployment-time values differ from the chain's."""
    time = config.time
    fixed = {
        "time.interval_seconds": (time.interval_seconds, state.grid.interval_seconds),
        "time.period_intervals": (time.period_intervals, state.grid.period_intervals),
        "time.rule_change_delay_periods": (
            time.rule_change_delay_periods,
            state.rule_change_delay_periods,
        ),
    }
    for key, (wanted, actual) in fixed.items():
        if wanted != actual:
            raise ChainConflictError(
                f"{source}: {key}: is {wanted} but the deployed community has {actual}, "
                "fixed at deployment"
            )


def plan(config: CommunityFile, state: ChainState, source: str = "community.toml") -> list[Change]:
    """The changes, in the order they are sent; [] when the chain already matches."""
    check_fixed(config, state, source)
    sharing = plan_sharing(config, state, source)  # refused before anything else is planned
    by_address = {member.address.lower(): member for member in config.members}
    on_chain = {address.lower(): window for address, window in state.members.items()}
    changes: list[Change] = []
    for member in config.members:
        window = on_chain.get(member.address.lower())
        if window is None:
            changes.append(AdmitMember(member.name, member.address))
        elif window.removed_at != 0:
            raise ChainConflictError(
                f"{source}: members: {member.name} ({member.address}) was removed; "
                "an address is admitted at most once"
            )
    wanted_meters: set[bytes] = set()
    for meter in config.meters:
        meter_id = meter_id_of(PublicKey(meter.x, meter.y))
        wanted_meters.add(meter_id)
        owner = config.member_named(meter.member)
        info = state.meters.get(meter_id)
        if info is None:
            changes.append(RegisterMeter(owner.name, owner.address, meter_id, meter.x, meter.y))
        elif info.household.lower() != owner.address.lower():
            raise ChainConflictError(
                f"{source}: meters: meter 0x{meter_id.hex()} belongs to {info.household} "
                f"on chain, for ever, not to {owner.name}"
            )
        elif info.window.removed_at != 0:
            raise ChainConflictError(
                f"{source}: meters: meter 0x{meter_id.hex()} of {owner.name} was revoked; "
                "a key is never admitted again"
            )
    leaving = {
        address
        for address, window in on_chain.items()
        if window.removed_at == 0 and address not in by_address
    }
    for meter_id, info in state.meters.items():
        household = info.household.lower()
        if meter_id in wanted_meters or info.window.removed_at != 0 or household in leaving:
            continue
        keeper = by_address.get(household)
        changes.append(RevokeMeter(keeper.name if keeper else None, meter_id))
    for address in state.members:
        if address.lower() in leaving:
            changes.append(RemoveMember(None, address))
    rules = config.rules.rules()
    if rules != state.latest_rules:
        changes.append(ScheduleRules(rules))
    changes.extend(sharing)
    return changes

"""The changes that bring the chain's allocation keys (QuartierSharingKeys) to `[[sharing]]`.

Keys are compared period by period, never key by key, so a key split in two on chain and
whole in the file is no difference, and a re-run after the changes were sent plans nothing.
From the chain's earliest change period E (currentPeriod + ruleChangeDelayPeriods) on, a
chain key the file no longer wants from some period p is ended from p (`endKeyFrom`), and
whatever the file wants that the chain's remaining keys do not hold is scheduled
(`scheduleKey`). Before E nothing can change: a file that differs there is refused. There
the keys are compared by rule and shares per address only, not by their member lists, so
that admitting or removing a member (which changes the member list of every key the file
writes) replaces the key from E on instead of being refused for the past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.community_config.chain_state import ChainState
from ledger.community_config.errors import ChainConflictError, ConfigRefusedError
from ledger.community_config.model import CommunityFile
from ledger.dso.errors import KeyConfigError
from ledger.sharing_keys import ChainKey, chain_key_of

#: A period past every key's end: stands for "no end".
_NEVER = 2**64


@dataclass(frozen=True)
class EndSharingKey:
    """Key `key_id` no longer holds from `from_period` on (`endKeyFrom`)."""

    key_id: int
    from_period: int


@dataclass(frozen=True)
class ScheduleSharingKey:
    """Set `key`, the part of the file's `sharing[entry]` the chain lacks (`scheduleKey`)."""

    entry: int
    key: ChainKey


SharingChange = EndSharingKey | ScheduleSharingKey


def _until(key: ChainKey) -> int:
    return _NEVER if key.valid_until_period is None else key.valid_until_period


def _strict(key: ChainKey) -> tuple[object, ...]:
    return (key.cascade, tuple(m.lower() for m in key.members), key.shares_bp)


def _by_address(key: ChainKey) -> tuple[object, ...]:
    # Shares are one per member for a fixed key, none otherwise (zip stops at once).
    shares = sorted(
        (m.lower(), bp) for m, bp in zip(key.members, key.shares_bp, strict=False) if bp
    )
    return (key.cascade, tuple(shares))


def _at(keys: Sequence[ChainKey], period: int) -> ChainKey | None:
    return next((key for key in keys if key.valid_from_period <= period <= _until(key)), None)


def _edges(keys: Sequence[ChainKey]) -> set[int]:
    # Every period where a key starts or where one has just ended: content changes only there.
    return {key.valid_from_period for key in keys} | {_until(key) + 1 for key in keys}


def file_keys(config: CommunityFile, source: str) -> list[ChainKey]:
    """The file's `[[sharing]]` in the chain's form (by period, members by address)."""
    members = [(member.name, member.address) for member in config.members]
    keys: list[ChainKey] = []
    for index, entry in enumerate(config.sharing):
        try:
            keys.append(chain_key_of(entry, members, config.time.period_seconds))
        except KeyConfigError as error:
            raise ConfigRefusedError(f"{source}: sharing[{index}]: {error}") from None
    return keys


def plan_sharing(
    config: CommunityFile, state: ChainState, source: str = "community.toml"
) -> list[SharingChange]:
    """The ends, then the new keys; [] when the chain's keys already match the file's."""
    if state.sharing_keys_address is None:
        if config.sharing:
            raise ChainConflictError(
                f"{source}: sharing: the deployment has no QuartierSharingKeys to hold the keys"
            )
        return []
    wanted = file_keys(config, source)
    chain = [
        (key_id, key)
        for key_id, key in state.sharing_keys
        if _until(key) >= key.valid_from_period  # a withdrawn key holds for no period
    ]
    earliest = state.current_period + state.rule_change_delay_periods
    _refuse_early_edits(config, wanted, [key for _, key in chain], state, earliest, source)
    ends: list[SharingChange] = []
    kept: list[tuple[int, int]] = []
    for key_id, key in chain:
        start = max(key.valid_from_period, earliest)
        if _until(key) < start:
            continue
        points = sorted(p for p in _edges(wanted) | {start} if start <= p <= _until(key))
        differs = next((p for p in points if _strict_or_none(_at(wanted, p)) != _strict(key)), None)
        if differs is None:
            kept.append((start, _until(key)))
        else:
            ends.append(EndSharingKey(key_id, differs))
            if differs > start:
                kept.append((start, differs - 1))
    schedules: list[ScheduleSharingKey] = []
    for index, key in enumerate(wanted):
        first = max(key.valid_from_period, earliest)
        for low, high in _uncovered(first, _until(key), sorted(kept)):
            until = None if high == _NEVER else high
            new = ChainKey(low, until, key.cascade, key.members, key.shares_bp)
            schedules.append(ScheduleSharingKey(index, new))
    schedules.sort(key=lambda change: change.key.valid_from_period)
    return [*ends, *schedules]


def _strict_or_none(key: ChainKey | None) -> tuple[object, ...] | None:
    return None if key is None else _strict(key)


def _uncovered(low: int, high: int, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # [low, high] less the sorted, disjoint `covered` ranges.
    parts: list[tuple[int, int]] = []
    for first, last in covered:
        if last < low or first > high:
            continue
        if first > low:
            parts.append((low, first - 1))
        low = last + 1
    if low <= high:
        parts.append((low, high))
    return parts


def _refuse_early_edits(
    config: CommunityFile,
    wanted: list[ChainKey],
    chain: list[ChainKey],
    state: ChainState,
    earliest: int,
    source: str,
) -> None:
    points = sorted(p for p in _edges(wanted) | _edges(chain) | {0} if p < earliest)
    for period in points:
        mine, theirs = _at(wanted, period), _at(chain, period)
        if (mine and _by_address(mine)) == (theirs and _by_address(theirs)):
            continue
        day = datetime.fromtimestamp(state.grid.period_start(period), UTC).date()
        if mine is not None:
            index = wanted.index(mine)
            what = f"sharing[{index}]: the key valid from {config.sharing[index].valid_from}"
        else:
            assert theirs is not None
            what = f"sharing: ending the chain's key valid from period {theirs.valid_from_period}"
        raise ChainConflictError(
            f"{source}: {what} changes period {period} (from {day} UTC); the earliest period "
            f"a change may touch is {earliest} (current period {state.current_period} + "
            f"rule_change_delay_periods {state.rule_change_delay_periods})"
        )

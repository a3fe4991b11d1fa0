"""The exactness check: the community's key applied to the operator's gross volumes, against
the shared volumes the operator computed (`Brut Rep` -> key -> `Partagé Rep`).

Members are taken in the community file's order (the key's tie-break order); a member with
no column in a sheet has 0 Wh there; EANs of the workbook that are no member's are reported
and take no part (the operator should not have shared with them).

The key comes from the community file (by Brussels date) unless a `KeySource` is given:
ledger.sharing_keys_check reads it from the chain (by period), over the members it names
(in its order; members it does not name take no part).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ledger.dso.calendar import local_wall_time
from ledger.dso.errors import KeyConfigError
from ledger.dso.keys import AllocationKey, allocate, key_in_force
from ledger.dso.members import CommunityMembers
from ledger.dso.workbook import GROSS, SHARED, Direction, IntArray, MonthData, Sheet


@dataclass(frozen=True)
class KeyDifference:
    """One member's shared volume in one quarter-hour: the operator's and the key's."""

    interval_start: int
    ean: str
    member: str
    direction: Direction
    dso_wh: int
    computed_wh: int


@dataclass(frozen=True)
class KeyCheck:
    """Every difference, and how many quarter-hours were checked and differ."""

    quarter_hours: int
    differences: tuple[KeyDifference, ...]
    unknown_eans: tuple[str, ...]

    @property
    def differing_quarter_hours(self) -> int:
        return len({d.interval_start for d in self.differences})


def _matrix(sheet: Sheet, eans: Sequence[str], direction: Direction, rows: int) -> IntArray:
    out = np.zeros((rows, len(eans)), dtype=np.int64)
    for at, ean in enumerate(eans):
        series = sheet.series(ean, direction)
        if series is not None:
            out[:, at] = series
    return out


#: The key of the quarter-hour starting at a unix time, and the positions (community order) of
#: the members it shares among, in the key's order (None: every member, in the same order).
KeySource = Callable[[int], tuple[AllocationKey, Sequence[int] | None]]


def file_key_source(community: CommunityMembers) -> KeySource:
    """The community file's keys, by the quarter-hour's Brussels date, over every member."""
    if not community.sharing:
        raise KeyConfigError("the community file names no allocation key ([[sharing]])")
    keys = community.keys()
    return lambda start: (key_in_force(keys, local_wall_time(start).date()), None)


def _allocated(
    key: AllocationKey, positions: Sequence[int] | None, offtake: list[int], injection: list[int]
) -> tuple[Sequence[int], Sequence[int]]:
    if positions is None:
        allocation = allocate(key, offtake, injection)
        return allocation.received_wh, allocation.shared_injection_wh
    allocation = allocate(key, [offtake[i] for i in positions], [injection[i] for i in positions])
    received, shared = [0] * len(offtake), [0] * len(offtake)
    for at, i in enumerate(positions):
        received[i] = allocation.received_wh[at]
        shared[i] = allocation.shared_injection_wh[at]
    return received, shared


def check_keys(
    month: MonthData, community: CommunityMembers, key_source: KeySource | None = None
) -> KeyCheck:
    """Recompute `Partagé Rep` from `Brut Rep` with the community's key (the file's unless
    `key_source` is given)."""
    key_for = file_key_source(community) if key_source is None else key_source
    names, eans = list(community.names), list(community.eans)
    rows = len(month.starts)
    gross, shared = month.sheets[GROSS], month.sheets[SHARED]
    offtake = _matrix(gross, eans, Direction.OFFTAKE, rows).tolist()
    injection = _matrix(gross, eans, Direction.INJECTION, rows).tolist()
    received = _matrix(shared, eans, Direction.OFFTAKE, rows).tolist()
    given = _matrix(shared, eans, Direction.INJECTION, rows).tolist()
    differences: list[KeyDifference] = []
    for row, start in enumerate(month.starts):
        key, positions = key_for(start)
        if not any(injection[row]):
            computed_in: Sequence[int] = [0] * len(eans)
            computed_out: Sequence[int] = computed_in
        else:
            computed_in, computed_out = _allocated(key, positions, offtake[row], injection[row])
        for direction, dso, computed in (
            (Direction.OFFTAKE, received[row], computed_in),
            (Direction.INJECTION, given[row], computed_out),
        ):
            if dso == list(computed):
                continue
            for at, (theirs, ours) in enumerate(zip(dso, computed, strict=True)):
                if theirs != ours:
                    differences.append(
                        KeyDifference(start, eans[at], names[at], direction, theirs, ours)
                    )
    known = set(eans)
    unknown = tuple(ean for ean in month.eans() if ean not in known)
    return KeyCheck(rows, tuple(differences), unknown)

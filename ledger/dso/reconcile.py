"""The operator's gross volumes against the meters' signed batches on chain.

Per member (EAN), quarter-hour and direction: the operator's `Brut Rep` figure against the
energy between the meter's signed boundary registers (a batch's delta for that interval,
summed over the member's meters that count for it: offtake = import, injection = export).
A difference above the tolerance is listed with its likely cause, in this order:
- `missing signed readings`: no meter of the member counting then has an accepted batch
  for the interval (the chain measures 0 Wh there);
- `meter replaced`: a meter of the member was admitted or revoked during that period (first
  when no meter counts for the quarter-hour: the one between the old meter's revocation and
  the new one's admission);
- `estimated value`: the batches are there and agree with the operator over the whole
  period (chain day), not quarter-hour by quarter-hour: the operator spread its own
  register difference over a profile (an estimate);
- `unexplained`: none of those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ledger.dso.calendar import QUARTER_HOUR_SECONDS
from ledger.dso.errors import ReconcileError
from ledger.dso.workbook import GROSS, Direction, IntArray, MonthData

if TYPE_CHECKING:  # the reader imports web3 (~2 s of CPU): `dso import` never needs it
    from ledger.dso.chain_meters import ChainMeters

MISSING, REPLACED, ESTIMATED, UNEXPLAINED = (
    "missing signed readings",
    "meter replaced",
    "estimated value",
    "unexplained",
)
_DIRECTIONS = (Direction.OFFTAKE, Direction.INJECTION)


@dataclass(frozen=True)
class Member:
    """A member as the community's directory knows it."""

    name: str
    ean: str
    address: str


@dataclass(frozen=True)
class Difference:
    """One quarter-hour where the operator and the signed meters disagree."""

    ean: str
    member: str
    interval_start: int
    direction: Direction
    dso_wh: int
    metered_wh: int
    cause: str

    @property
    def difference_wh(self) -> int:
        return self.dso_wh - self.metered_wh


@dataclass(frozen=True)
class MemberTotals:
    """A member's month: the operator's and the meters' Wh per direction."""

    member: Member
    dso_wh: dict[Direction, int]
    metered_wh: dict[Direction, int]
    differences: int


@dataclass(frozen=True)
class Reconciliation:
    """The whole comparison of one month."""

    month: str
    tolerance_wh: int
    quarter_hours: int
    differences: tuple[Difference, ...]
    totals: tuple[MemberTotals, ...]
    unknown_eans: tuple[str, ...]
    members_without_columns: tuple[str, ...]

    @property
    def agree(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class _Metered:
    wh: IntArray  # (rows, 2): import, export
    covered: np.ndarray  # (rows,) bool: a counting meter had a batch
    counting: np.ndarray  # (rows,) bool: some meter of the member counts
    replaced: np.ndarray  # (rows,) bool: a meter changed during the row's period


def _metered(chain: ChainMeters, address: str, starts: np.ndarray) -> _Metered:
    grid = chain.grid
    rows = len(starts)
    wh = np.zeros((rows, 2), dtype=np.int64)
    covered = np.zeros(rows, dtype=bool)
    counting = np.zeros(rows, dtype=bool)
    replaced = np.zeros(rows, dtype=bool)
    intervals = starts // grid.interval_seconds
    periods = intervals // grid.period_intervals
    for meter_id in chain.meters_of.get(address.lower(), []):
        window = chain.windows[meter_id]
        counts = starts >= window.admitted_at
        if window.removed_at:
            counts &= starts + grid.interval_seconds <= window.removed_at
        counting |= counts
        for moment in (window.admitted_at, window.removed_at):
            if moment:
                replaced |= periods == grid.period_at(moment)
        for period_id in np.unique(periods).tolist():
            batch = chain.batches.get((meter_id, int(period_id)))
            if batch is None:
                continue
            rows_of = np.nonzero((periods == period_id) & counts)[0]
            offsets = intervals[rows_of] - grid.first_interval(int(period_id))
            wh[rows_of] += batch.deltas[offsets]
            covered[rows_of] = True
    return _Metered(wh, covered, counting, replaced)


def reconcile(
    month: MonthData, chain: ChainMeters, members: Sequence[Member], tolerance_wh: int = 0
) -> Reconciliation:
    """Compare the month's `Brut Rep` with the chain's batches (see the module docstring)."""
    if chain.grid.interval_seconds != QUARTER_HOUR_SECONDS:
        raise ReconcileError(
            f"the community's intervals are {chain.grid.interval_seconds} s; the operator's"
            f" volumes are per quarter-hour ({QUARTER_HOUR_SECONDS} s)"
        )
    if tolerance_wh < 0:
        raise ReconcileError("the tolerance is a non-negative number of Wh")
    gross = month.sheets[GROSS]
    starts = np.array(month.starts, dtype=np.int64)
    periods = starts // chain.grid.interval_seconds // chain.grid.period_intervals
    differences: list[Difference] = []
    totals: list[MemberTotals] = []
    without: list[str] = []
    for member in members:
        series = {d: gross.series(member.ean, d) for d in _DIRECTIONS}
        if all(s is None for s in series.values()):
            without.append(member.ean)
        metered = _metered(chain, member.address, starts)
        count = 0
        for column, direction in enumerate(_DIRECTIONS):
            dso = series[direction]
            if dso is None:
                dso = np.zeros(len(starts), dtype=np.int64)
            ours = metered.wh[:, column]
            gap = dso - ours
            for row in np.nonzero(np.abs(gap) > tolerance_wh)[0].tolist():
                period = periods[row]
                same_period = periods == period
                if metered.replaced[row] and not metered.counting[row]:
                    cause = REPLACED  # between the old meter's revocation and the new one
                elif not metered.covered[row]:
                    cause = MISSING
                elif metered.replaced[row]:
                    cause = REPLACED
                elif abs(int(gap[same_period].sum())) <= tolerance_wh:
                    cause = ESTIMATED
                else:
                    cause = UNEXPLAINED
                differences.append(
                    Difference(
                        member.ean,
                        member.name,
                        int(starts[row]),
                        direction,
                        int(dso[row]),
                        int(ours[row]),
                        cause,
                    )
                )
                count += 1
        totals.append(
            MemberTotals(
                member,
                {d: int(s.sum()) if s is not None else 0 for d, s in series.items()},
                {d: int(metered.wh[:, c].sum()) for c, d in enumerate(_DIRECTIONS)},
                count,
            )
        )
    known = {member.ean for member in members}
    unknown = tuple(ean for ean in month.eans() if ean not in known)
    differences.sort(key=lambda d: (d.interval_start, d.ean, d.direction.value))
    return Reconciliation(
        month.month_text,
        tolerance_wh,
        len(month.starts),
        tuple(differences),
        tuple(totals),
        unknown,
        tuple(without),
    )

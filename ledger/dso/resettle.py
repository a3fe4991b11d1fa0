"""Re-settlement on the grid operator's volumes (IQuartierSettlementVersions), pure.

For a settled period P, the settlement's own input (the households, their postings and
their meters' signed deltas, from the `settlePeriod` calldata) is settled again with, for
every quarter-hour the workbook holds, the operator's gross volumes (`Brut Rep`: offtake as
import, injection as export) in place of the member's meters; quarter-hours outside the
workbook (the first UTC day of a Brussels month starts an hour or two before it) keep the
meters'. Version 1 (the chain's settlement) is replayed first and must equal the chain's
HouseholdSettled figures, else nothing is computed. The differences become the next
version's lines by the interface's rounding: C_h = net'_h - net1_h milli-units,
U_h = floor(C_h / 1000), the R = -Σ U_h units left 1 each to the largest remainders
(ties: ascending address), minus what earlier versions already recorded.

The settlement rule is injected (`ResettleRule`): `ledger` must not import `api.settlement`;
the composition roots (`api/dso_cli.py`, `api/audit_cli.py`) pass the engine.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from ledger.audit.history import History, SettleCall
from ledger.audit.rule import RuleHousehold, RuleMeter
from ledger.audit.versions import RecordedVersion, VersionLine
from ledger.community import Window
from ledger.dso.errors import DsoError
from ledger.dso.workbook import GROSS, Direction, MonthData
from ledger.events_v2 import HouseholdSettled, PeriodSettled
from ledger.exchange import MeterSource
from ledger.rules import Rules, TimeGrid

_PAIR = struct.Struct(">II")
#: A window that counts for every interval: the operator's volumes are the household's.
_ALWAYS = Window(1, 0)


class ResettleError(DsoError):
    """Nothing can be re-settled: the chain's settlement does not replay, a settled member has
    no EAN or no column in the workbook, or the chain refused the version (exit 2)."""


@dataclass(frozen=True)
class Figures:
    """One household's outcome of a settlement, with its exact net in milli-units."""

    address: str
    delivered_wh: int
    received_wh: int
    net_milli: int
    change_units: int


#: (rules of P, grid, P, households) -> each household's figures (the settlement engine).
ResettleRule = Callable[[Rules, TimeGrid, int, Sequence[RuleHousehold]], Sequence[Figures]]


@dataclass(frozen=True)
class SettledPeriod:
    """A period the exchange settled: its input as supplied and its recorded outcome."""

    period_id: int
    rules: Rules
    households: tuple[RuleHousehold, ...]
    settled: tuple[HouseholdSettled, ...]


def _rules_at(history: History, period_id: int) -> Rules:
    applying = [rules for start, rules in history.state.rules_history if start <= period_id]
    if not applying:
        raise ResettleError(f"period {period_id} has no rules on chain")
    return applying[-1]


def settled_periods(history: History) -> dict[int, SettledPeriod]:
    """Every settled period of `history` whose settlement calldata is readable."""
    found: dict[int, SettledPeriod] = {}
    state = history.state
    settled_by_tx: dict[bytes, list[HouseholdSettled]] = {}
    for logged in history.exchange_events:
        if isinstance(logged.event, HouseholdSettled):
            settled_by_tx.setdefault(logged.tx_hash, []).append(logged.event)
    for logged in history.exchange_events:
        if not isinstance(logged.event, PeriodSettled):
            continue
        period_id = logged.event.period_id
        call = history.calls.get(logged.tx_hash)
        if not isinstance(call, SettleCall) or call.period_id != period_id:
            raise ResettleError(f"the settlement of period {period_id} is not a readable call")
        households = []
        for supplied in call.households:
            address = supplied.household
            meters = tuple(
                RuleMeter(
                    state.meters[meter_id].window,
                    data.deltas if data.source is not MeterSource.NONE else None,
                )
                for meter_id, data in zip(
                    state.meters_of.get(address, []), supplied.meters, strict=False
                )
            )
            households.append(
                RuleHousehold(address, state.memberships[address], supplied.postings, meters)
            )
        found[period_id] = SettledPeriod(
            period_id,
            _rules_at(history, period_id),
            tuple(households),
            tuple(settled_by_tx.get(logged.tx_hash, [])),
        )
    return found


def _metered(meters: Sequence[RuleMeter], grid: TimeGrid, period_id: int) -> list[list[int]]:
    """(import, export) Wh per interval of P, summed over the meters counting for it."""
    pairs = [[0, 0] for _ in grid.intervals(period_id)]
    for meter in meters:
        if meter.deltas is None:
            continue
        for offset, k in enumerate(grid.intervals(period_id)):
            start = grid.interval_start(k)
            if meter.window.counts_for(start, start + grid.interval_seconds):
                imported, exported = _PAIR.unpack_from(meter.deltas, 8 * offset)
                pairs[offset][0] += imported
                pairs[offset][1] += exported
    return pairs


def _on_operator_volumes(
    period: SettledPeriod, month: MonthData, ean_of: dict[str, str], grid: TimeGrid
) -> tuple[RuleHousehold, ...] | None:
    rows = {start: row for row, start in enumerate(month.starts)}
    covered = [
        (offset, rows[grid.interval_start(k)])
        for offset, k in enumerate(grid.intervals(period.period_id))
        if grid.interval_start(k) in rows
    ]
    if not covered:
        return None
    gross = month.sheets[GROSS]
    households = []
    for household in period.households:
        ean = ean_of.get(household.address.lower())
        if ean is None:
            raise ResettleError(
                f"{household.address} settled period {period.period_id} but the deployment"
                " names no EAN of it"
            )
        offtake = gross.series(ean, Direction.OFFTAKE)
        injection = gross.series(ean, Direction.INJECTION)
        if offtake is None and injection is None:
            raise ResettleError(
                f"{month.source}: {GROSS}: EAN {ean} ({household.address}) has no column:"
                f" period {period.period_id} cannot be re-settled on the operator's volumes"
            )
        pairs = _metered(household.meters, grid, period.period_id)
        for offset, row in covered:
            pairs[offset] = [
                int(offtake[row]) if offtake is not None else 0,
                int(injection[row]) if injection is not None else 0,
            ]
        deltas = b"".join(_PAIR.pack(imported, exported) for imported, exported in pairs)
        households.append(
            RuleHousehold(
                household.address,
                household.membership,
                household.postings,
                (RuleMeter(_ALWAYS, deltas),),
            )
        )
    return tuple(households)


def _replayed(period: SettledPeriod, grid: TimeGrid, rule: ResettleRule) -> dict[str, Figures]:
    figures = {
        f.address.lower(): f for f in rule(period.rules, grid, period.period_id, period.households)
    }
    for event in period.settled:
        mine = figures.get(event.household.lower())
        if mine is None or (mine.delivered_wh, mine.received_wh, mine.change_units) != (
            event.delivered_wh,
            event.received_wh,
            event.change_units,
        ):
            raise ResettleError(
                f"the chain's settlement of period {period.period_id} does not replay for"
                f" {event.household}: run `quartier audit` first"
            )
    return figures


def _units(cumulative_milli: dict[str, int]) -> dict[str, int]:
    """The interface's rounding: floor, then the units left to the largest remainders."""
    units = {h: c // 1000 for h, c in cumulative_milli.items()}
    left = -sum(units.values())
    by_remainder = sorted(
        cumulative_milli, key=lambda h: (-(cumulative_milli[h] % 1000), int(h, 16))
    )
    for household in by_remainder[:left]:
        units[household] += 1
    return units


def resettle_period(
    period: SettledPeriod,
    month: MonthData,
    ean_of: dict[str, str],
    grid: TimeGrid,
    rule: ResettleRule,
    earlier: Sequence[RecordedVersion] = (),
) -> tuple[VersionLine, ...] | None:
    """The lines of P's next version from `month` (None: the workbook holds none of P's
    quarter-hours; () : nothing differs from the latest version)."""
    operator = _on_operator_volumes(period, month, ean_of, grid)
    if operator is None:
        return None
    first = _replayed(period, grid, rule)
    again = {f.address.lower(): f for f in rule(period.rules, grid, period.period_id, operator)}
    cumulative = {h: again[h].net_milli - first[h].net_milli for h in first}
    if sum(cumulative.values()) != 0:
        raise ResettleError(f"period {period.period_id}: the rule's money is not conserved")
    units = _units(cumulative)
    recorded: dict[str, list[int]] = {}
    for version in earlier:
        for line in version.lines:
            sums = recorded.setdefault(line.household.lower(), [0, 0, 0])
            sums[0] += line.delivered_wh
            sums[1] += line.received_wh
            sums[2] += line.change_units
    lines = []
    for household in sorted(first, key=lambda h: int(h, 16)):
        before = recorded.get(household, [0, 0, 0])
        line = VersionLine(
            to_checksum_address(first[household].address),
            again[household].delivered_wh - first[household].delivered_wh - before[0],
            again[household].received_wh - first[household].received_wh - before[1],
            units[household] - before[2],
        )
        if not line.is_zero():
            lines.append(line)
    return tuple(lines)

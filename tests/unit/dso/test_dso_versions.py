"""Settlement versions without a chain: the lines' rounding (ledger.dso.resettle) and every
check of ledger.audit.versions on hand-made events."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.audit.history import History, Logged
from ledger.audit.rule import RuleHousehold, RuleMeter
from ledger.audit.versions import RecordedVersion, VersionLine, check_versions, lines_hash
from ledger.community import Window
from ledger.deploy_v2 import DEFAULT_RULES
from ledger.dso.resettle import ResettleError, SettledPeriod, _on_operator_volumes, _units
from ledger.dso.workbook import GROSS, Column, Direction, MonthData, Sheet
from ledger.events_v2 import PeriodSettled
from ledger.rules import TimeGrid

A, B, C = (f"0x{n:040x}" for n in (0xA, 0xB, 0xC))


def test_units_round_down_then_give_the_largest_remainders() -> None:
    # +1.7, -0.4, -1.3 units: floors 1, -1, -2 (sum -2); remainders 700, 600, 700.
    units = _units({A: 1_700, B: -400, C: -1_300})
    assert units == {A: 2, B: -1, C: -1}


def test_units_break_ties_by_address() -> None:
    assert _units({C: 500, A: 500, B: -1_000}) == {A: 1, B: -1, C: 0}


@given(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=20))
def test_units_conserve_and_stay_within_a_unit(values: list[int]) -> None:
    milli = {f"0x{n + 1:040x}": v for n, v in enumerate(values)}
    milli["0x" + "f" * 40] = -sum(values)
    units = _units(milli)
    assert sum(units.values()) == 0
    for household, exact in milli.items():
        assert exact // 1000 <= units[household] <= exact // 1000 + 1


def _history(settled: dict[int, int]) -> History:
    history = History(31337, A, B, TimeGrid(900, 96), 2, 0, 100, 0)
    for period_id, block in settled.items():
        event = PeriodSettled(period_id, 2, 0, 0)
        history.exchange_events.append(Logged(event, block, 0, bytes(32), 0))
    return history


def _version(
    period_id: int, version: int, lines: tuple[VersionLine, ...], block: int = 50
) -> RecordedVersion:
    return RecordedVersion(period_id, version, b"\x01" * 32, lines_hash(lines), lines, block)


GOOD = (VersionLine(A, 10, 0, 3), VersionLine(B, 0, 10, -3))


def _kinds(versions: list[RecordedVersion], settled: dict[int, int]) -> list[str]:
    return [str(p.kind) for p in check_versions(versions, _history(settled))]


def test_a_good_version_has_no_problem() -> None:
    assert _kinds([_version(7, 2, GOOD), _version(7, 3, GOOD)], {7: 10}) == []


def test_order_and_reference_are_checked() -> None:
    assert _kinds([_version(7, 3, GOOD)], {7: 10}) == ["version_out_of_order"]
    assert _kinds([_version(7, 2, GOOD), _version(7, 2, GOOD)], {7: 10}) == ["version_out_of_order"]
    assert _kinds([_version(8, 2, GOOD)], {7: 10}) == ["version_unsettled_period"]
    assert _kinds([_version(7, 2, GOOD, block=5)], {7: 10}) == ["version_unsettled_period"]


def test_lines_are_checked() -> None:
    unsorted = (GOOD[1], GOOD[0])
    assert _kinds([_version(7, 2, unsorted)], {7: 10}) == ["version_lines_mismatch"]
    zero = (*GOOD, VersionLine(C, 0, 0, 0))
    assert _kinds([_version(7, 2, zero)], {7: 10}) == ["version_lines_mismatch"]
    forged = RecordedVersion(7, 2, b"\x01" * 32, b"\x00" * 32, GOOD, 50)
    assert _kinds([forged], {7: 10}) == ["version_lines_mismatch"]
    money = (VersionLine(A, 10, 0, 3), VersionLine(B, 0, 10, -2))
    assert _kinds([_version(7, 2, money)], {7: 10}) == ["version_not_conserved"]
    energy = (VersionLine(A, 10, 0, 3), VersionLine(B, 0, 9, -3))
    assert _kinds([_version(7, 2, energy)], {7: 10}) == ["version_not_conserved"]


def test_only_versions_of_the_workbook_are_recomputed() -> None:
    asked: list[tuple[int, int]] = []

    def recompute(
        history: History, period_id: int, earlier: Sequence[RecordedVersion]
    ) -> tuple[VersionLine, ...]:
        asked.append((period_id, len(earlier)))
        return GOOD

    other = RecordedVersion(7, 3, b"\x02" * 32, lines_hash(GOOD), GOOD, 60)
    wrong = (VersionLine(A, 10, 0, 4), VersionLine(B, 0, 10, -4))
    versions = [_version(7, 2, GOOD), other, _version(7, 4, wrong)]
    problems = check_versions(versions, _history({7: 10}), b"\x01" * 32, recompute)
    assert asked == [(7, 0), (7, 2)]
    assert [(str(p.kind), p.detail.split(":")[0]) for p in problems] == [
        ("version_recompute_mismatch", "version 4")
    ]


# ---------------------------------------------------------------- the operator's volumes

GRID4 = TimeGrid(900, 4)
PERIOD = 1_000


def _month(
    rows: range, volumes: list[tuple[int, int]], ean: str = "541448820000150000"
) -> MonthData:
    """A 'month' holding intervals `rows` of PERIOD, one member's (offtake, injection)."""
    starts = tuple(GRID4.interval_start(GRID4.first_interval(PERIOD) + k) for k in rows)
    columns = (Column(ean, Direction.OFFTAKE, "B"), Column(ean, Direction.INJECTION, "C"))
    wh = np.array(volumes, dtype=np.int64).reshape(len(starts), 2)
    index = {(c.ean, c.direction): n for n, c in enumerate(columns)}
    sheet = Sheet(GROSS, columns, wh, index)
    return MonthData("test.xlsx", 2001, 9, starts, {GROSS: sheet})


def _settled(meters: tuple[RuleMeter, ...]) -> SettledPeriod:
    household = RuleHousehold(A, Window(1, 0), (), meters)
    return SettledPeriod(PERIOD, DEFAULT_RULES, (household,), ())


def _deltas(pairs: list[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack(">II", *pair) for pair in pairs)


def test_the_operators_quarter_hours_replace_the_meters_and_the_others_stay() -> None:
    start = GRID4.period_start(PERIOD)
    old = RuleMeter(Window(1, start + 900), _deltas([(1, 2), (3, 4), (5, 6), (7, 8)]))
    new = RuleMeter(Window(start + 900, 0), _deltas([(10, 20), (30, 40), (50, 60), (70, 80)]))
    month = _month(range(2, 4), [(100, 0), (0, 200)])
    (household,) = (
        _on_operator_volumes(
            _settled((old, new)), month, {A.lower(): month.sheets[GROSS].columns[0].ean}, GRID4
        )
        or ()
    )
    (meter,) = household.meters
    assert meter.window.counts_for(start, start + 900)
    # Interval 0: the old meter only; 1: the new one; 2 and 3: the operator's.
    assert meter.deltas == _deltas([(1, 2), (30, 40), (100, 0), (0, 200)])


def test_a_period_outside_the_workbook_is_not_resettled() -> None:
    month = _month(range(0, 2), [(1, 1), (1, 1)])
    other = SettledPeriod(PERIOD + 1, DEFAULT_RULES, (), ())
    assert _on_operator_volumes(other, month, {}, GRID4) is None


def test_a_settled_member_without_ean_or_column_is_refused() -> None:
    month = _month(range(4), [(1, 1)] * 4)
    period = _settled((RuleMeter(Window(1, 0), None),))
    with pytest.raises(ResettleError, match="names no EAN"):
        _on_operator_volumes(period, month, {}, GRID4)
    with pytest.raises(ResettleError, match=r"EAN 541448820000150017 .* has no column"):
        _on_operator_volumes(period, month, {A.lower(): "541448820000150017"}, GRID4)

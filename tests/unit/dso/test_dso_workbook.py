"""Importing the operator's workbook (ledger.dso.workbook): the kept samples, summer-time
days, exact Wh, CSV exports, and every refusal naming its sheet, cell and problem."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook

from ledger.dso.calendar import month_quarter_hours
from ledger.dso.errors import WorkbookRefusedError
from ledger.dso.sample import sheet_rows
from ledger.dso.workbook import GROSS, NET, SHARED, SHEETS, Column, Direction, read_month

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dso"
EAN_A, EAN_B = "541448820000150000", "541448820000150017"
COLUMNS = [
    Column(EAN_A, Direction.OFFTAKE, ""),
    Column(EAN_A, Direction.INJECTION, ""),
    Column(EAN_B, Direction.OFFTAKE, ""),
]

Rows = list[list[object]]


def month_rows(year: int, month: int, sheets: tuple[str, ...] = SHEETS) -> dict[str, Rows]:
    """Sheets of a month, volumes 0..999 Wh varied by row and column."""
    starts = month_quarter_hours(year, month)
    wh = (np.arange(len(starts) * len(COLUMNS)).reshape(len(starts), len(COLUMNS)) * 7) % 1000
    return {
        name: sheet_rows(starts, COLUMNS, wh.astype(np.int64), {}, as_text=False) for name in sheets
    }


def write(path: Path, sheets: dict[str, Rows]) -> Path:
    book = Workbook(write_only=True)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_the_kept_february_sample_imports_in_whole_wh() -> None:
    month = read_month(FIXTURES / "2027-02 ORES.xlsx")
    assert month.month_text == "2027-02"
    assert len(month.starts) == 28 * 96
    assert month.eans() == [EAN_A, EAN_B, "541448820000150024", "541448820000150031"]
    gross, shared, net = (month.sheets[name].wh for name in (GROSS, SHARED, NET))
    assert gross.dtype == np.int64
    assert (net == gross - shared).all()
    assert gross.sum() > 1_000_000  # four homes' month: over 1 MWh


def test_october_has_a_day_of_100_quarter_hours_and_the_csv_export_is_the_same_month() -> None:
    xlsx = read_month(FIXTURES / "2027-10 ORES.xlsx")
    assert len(xlsx.starts) == 31 * 96 + 4
    assert all(b - a == 900 for a, b in zip(xlsx.starts, xlsx.starts[1:], strict=False))
    exported = read_month(FIXTURES / "2027-10 ORES Brut Rep.csv")
    for name in SHEETS:
        assert (exported.sheets[name].wh == xlsx.sheets[name].wh).all()


def test_march_has_a_day_of_92_quarter_hours(tmp_path: Path) -> None:
    month = read_month(write(tmp_path / "2027-03.xlsx", month_rows(2027, 3)))
    assert len(month.starts) == 31 * 96 - 4
    series = month.sheets[GROSS].series(EAN_B, Direction.OFFTAKE)
    assert series is not None
    assert series[1] == (1 * 3 + 2) * 7 % 1000


def test_text_timestamps_and_kwh_decimals_are_read_exactly(tmp_path: Path) -> None:
    sheets = month_rows(2027, 2)
    for rows in sheets.values():
        for row in rows[4:]:
            row[0] = f"{row[0]:%d/%m/%Y %H:%M}"
    sheets[GROSS][4][1] = 0.001
    sheets[GROSS][5][1] = 12345.678
    month = read_month(write(tmp_path / "text.xlsx", sheets))
    assert month.sheets[GROSS].wh[0, 0] == 1
    assert month.sheets[GROSS].wh[1, 0] == 12_345_678


def _refused(
    tmp_path: Path,
    change: Callable[[dict[str, Rows]], object],
    month: str = "2027-02",
    sheets: tuple[str, ...] = (GROSS,),
) -> str:
    """The refusal of a month whose `sheets` (only those are written and read) `change`d."""
    year, number = (int(part) for part in month.split("-"))
    rows = month_rows(year, number, sheets)
    change(rows)
    with pytest.raises(WorkbookRefusedError) as refused:
        read_month(write(tmp_path / f"{month}.xlsx", rows), sheets=sheets)
    return str(refused.value)


def test_a_missing_sheet_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, lambda sheets: sheets.pop(NET), sheets=(GROSS, NET))
    assert "sheet 'Net Rep' is missing" in message


def test_a_shifted_header_row_is_refused(tmp_path: Path) -> None:
    message = _refused(
        tmp_path, lambda sheets: sheets[SHARED].insert(0, [None]), sheets=(GROSS, SHARED)
    )
    assert message.startswith("sheet 'Partagé Rep', cell A1: shifted header row")
    assert "row 2" in message


def test_a_duplicated_ean_column_is_refused(tmp_path: Path) -> None:
    def duplicate(sheets: dict[str, Rows]) -> None:
        sheets[GROSS][1][3] = EAN_A  # EAN_B's offtake column now says EAN_A's offtake again

    message = _refused(tmp_path, duplicate)
    assert message == (
        f"sheet 'Brut Rep', cell D2: duplicated EAN column: {EAN_A} offtake is column B already"
    )


def test_an_ean_stored_as_a_number_is_refused(tmp_path: Path) -> None:
    def as_number(sheets: dict[str, Rows]) -> None:
        sheets[GROSS][1][1] = int(EAN_A)

    assert "cell B2: the EAN is stored as a number" in _refused(tmp_path, as_number)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("n/a", "'n/a' is not a number of kWh"),
        (-0.5, "negative volume -0.5 kWh"),
        (0.0005, "0.0005 kWh is not a whole number of Wh (refused, not rounded)"),
        (None, "empty cell"),
    ],
)
def test_a_bad_cell_is_refused_by_its_address(tmp_path: Path, value: object, problem: str) -> None:
    def put(sheets: dict[str, Rows]) -> None:
        sheets[NET][9][3] = value  # row 10, column D

    message = _refused(tmp_path, put, sheets=(NET,))
    assert message.startswith("sheet 'Net Rep', cell D10: ")
    assert problem in message


def test_a_missing_quarter_hour_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, lambda sheets: sheets[GROSS].pop(4 + 50))
    assert message == (
        "sheet 'Brut Rep', cell A55: quarter-hour missing: 2027-02-01 12:30 should come before"
        " 2027-02-01 12:45"
    )


def test_a_repeated_quarter_hour_is_refused(tmp_path: Path) -> None:
    def repeat(sheets: dict[str, Rows]) -> None:
        rows = sheets[GROSS]
        rows[4 + 51][0] = rows[4 + 50][0]

    message = _refused(tmp_path, repeat)
    assert message.startswith("sheet 'Brut Rep', cell A56: repeated or out-of-order quarter-hour")


def test_the_repeated_hour_of_october_is_required_twice(tmp_path: Path) -> None:
    def once(sheets: dict[str, Rows]) -> None:
        rows = sheets[GROSS]
        change_day = next(
            i for i, row in enumerate(rows[4:], 4) if f"{row[0]}" == "2027-10-31 02:45:00"
        )
        del rows[change_day + 1 : change_day + 5]  # the second 02:00-02:45 (winter time)

    message = _refused(tmp_path, once, month="2027-10")
    assert "quarter-hour missing: 2027-10-31 02:00 should come before 2027-10-31 03:00" in message


def test_a_month_not_matching_the_file_name_or_the_option_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "export 2027-03.xlsx", month_rows(2027, 2))
    with pytest.raises(WorkbookRefusedError, match="rows are of 2027-02, the file is of 2027-03"):
        read_month(path)
    with pytest.raises(WorkbookRefusedError, match="the file is of 2027-04"):
        read_month(path, month=(2027, 4))


def test_a_row_of_the_next_month_is_refused(tmp_path: Path) -> None:
    def extra(sheets: dict[str, Rows]) -> None:
        sheets[GROSS].append(list(month_rows(2027, 3)[GROSS][4]))

    message = _refused(tmp_path, extra)
    assert (
        "month not matching: 2027-03-01 00:00 is past the last quarter-hour of 2027-02" in message
    )


def test_a_csv_export_needs_its_sister_sheets(tmp_path: Path) -> None:
    (tmp_path / "x Brut Rep.csv").write_text("a;b\n", encoding="utf-8")
    with pytest.raises(WorkbookRefusedError, match="sheet 'Partagé Rep' is missing"):
        read_month(tmp_path / "x Brut Rep.csv")


def test_the_cli_refuses_with_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.xlsx", month_rows(2027, 2, (GROSS,)))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "quartier"), "dso", "import", str(path), "--community",
         str(FIXTURES / "community.toml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"quartier: {path}: sheet 'Partagé Rep' is missing (sheets: Brut Rep)"
    ]

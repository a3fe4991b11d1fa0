"""The operator's monthly workbook, imported exactly: integer Wh per EAN, direction and
quarter-hour, or one refusal naming the sheet, the cell and the problem.

Layout (per sheet `Brut Rep`, `Partagé Rep`, `Net Rep`): row 1 a header per column, each
holding `Prélèvement` (offtake) or `Injection`; row 2 the column's EAN (18 digits, as text);
rows 3 and 4 labels (ignored); from row 5 one row per quarter-hour, column A its start in
Brussels time (an Excel serial date, a date cell or a text timestamp), the other columns its
energy in kWh. A CSV export holds one sheet in the same layout (`;` or `,` separated; with
`;`, a decimal comma is read too).

Exactness: a number cell is an IEEE double in the file; its value is the shortest decimal
that reads back as that double (Python's repr), and it must be a whole number of Wh
(`n / 1000` kWh exactly): 0.123 is 123 Wh, 0.1234 is refused, never rounded. A CSV cell is
read from its text, digit by digit, under the same rule.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ledger.community_config.ean import ean_problem
from ledger.dso.calendar import (
    excel_serial_to_local,
    local_wall_time,
    month_in_name,
    month_quarter_hours,
    month_text,
)
from ledger.dso.errors import WorkbookRefusedError

GROSS, SHARED, NET = "Brut Rep", "Partagé Rep", "Net Rep"
SHEETS = (GROSS, SHARED, NET)
#: Rows (1-based) of the layout.
HEADER_ROW, EAN_ROW, FIRST_DATA_ROW = 1, 2, 5

IntArray = npt.NDArray[np.int64]


class Direction(StrEnum):
    """Offtake from the grid (`Prélèvement`) or injection into it (`Injection`)."""

    OFFTAKE = "offtake"
    INJECTION = "injection"


@dataclass(frozen=True)
class Column:
    """One column of volumes: whose connection point, which direction, where in the sheet."""

    ean: str
    direction: Direction
    letter: str


@dataclass(frozen=True)
class Sheet:
    """A sheet's volumes: `wh[row, column]` in Wh, rows in quarter-hour order."""

    name: str
    columns: tuple[Column, ...]
    wh: IntArray
    index: dict[tuple[str, Direction], int] = field(default_factory=dict)

    def series(self, ean: str, direction: Direction) -> IntArray | None:
        """The column's Wh per quarter-hour, or None when the sheet has no such column."""
        at = self.index.get((ean, direction))
        return None if at is None else self.wh[:, at]


@dataclass(frozen=True)
class MonthData:
    """A month imported cleanly: the quarter-hours (unix starts) and each sheet read."""

    source: str
    year: int
    month: int
    starts: tuple[int, ...]
    sheets: dict[str, Sheet]

    @property
    def month_text(self) -> str:
        return month_text(self.year, self.month)

    def eans(self) -> list[str]:
        """Every EAN of the workbook, in the order it first appears."""
        seen: dict[str, None] = {}
        for sheet in self.sheets.values():
            for column in sheet.columns:
                seen.setdefault(column.ean, None)
        return list(seen)


Rows = list[list[Any]]


def read_month(
    path: Path, month: tuple[int, int] | None = None, sheets: Sequence[str] = SHEETS
) -> MonthData:
    """Import `sheets` of the workbook at `path` (.xlsx, or a sheet's .csv export: the other
    sheets are the files beside it whose names differ only by the sheet's name).

    `month` (year, month), when given, and a month written in the file name must be the
    month of the rows. WorkbookRefusedError names the sheet, the cell and the problem."""
    raw = _read_xlsx(path, sheets) if path.suffix.lower() != ".csv" else _read_csv(path, sheets)
    expected = month if month is not None else month_in_name(path.stem)
    first_name = sheets[0]
    year, month_number = _month_of(first_name, raw[first_name], expected)
    starts = month_quarter_hours(year, month_number)
    read = {name: _sheet(name, raw[name], starts, (year, month_number)) for name in sheets}
    return MonthData(str(path), year, month_number, tuple(starts), read)


def _read_xlsx(path: Path, sheets: Sequence[str]) -> dict[str, Rows]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own unexported exception types
        raise WorkbookRefusedError(f"{path}: not a readable workbook ({error})") from None
    with workbook:
        names = list(workbook.sheet_names)
        rows: dict[str, Rows] = {}
        for name in sheets:
            if name not in names:
                raise WorkbookRefusedError(
                    f"{path}: sheet {name!r} is missing (sheets: {', '.join(names)})"
                )
            sheet = workbook.get_sheet_by_name(name)
            rows[name] = [list(row) for row in sheet.to_python(skip_empty_area=False)]
    return rows


def csv_paths(path: Path, sheets: Sequence[str] = SHEETS) -> dict[str, Path]:
    """The CSV export of each sheet: `path` names one of them (its stem holds the sheet's
    name), the others are beside it with the other sheets' names in its place."""
    stem = path.stem
    named = next((name for name in SHEETS if name.casefold() in stem.casefold()), None)
    if named is None:
        raise WorkbookRefusedError(
            f"{path}: a CSV export's name holds its sheet's name ({', '.join(SHEETS)})"
        )
    at = stem.casefold().index(named.casefold())
    return {
        name: path.with_name(stem[:at] + name + stem[at + len(named) :] + path.suffix)
        for name in sheets
    }


def _read_csv(path: Path, sheets: Sequence[str]) -> dict[str, Rows]:
    rows: dict[str, Rows] = {}
    for name, sheet_path in csv_paths(path, sheets).items():
        try:
            text = sheet_path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise WorkbookRefusedError(
                f"{path}: sheet {name!r} is missing (no {sheet_path.name} beside it)"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise WorkbookRefusedError(f"{sheet_path}: cannot read it ({error})") from None
        first_line = text.split("\n", 1)[0]
        delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
        table: Rows = [list(row) for row in csv.reader(text.splitlines(), delimiter=delimiter)]
        if delimiter == ";":  # a Belgian export: decimal comma
            for row in table[FIRST_DATA_ROW - 1 :]:
                row[1:] = [cell.replace(",", ".") for cell in row[1:]]
        rows[name] = table
    return rows


def get_column_letter(number: int) -> str:
    """1 -> 'A', 27 -> 'AA' (openpyxl's, without importing openpyxl to read)."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _cell(column: int, row: int) -> str:
    """'B5' for 0-based column 1 and 1-based row 5."""
    return f"{get_column_letter(column + 1)}{row}"


def _refuse(sheet: str, cell: str, problem: str) -> WorkbookRefusedError:
    return WorkbookRefusedError(f"sheet {sheet!r}, cell {cell}: {problem}")


def _plain(text: str) -> str:
    """Casefolded without accents: 'Prélèvement' and 'PRELEVEMENT' read alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _direction(header: Any) -> Direction | None:
    text = _plain(str(header)) if header is not None else ""
    offtake, injection = "prelevement" in text, "injection" in text
    if offtake == injection:
        return None
    return Direction.OFFTAKE if offtake else Direction.INJECTION


def _columns(name: str, rows: Rows) -> tuple[Column, ...]:
    if not rows or not any(_direction(cell) for cell in rows[0][1:]):
        for number, row in enumerate(rows[1:8], start=2):
            if any(_direction(cell) for cell in row[1:]):
                raise _refuse(
                    name,
                    f"A{HEADER_ROW}",
                    f"shifted header row: the Prélèvement/Injection headers are in row "
                    f"{number}, the layout puts them in row {HEADER_ROW}",
                )
        raise _refuse(name, f"B{HEADER_ROW}", "no header holds Prélèvement or Injection")
    header = rows[0]
    eans = rows[EAN_ROW - 1] if len(rows) >= EAN_ROW else []
    last = max(at for at, cell in enumerate(header) if cell not in (None, ""))
    columns: list[Column] = []
    seen: dict[tuple[str, Direction], str] = {}
    for at in range(1, last + 1):
        direction = _direction(header[at])
        if direction is None:
            raise _refuse(
                name,
                _cell(at, HEADER_ROW),
                f"header {header[at]!r} holds neither Prélèvement nor Injection",
            )
        raw = eans[at] if at < len(eans) else None
        if isinstance(raw, float | int) and not isinstance(raw, bool):
            raise _refuse(
                name,
                _cell(at, EAN_ROW),
                "the EAN is stored as a number (an 18-digit number loses its last digits in a"
                " spreadsheet): store it as text",
            )
        ean = str(raw or "").strip()
        problem = ean_problem(ean)
        if problem is not None:
            raise _refuse(name, _cell(at, EAN_ROW), problem)
        letter = get_column_letter(at + 1)
        if (ean, direction) in seen:
            raise _refuse(
                name,
                _cell(at, EAN_ROW),
                f"duplicated EAN column: {ean} {direction.value} is column {seen[ean, direction]}"
                " already",
            )
        seen[ean, direction] = letter
        columns.append(Column(ean, direction, letter))
    return tuple(columns)


# -- timestamps -------------------------------------------------------------------------

_TEXT_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S")


def _timestamp(value: Any) -> datetime | None:
    """A row's start as a naive Brussels time (or an aware one, when the text has an offset)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, float | int) and not isinstance(value, bool):
        return excel_serial_to_local(float(value))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            for form in _TEXT_FORMATS:
                try:
                    moment = datetime.strptime(text, form)
                    break
                except ValueError:
                    continue
            else:
                return None
    else:
        return None
    # A date cell may carry float noise: within a second of a quarter-hour is that quarter-hour.
    seconds = moment.minute * 60 + moment.second + moment.microsecond / 1e6
    nearest = round(seconds / 900) * 900
    if abs(seconds - nearest) > 1:
        return None
    return moment.replace(minute=0, second=0, microsecond=0) + timedelta(seconds=nearest)


def _month_of(name: str, rows: Rows, expected: tuple[int, int] | None) -> tuple[int, int]:
    cell = f"A{FIRST_DATA_ROW}"
    if len(rows) < FIRST_DATA_ROW:
        raise _refuse(name, cell, "no quarter-hour rows (the data starts at row 5)")
    moment = _timestamp(rows[FIRST_DATA_ROW - 1][0])
    if moment is None:
        raise _refuse(name, cell, f"{rows[FIRST_DATA_ROW - 1][0]!r} is not a quarter-hour")
    if moment.tzinfo is not None:
        moment = local_wall_time(int(moment.timestamp()))
    found = (moment.year, moment.month)
    if expected is not None and found != expected:
        raise _refuse(
            name,
            cell,
            f"month not matching: the rows are of {month_text(*found)}, the file is of"
            f" {month_text(*expected)}",
        )
    return found


def _check_times(name: str, rows: Rows, starts: Sequence[int], month: tuple[int, int]) -> None:
    data = rows[FIRST_DATA_ROW - 1 :]
    while data and all(cell in (None, "") for cell in data[-1]):
        data.pop()  # trailing empty rows of an export
    for offset, row in enumerate(data):
        number = FIRST_DATA_ROW + offset
        moment = _timestamp(row[0] if row else None)
        if moment is None:
            raise _refuse(name, f"A{number}", f"{row[0] if row else None!r} is not a quarter-hour")
        if offset >= len(starts):
            raise _refuse(
                name,
                f"A{number}",
                f"month not matching: {moment:%Y-%m-%d %H:%M} is past the last quarter-hour of"
                f" {month_text(*month)}"
                if (moment.year, moment.month) != month
                else f"repeated quarter-hour {moment:%Y-%m-%d %H:%M}",
            )
        if moment.tzinfo is not None:
            if int(moment.timestamp()) == starts[offset]:
                continue
            moment = local_wall_time(int(moment.timestamp()))
        want = local_wall_time(starts[offset])
        if moment == want:
            continue
        if (moment.year, moment.month) != month:
            raise _refuse(
                name,
                f"A{number}",
                f"month not matching: {moment:%Y-%m-%d %H:%M} is not in {month_text(*month)}",
            )
        if moment > want:
            raise _refuse(
                name,
                f"A{number}",
                f"quarter-hour missing: {want:%Y-%m-%d %H:%M} should come before"
                f" {moment:%Y-%m-%d %H:%M}",
            )
        raise _refuse(
            name,
            f"A{number}",
            f"repeated or out-of-order quarter-hour {moment:%Y-%m-%d %H:%M} (expected"
            f" {want:%Y-%m-%d %H:%M})",
        )
    if len(data) < len(starts):
        want = local_wall_time(starts[len(data)])
        raise _refuse(
            name,
            f"A{FIRST_DATA_ROW + len(data)}",
            f"quarter-hour missing: the rows end before {want:%Y-%m-%d %H:%M}"
            f" ({len(data)} of {len(starts)} quarter-hours of {month_text(*month)})",
        )


# -- volumes ----------------------------------------------------------------------------


def _sheet(name: str, rows: Rows, starts: Sequence[int], month: tuple[int, int]) -> Sheet:
    columns = _columns(name, rows)
    _check_times(name, rows, starts, month)
    width = len(columns)
    block = [
        (row[1 : width + 1] + [None] * (width + 1 - len(row)))[:width]
        for row in rows[FIRST_DATA_ROW - 1 : FIRST_DATA_ROW - 1 + len(starts)]
    ]
    wh = _exact_wh(name, block)
    index = {(column.ean, column.direction): at for at, column in enumerate(columns)}
    return Sheet(name, columns, wh, index)


_TEXT_NUMBER = re.compile(r"\s*(\d+)(?:\.(\d*))?\s*")


def _exact_wh(name: str, block: Rows) -> IntArray:
    """kWh cells to Wh, exactly; the first cell that is not a whole, non-negative Wh is
    refused. Number cells go through numpy at once (the usual case); text cells one by one."""
    try:  # numpy infers float64 when every cell is a number (bool, text, None: another dtype)
        kwh: npt.NDArray[Any] = np.array(block)
    except ValueError:  # rows of unequal length cannot be: they are padded
        kwh = np.array([], dtype=object)
    if block and kwh.dtype.kind in "fiu":
        kwh = kwh.astype(np.float64)
        wh = np.rint(kwh * 1000.0)
        good = np.isfinite(kwh) & (kwh >= 0) & (wh / 1000.0 == kwh)
        if bool(good.all()):
            return wh.astype(np.int64)
        bad_row, bad_column = (int(v) for v in np.argwhere(~good)[0])
        cell = _cell(bad_column + 1, FIRST_DATA_ROW + bad_row)
        raise _refuse(name, cell, _why(block[bad_row][bad_column]))
    out = np.zeros((len(block), len(block[0]) if block else 0), dtype=np.int64)
    for r, row in enumerate(block):
        for c, cell in enumerate(row):
            value = _cell_wh(cell)
            if value is None:
                raise _refuse(name, _cell(c + 1, FIRST_DATA_ROW + r), _why(cell))
            out[r, c] = value
    return out


def _cell_wh(cell: Any) -> int | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, float | int):
        if not (cell >= 0 and np.isfinite(cell)):
            return None
        wh = round(cell * 1000)
        return wh if wh / 1000 == cell else None
    if not isinstance(cell, str):
        return None
    match = _TEXT_NUMBER.fullmatch(cell)
    if match is None:
        return None
    whole, fraction = match.group(1), (match.group(2) or "")
    if fraction[3:].strip("0"):
        return None
    return int(whole) * 1000 + int((fraction[:3] or "0").ljust(3, "0"))


def _why(cell: Any) -> str:
    if cell is None or cell == "":
        return "empty cell (a quarter-hour's volume is missing)"
    if isinstance(cell, bool) or not isinstance(cell, float | int | str):
        return f"{cell!r} is not a number of kWh"
    if isinstance(cell, str):
        text = cell.strip()
        if text.startswith("-"):
            return f"negative volume {text} kWh"
        if _TEXT_NUMBER.fullmatch(text):
            return f"{text} kWh is not a whole number of Wh (refused, not rounded)"
        return f"{cell!r} is not a number of kWh"
    if not np.isfinite(cell):
        return f"{cell!r} is not a number of kWh"
    if cell < 0:
        return f"negative volume {cell!r} kWh"
    return f"{cell!r} kWh is not a whole number of Wh (refused, not rounded)"

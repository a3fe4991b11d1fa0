"""Write a month in the operator's layout (sample workbooks and their CSV exports).

The inverse of `workbook.read_month`, for tests and benchmarks: row 1 `Prélèvement` /
`Injection` headers, row 2 the EANs (as text), row 3 the member's name, row 4 the unit, from
row 5 one row per quarter-hour in Brussels time (a date cell) and kWh as numbers n / 1000.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from openpyxl import Workbook

from ledger.dso.calendar import local_wall_time
from ledger.dso.workbook import Column, Direction, IntArray

HEADERS = {
    Direction.OFFTAKE: "Prélèvement (kWh)",
    Direction.INJECTION: "Injection (kWh)",
}


def sheet_rows(
    starts: Sequence[int],
    columns: Sequence[Column],
    wh: IntArray,
    names: Mapping[str, str],
    as_text: bool,
) -> list[list[object]]:
    rows: list[list[object]] = [
        ["Date et heure (heure belge)", *(HEADERS[c.direction] for c in columns)],
        ["EAN", *(c.ean for c in columns)],
        ["Membre", *(names.get(c.ean, "") for c in columns)],
        ["Unité", *("kWh" for _ in columns)],
    ]
    for at, start in enumerate(starts):
        moment = local_wall_time(start)
        values = wh[at].tolist()
        if as_text:
            rows.append(
                [
                    moment.strftime("%d/%m/%Y %H:%M"),
                    *(f"{v // 1000},{v % 1000:03d}" for v in values),
                ]
            )
        else:
            rows.append([moment, *(v / 1000 for v in values)])
    return rows


def write_workbook(
    path: Path,
    starts: Sequence[int],
    sheets: Mapping[str, tuple[Sequence[Column], IntArray]],
    names: Mapping[str, str],
) -> None:
    """An .xlsx with one sheet per entry of `sheets` (name -> columns, Wh per row)."""
    book = Workbook(write_only=True)
    for name, (columns, wh) in sheets.items():
        sheet = book.create_sheet(name)
        for row in sheet_rows(starts, columns, wh, names, as_text=False):
            sheet.append(row)
    book.save(path)


def write_csv(
    prefix: Path,
    starts: Sequence[int],
    sheets: Mapping[str, tuple[Sequence[Column], IntArray]],
    names: Mapping[str, str],
) -> list[Path]:
    """One `<prefix><sheet>.csv` per sheet, as a Belgian export writes them (`;`, decimal
    comma, day/month/year)."""
    written = []
    for name, (columns, wh) in sheets.items():
        path = prefix.with_name(prefix.name + name + ".csv")
        with path.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out, delimiter=";").writerows(
                sheet_rows(starts, columns, wh, names, as_text=True)
            )
        written.append(path)
    return written

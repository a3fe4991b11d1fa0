"""`quartier dso check-keys`: the community's key applied to `Brut Rep` against the
operator's `Partagé Rep`, and the kept samples being what their generator makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook

from ledger.dso.check_keys import check_keys
from ledger.dso.members import load_members
from ledger.dso.workbook import GROSS, SHARED, SHEETS, Direction, read_month

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dso"
COMMUNITY = FIXTURES / "community.toml"


def _quartier(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "quartier"), "dso", *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_samples_shared_volumes_are_the_keys_to_the_wh() -> None:
    for name in ("2027-02 ORES.xlsx", "2027-10 ORES.xlsx"):
        month = read_month(FIXTURES / name, sheets=(GROSS, SHARED))
        check = check_keys(month, load_members(COMMUNITY))
        assert check.differences == ()
        assert check.quarter_hours == len(month.starts)
        assert month.sheets[SHARED].wh.sum() > 0  # something was shared


def test_a_changed_shared_volume_is_listed_by_quarter_hour(tmp_path: Path) -> None:
    book = load_workbook(FIXTURES / "2027-02 ORES.xlsx")
    sheet = book[SHARED]
    row, column = next(
        (r, c)
        for r in range(5, sheet.max_row + 1)
        for c in (2, 4, 6, 8)  # the members' offtake columns
        if sheet.cell(r, c).value
    )
    member = sheet.cell(3, column).value  # row 3: the member's name
    original = sheet.cell(row, column).value
    assert isinstance(original, float | int)
    sheet.cell(row, column).value = original + 0.001  # 1 Wh more than the key gives
    changed = tmp_path / "2027-02 changed.xlsx"
    book.save(changed)
    done = _quartier("check-keys", str(changed), "--community", str(COMMUNITY), "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["differing_quarter_hours"] == 1
    (difference,) = result["differences"]
    assert difference["member"] == member
    assert difference["direction"] == "offtake"
    assert difference["dso_wh"] == difference["computed_wh"] + 1
    month = read_month(FIXTURES / "2027-02 ORES.xlsx", sheets=(GROSS,))
    assert difference["interval_start"] == month.starts[row - 5]


def test_the_cli_agrees_on_the_sample_and_imports_it_as_json() -> None:
    agree = _quartier(
        "check-keys", str(FIXTURES / "2027-10 ORES.xlsx"), "--community", str(COMMUNITY)
    )
    assert agree.returncode == 0, agree.stderr
    assert "2980 quarter-hours, 0 differ" in agree.stdout
    imported = _quartier(
        "import", str(FIXTURES / "2027-02 ORES.xlsx"), "--community", str(COMMUNITY), "--json"
    )
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert (summary["month"], summary["eans"], summary["quarter_hours"]) == ("2027-02", 4, 2688)
    assert summary["unknown_eans"] == []


def test_the_kept_samples_are_what_the_generator_makes(tmp_path: Path) -> None:
    sys.path.insert(0, str(FIXTURES))
    try:
        import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(FIXTURES))
    made, _ = generate.write_sample(tmp_path, 4, 2027, 2)
    kept, fresh = read_month(FIXTURES / made.name), read_month(made)
    assert kept.starts == fresh.starts
    for name in SHEETS:
        assert (kept.sheets[name].wh == fresh.sheets[name].wh).all()
    assert (tmp_path / "community.toml").read_text() == COMMUNITY.read_text()
    assert kept.sheets[GROSS].series(kept.eans()[0], Direction.OFFTAKE) is not None

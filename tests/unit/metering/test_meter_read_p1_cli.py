"""`quartier meter read-p1 FILE --json`: DESIGN.md's contract (integer Wh, exit 2 on refusal)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from metering_p1_fixtures import emucs, emucs_body, with_crc


def quartier(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `quartier` entry point (api.cli.main) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_read_p1_json(tmp_path: Path) -> None:
    path = tmp_path / "telegram.p1"
    path.write_bytes(emucs())
    result = quartier("meter", "read-p1", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "equipment_id": "1SAG3105200877",
        "timestamp": "2023-06-29T08:22:48Z",
        "import_wh": {"t1": 661_701, "t2": 776_784, "total": 1_438_485},
        "export_wh": {"t1": 990_699, "t2": 423_681, "total": 1_414_380},
        "peaks": {
            "current_average_w": 0,
            "month_peak_w": None,
            "month_peak_at": None,
            "history": [],
        },
    }


def test_read_p1_shows_the_peaks_and_refuses_a_broken_one(tmp_path: Path) -> None:
    body = emucs_body() + "1-0:1.6.0(230622200000S)(06.235*kW)\r\n"
    path = tmp_path / "telegram.p1"
    path.write_bytes(with_crc(body))
    result = quartier("meter", "read-p1", str(path), "--json")
    assert result.returncode == 0, result.stderr
    peaks = json.loads(result.stdout)["peaks"]
    assert (peaks["month_peak_w"], peaks["month_peak_at"]) == (6235, "2023-06-22T18:00:00Z")
    path.write_bytes(with_crc(body.replace("06.235*kW", "06.235")))
    result = quartier("meter", "read-p1", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "1-0:1.6.0" in result.stderr


def test_read_p1_bad_crc_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "telegram.p1"
    path.write_bytes(emucs().replace(b"000661.701", b"000661.709"))
    result = quartier("meter", "read-p1", str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "CRC mismatch" in result.stderr


def test_read_p1_missing_register_exits_2_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "telegram.p1"
    path.write_bytes(emucs(omit=("1-0:2.8.2",)))
    result = quartier("meter", "read-p1", str(path))
    assert result.returncode == 2
    assert "1-0:2.8.2" in result.stderr
    assert "Traceback" not in result.stderr


def test_read_p1_missing_file_is_one_line(tmp_path: Path) -> None:
    result = quartier("meter", "read-p1", str(tmp_path / "absent.p1"))
    assert result.returncode != 0
    assert "absent.p1" in result.stderr
    assert "Traceback" not in result.stderr

"""Conformance: the real telegrams of ../shared/testdata/p1 (README.md + index.json there).

Every telegram whose CRC verifies (crc_ok true) decodes to the registers and clock listed in
index.json (or, when it lists no energy registers, is refused for missing them); every telegram
whose CRC is wrong (crc_ok false) is refused; telegrams with no CRC at all (crc_ok null,
DSMR 2/3) are refused too, since the reader is strict.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from metering.adapters.p1 import decode_capture
from metering.errors import (
    MissingRegisterError,
    PlaceholderClockError,
    TelegramChecksumError,
    TelegramError,
)

REPO = Path(__file__).resolve().parents[3]
TESTDATA = REPO.parent / "shared" / "testdata" / "p1"

pytestmark = pytest.mark.skipif(
    not (TESTDATA / "index.json").is_file(),
    reason=f"external P1 conformance set not present at {TESTDATA}",
)


def _entries(crc_ok: bool | None) -> list[Any]:
    if not (TESTDATA / "index.json").is_file():
        return []
    entries = json.loads((TESTDATA / "index.json").read_text())
    return [pytest.param(e, id=e["file"]) for e in entries if e["crc_ok"] is crc_ok]


def _expected_wh(printed: str | None) -> int | None:
    """'000661.701*kWh' -> 661701, '005017120*Wh' -> 5017120, by string arithmetic only."""
    if printed is None:
        return None
    number, unit = printed.split("*")
    whole, _, fraction = number.partition(".")
    if unit.lower() == "kwh":
        assert len(fraction) <= 3
        return int(whole) * 1000 + int(fraction.ljust(3, "0"))
    assert unit.lower() == "wh"
    assert not fraction
    return int(whole)


def _expected_clock(raw: str) -> datetime:
    local = datetime.strptime(raw[:12], "%y%m%d%H%M%S")
    return (local - timedelta(hours=2 if raw[12] == "S" else 1)).replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def _quiet_dsmr_parser() -> None:
    logging.getLogger("dsmr_parser").setLevel(logging.CRITICAL + 1)


@pytest.mark.parametrize("entry", _entries(True))
def test_telegram_with_valid_crc_decodes_to_the_index(entry: dict[str, Any]) -> None:
    data = (TESTDATA / entry["file"]).read_bytes()
    registers = ("import_t1", "import_t2", "export_t1", "export_t2")
    if any(entry.get(name) is None for name in registers):
        with pytest.raises(MissingRegisterError):
            decode_capture(data, allow_placeholder_clock=True)
        return
    snapshot = decode_capture(data, allow_placeholder_clock=True)
    assert snapshot.import_wh.t1_wh == _expected_wh(entry["import_t1"])
    assert snapshot.import_wh.t2_wh == _expected_wh(entry["import_t2"])
    assert snapshot.export_wh.t1_wh == _expected_wh(entry["export_t1"])
    assert snapshot.export_wh.t2_wh == _expected_wh(entry["export_t2"])
    for direction, registers_ in (("import", snapshot.import_wh), ("export", snapshot.export_wh)):
        listed_total = _expected_wh(entry.get(f"{direction}_total"))
        if listed_total is not None:
            assert registers_.total_wh == listed_total
    clock = entry["timestamp"]
    try:
        expected_clock: datetime | None = _expected_clock(clock)
        placeholder = expected_clock is None or expected_clock.year < 2010
    except ValueError:
        expected_clock, placeholder = None, True
    if placeholder:
        assert snapshot.meter_timestamp is None
        with pytest.raises(PlaceholderClockError):
            decode_capture(data)  # the strict default refuses an unset meter clock
    else:
        assert snapshot.meter_timestamp == expected_clock
        assert decode_capture(data) == snapshot


@pytest.mark.parametrize("entry", _entries(False))
def test_telegram_with_wrong_crc_is_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(TelegramChecksumError, match="CRC mismatch"):
        decode_capture((TESTDATA / entry["file"]).read_bytes(), allow_placeholder_clock=True)


@pytest.mark.parametrize("entry", _entries(None))
def test_telegram_without_crc_is_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(TelegramError):
        decode_capture((TESTDATA / entry["file"]).read_bytes(), allow_placeholder_clock=True)


def test_the_index_lists_every_file() -> None:
    listed = {e["file"] for e in json.loads((TESTDATA / "index.json").read_text())}
    present = {p.name for p in TESTDATA.glob("*.p1")}
    assert listed == present

"""e-MUCS peak registers (1-0:1.4.0, 1-0:1.6.0, 0-0:98.1.0) through dsmr-parser's Belgian spec.

Real telegrams of ../shared/testdata/p1 whose CRC verifies and that carry the registers; the
expected figures are read from each file's own text by string arithmetic (no dsmr-parser), so
a decoder that swapped fields, lost a month or rounded kW wrongly fails. Project-written
telegrams with a broken peak line must be refused naming the register.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from metering_p1_fixtures import emucs_body, with_crc

from metering.adapters.p1 import decode_capture
from metering.adapters.p1_peaks import PeakRegisterError
from metering.errors import TelegramError

REPO = Path(__file__).resolve().parents[3]
TESTDATA = REPO.parent / "shared" / "testdata" / "p1"
BRUSSELS = ZoneInfo("Europe/Brussels")
WITH_PEAKS = (
    "A_dsmr_parser__telegram_fluvius_v171.p1",
    "A_dsmr_parser__telegram_fluvius_v171_alt.p1",
    "C_lbrucher__fluvius_t211_3phase_peak.p1",
)


@pytest.fixture(autouse=True)
def _quiet_dsmr_parser() -> None:
    logging.getLogger("dsmr_parser").setLevel(logging.CRITICAL + 1)


def _watts(printed: str) -> int:
    """'02.351*kW' -> 2351 by string arithmetic only."""
    number, unit = printed.split("*")
    assert unit == "kW"
    whole, _, fraction = number.partition(".")
    return int(whole) * 1000 + int(fraction.ljust(3, "0"))


def _moment(raw: str) -> datetime | None:
    """The Belgian wall-clock time printed, in UTC; the S/W flag only picks the repeated
    autumn hour (a spec example printing S in March is still winter time)."""
    try:
        local = datetime.strptime(raw[:12], "%y%m%d%H%M%S")
    except ValueError:
        return None  # the placeholder 632525252525W of a month without a peak
    return local.replace(tzinfo=BRUSSELS, fold=int(raw[12] == "W")).astimezone(UTC)


def _groups(text: str, obis: str) -> list[str]:
    line = re.search(rf"^{re.escape(obis)}(.*)\r$", text, re.MULTILINE)
    assert line is not None
    return re.findall(r"\(([^()]*)\)", line.group(1))


@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"no conformance set at {TESTDATA}")
@pytest.mark.parametrize("name", WITH_PEAKS)
def test_real_belgian_telegram_peaks(name: str) -> None:
    data = (TESTDATA / name).read_bytes()
    text = data.decode("latin-1")
    peaks = decode_capture(data).peaks
    assert peaks is not None
    assert peaks.current_average_w == _watts(_groups(text, "1-0:1.4.0")[0])
    at, value = _groups(text, "1-0:1.6.0")
    assert peaks.month_peak is not None
    assert (peaks.month_peak.peak_w, peaks.month_peak.peak_at) == (_watts(value), _moment(at))
    history = _groups(text, "0-0:98.1.0")
    count = int(history[0])
    assert len(peaks.history) == count >= 2
    for month, i in zip(peaks.history, range(3, 3 + 3 * count, 3), strict=True):
        assert month.month_start == _moment(history[i])
        assert month.peak_at == _moment(history[i + 1])
        assert month.peak_w == _watts(history[i + 2])


@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"no conformance set at {TESTDATA}")
def test_real_capture_figures_and_empty_month() -> None:
    # Sagemcom T211, June 2023 (summer time): peak 06.235 kW at 20:00 local = 18:00 UTC.
    peaks = decode_capture((TESTDATA / WITH_PEAKS[2]).read_bytes()).peaks
    assert peaks is not None
    assert peaks.month_peak is not None
    assert peaks.month_peak.peak_w == 6235
    assert peaks.month_peak.peak_at == datetime(2023, 6, 22, 18, 0, tzinfo=UTC)
    assert [m.peak_w for m in peaks.history] == [6985, 6748]
    assert peaks.history[1].month_start == datetime(2023, 5, 31, 22, 0, tzinfo=UTC)
    # A month the meter recorded no peak in: placeholder clock and 0 kW, kept as no time.
    empty = decode_capture((TESTDATA / WITH_PEAKS[1]).read_bytes()).peaks
    assert empty is not None
    assert (empty.history[0].peak_w, empty.history[0].peak_at) == (0, None)


@pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"no conformance set at {TESTDATA}")
def test_non_belgian_telegram_has_no_peaks() -> None:
    # Its 0-0:98.1.0 is a Hungarian billing profile, not an e-MUCS peak history.
    data = (TESTDATA / "A_dsmr_parser__telegram_v5_eon_hu.p1").read_bytes()
    assert b"0-0:98.1.0" in data
    assert decode_capture(data).peaks is None


GOOD_PEAK = "1-0:1.6.0(230622200000S)(06.235*kW)"
GOOD_HISTORY = (
    "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(230501000000S)(230423203000S)(06.985*kW)"
    "(230601000000S)(230524193000S)(06.748*kW)"
)


def _telegram(*lines: str) -> bytes:
    return with_crc(emucs_body() + "".join(line + "\r\n" for line in lines))


def test_project_telegram_with_peaks_decodes() -> None:
    peaks = decode_capture(_telegram(GOOD_PEAK, GOOD_HISTORY)).peaks
    assert peaks is not None
    assert peaks.month_peak is not None
    assert peaks.month_peak.peak_w == 6235
    assert [m.peak_w for m in peaks.history] == [6985, 6748]
    assert peaks.to_json()["month_peak_at"] == "2023-06-22T18:00:00Z"


@pytest.mark.parametrize(
    ("line", "obis"),
    [
        ("1-0:1.6.0(230622200000S)(06.2x5*kW)", "1-0:1.6.0"),  # not a number
        ("1-0:1.6.0(632525252525W)(06.235*kW)", "1-0:1.6.0"),  # a peak with no time
        ("1-0:1.6.0(230622200000S)(06.235*kWh)", "1-0:1.6.0"),  # energy, not demand
        (GOOD_HISTORY.replace("(2)", "(3)", 1), "0-0:98.1.0"),  # says 3 months, holds 2
        (GOOD_HISTORY.replace("(2)", "(1)", 1), "0-0:98.1.0"),  # says 1 month, holds 2
        (GOOD_HISTORY.replace("06.748", "6.7.48"), "0-0:98.1.0"),
    ],
)
def test_malformed_peak_register_is_refused_naming_it(line: str, obis: str) -> None:
    lines = [GOOD_PEAK, GOOD_HISTORY]
    lines[0 if line.startswith("1-0:1.6.0") else 1] = line
    with pytest.raises(PeakRegisterError, match=re.escape(obis)) as refused:
        decode_capture(_telegram(*lines))
    assert isinstance(refused.value, TelegramError)  # exit 2 in the CLI

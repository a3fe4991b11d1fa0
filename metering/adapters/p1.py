"""Strict decoding of P1 telegrams (Belgian e-MUCS first, Dutch DSMR 4/5) with dsmr-parser.

Strict means: a telegram is refused (a `TelegramError`, exit 2 in the CLI) unless it is complete
(`/` ... `!CRC` CRLF), has CRLF line endings, carries a CRC16 that matches, holds the four
energy registers 1.8.1, 1.8.2, 2.8.1, 2.8.2 and a real meter clock. dsmr-parser alone is
lenient (an LF-only telegram parses to zero objects, an unparsable line is only logged), so
every requirement is checked here after it has parsed.

Values stay `Decimal` from the telegram text to integer Wh: `000661.701*kWh` -> 661701.
A Belgian (e-MUCS) telegram also yields its peak registers (`metering.adapters.p1_peaks`):
the snapshot is then a `P1Snapshot` whose `peaks` carry them in integer W.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from dsmr_parser import telegram_specifications as specs
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from metering.adapters.base import MeterSnapshot, Registers
from metering.adapters.p1_peaks import PeakDemand, read_peaks
from metering.errors import (
    MissingRegisterError,
    PlaceholderClockError,
    TelegramChecksumError,
    TelegramError,
)

#: (dsmr-parser attribute, OBIS code, what it is) of the registers every telegram must carry.
_IMPORT_T1 = ("ELECTRICITY_USED_TARIFF_1", "1-0:1.8.1", "import tariff 1")
_IMPORT_T2 = ("ELECTRICITY_USED_TARIFF_2", "1-0:1.8.2", "import tariff 2")
_EXPORT_T1 = ("ELECTRICITY_DELIVERED_TARIFF_1", "1-0:2.8.1", "export tariff 1")
_EXPORT_T2 = ("ELECTRICITY_DELIVERED_TARIFF_2", "1-0:2.8.2", "export tariff 2")

_CRC_TRAILER = re.compile(r"!([0-9A-F]{1,4})\r\n\Z")
_CRC_AT_EOF_NO_CRLF = re.compile(rb"\r\n![0-9A-F]{4}\Z")
_BARE_LF = re.compile(r"(?<!\r)\n")
_CLOCK_LINE = re.compile(r"^\d-\d:1\.0\.0\(([^)]*)\)\r$", re.MULTILINE)
_DSMR_VERSION = re.compile(r"^1-3:0\.2\.8\((\d+)\)\r$", re.MULTILINE)
_EMUCS_VERSION = "0-0:96.1.4("
#: Summer time is UTC+2, winter time UTC+1 (CET/CEST), as the S/W suffix says.
_CLOCK_OFFSETS = {"S": timedelta(hours=2), "W": timedelta(hours=1)}
#: No DSMR 4+ / e-MUCS meter existed before this; earlier clocks are placeholders
#: (000101010000W = 2000-01-01, 700101010000W = 1970-01-01) of a meter whose clock is unset.
_EARLIEST_REAL_CLOCK = datetime(2010, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class P1Snapshot(MeterSnapshot):
    """A P1 meter's snapshot: the energy registers and, on an e-MUCS meter, its peaks."""

    peaks: PeakDemand | None = None

    def to_json(self) -> dict[str, Any]:
        """`read-p1 --json`: the snapshot's shape plus `peaks` (integer W, null if none)."""
        return {**super().to_json(), "peaks": self.peaks.to_json() if self.peaks else None}


@cache
def _parser(name: str) -> TelegramParser:
    # Built once per spec: the constructor compiles one regex per OBIS object.
    return TelegramParser(getattr(specs, name), apply_checksum_validation=True)


def _candidate_specs(text: str) -> tuple[str, ...]:
    """Pick dsmr-parser specs from the telegram's version lines, best guess first."""
    if _EMUCS_VERSION in text:
        return ("BELGIUM_FLUVIUS", "V5")
    version = _DSMR_VERSION.search(text)
    if version is not None and version.group(1).startswith("4"):
        return ("V4", "V5")
    return ("V5", "V4")


def split_telegrams(data: bytes) -> list[str]:
    """Split a byte stream into complete telegrams with dsmr-parser's TelegramBuffer.

    Bytes are decoded as latin-1 so each byte stays one character: the CRC covers bytes.
    Data before the first `/` and an unfinished telegram at the end are dropped.
    """
    buffer = TelegramBuffer()
    buffer.append(data.decode("latin-1"))
    return list(buffer.get_all())


def parse_clock(raw: str) -> datetime:
    """Convert a P1 clock `YYMMDDhhmmss` + `S`/`W` to an aware UTC datetime; refuse placeholders."""
    if len(raw) != 13 or raw[12] not in _CLOCK_OFFSETS or not raw[:12].isdigit():
        raise PlaceholderClockError(f"meter clock {raw!r} is not YYMMDDhhmmss followed by S or W")
    try:
        local = datetime.strptime(raw[:12], "%y%m%d%H%M%S")
    except ValueError as error:
        raise PlaceholderClockError(f"meter clock {raw!r} is not a real date") from error
    moment = (local - _CLOCK_OFFSETS[raw[12]]).replace(tzinfo=UTC)
    if moment < _EARLIEST_REAL_CLOCK:
        raise PlaceholderClockError(f"meter clock {raw!r} is a placeholder (clock not set)")
    return moment


def to_wh(value: object, unit: object, what: str) -> int:
    """Convert a register value printed in kWh or Wh to integer Wh, exactly (Decimal)."""
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise MissingRegisterError(f"{what}: {value!r} is not a non-negative number")
    unit_name = unit.lower() if isinstance(unit, str) else ""
    if unit_name == "kwh":
        wh = value.scaleb(3)  # exact decimal shift, no binary float anywhere
    elif unit_name == "wh":
        wh = value
    else:
        raise MissingRegisterError(f"{what}: unit {unit!r} is not kWh or Wh")
    if wh != wh.to_integral_value():
        raise MissingRegisterError(f"{what}: {value} {unit} is not a whole number of Wh")
    return int(wh)


def _register(telegram: Any, spec: tuple[str, str, str]) -> int:
    attribute, obis, what = spec
    cosem = getattr(telegram, attribute, None)
    if cosem is None:
        raise MissingRegisterError(f"telegram has no {obis} register ({what})")
    return to_wh(cosem.value, cosem.unit, f"{obis} ({what})")


def _parse_with_specs(text: str) -> Any:
    last_error: Exception | None = None
    for name in _candidate_specs(text):
        try:
            return _parser(name).parse(text)
        except InvalidChecksumError as error:
            written = _CRC_TRAILER.search(text)
            computed = TelegramParser.crc16(text[: text.rindex("!") + 1])
            raise TelegramChecksumError(
                f"CRC mismatch: telegram says {written.group(1) if written else '?'}, "
                f"its content gives {computed:04X}"
            ) from error
        except ParseError as error:
            raise TelegramChecksumError(f"cannot check the CRC: {error}") from error
        except Exception as error:
            # dsmr-parser raises bare ValueErrors when a spec's value parsers do not fit the
            # lines (e.g. a Hungarian telegram under the Belgian spec): try the next spec.
            last_error = error
    raise TelegramError(f"no DSMR specification parses this telegram: {last_error}")


def _equipment_id(telegram: Any) -> str:
    for attribute in ("BELGIUM_EQUIPMENT_IDENTIFIER", "EQUIPMENT_IDENTIFIER"):
        cosem = getattr(telegram, attribute, None)
        if cosem is not None and isinstance(cosem.value, str) and cosem.value:
            raw: str = cosem.value
            # Meters print the serial number as hex-encoded ASCII; show it readable if it is.
            try:
                decoded = bytes.fromhex(raw).decode("ascii")
            except ValueError:
                return raw
            return decoded if decoded.isprintable() and decoded else raw
    return ""


def decode_telegram(text: str, *, allow_placeholder_clock: bool = False) -> P1Snapshot:
    """Decode ONE complete telegram (`/` through `!CRC` CRLF) into a snapshot, strictly.

    `allow_placeholder_clock=True` keeps the registers of a meter whose clock is unset
    (meter_timestamp is then None); the agent never uses it.
    """
    if not text.startswith("/"):
        raise TelegramError("telegram does not start with '/' (truncated?)")
    if _BARE_LF.search(text):
        raise TelegramError("telegram has LF-only line endings; P1 requires CRLF")
    if "!" not in text:
        raise TelegramError("telegram is truncated: no '!' end marker")
    if _CRC_TRAILER.search(text) is None:
        raise TelegramChecksumError(
            "telegram carries no CRC after '!' (DSMR 2/3 telegrams are not accepted)"
        )
    telegram = _parse_with_specs(text)
    import_t1, import_t2 = _register(telegram, _IMPORT_T1), _register(telegram, _IMPORT_T2)
    export_t1, export_t2 = _register(telegram, _EXPORT_T1), _register(telegram, _EXPORT_T2)
    imported_total = getattr(telegram, "ELECTRICITY_IMPORTED_TOTAL", None)
    if imported_total is not None:
        # A meter printing 1.8.0 may use tariffs 3 and 4 (e.g. Hungary); we only model 1 and 2,
        # so refuse rather than silently under-report.
        total = to_wh(imported_total.value, imported_total.unit, "1-0:1.8.0 (import total)")
        if total != import_t1 + import_t2:
            raise TelegramError(
                f"1-0:1.8.0 = {total} Wh is not tariff 1 + tariff 2 = {import_t1 + import_t2} Wh"
            )
    clock = _CLOCK_LINE.search(text)
    if clock is None:
        raise MissingRegisterError("telegram has no 0-0:1.0.0 meter clock")
    try:
        timestamp: datetime | None = parse_clock(clock.group(1))
    except PlaceholderClockError:
        if not allow_placeholder_clock:
            raise
        timestamp = None
    # Only e-MUCS defines 1.4.0 / 1.6.0 / 98.1.0 as peaks (a Hungarian 98.1.0 is a billing
    # profile), and only dsmr-parser's Belgian specification parses them.
    peaks = read_peaks(telegram, text) if _EMUCS_VERSION in text else None
    return P1Snapshot(
        equipment_id=_equipment_id(telegram),
        import_wh=Registers.of_tariffs(import_t1, import_t2),
        export_wh=Registers.of_tariffs(export_t1, export_t2),
        meter_timestamp=timestamp,
        peaks=peaks,
    )


def decode_capture(data: bytes, *, allow_placeholder_clock: bool = False) -> P1Snapshot:
    """Decode a captured byte stream (a file): every complete telegram must pass; the last wins.

    A capture is evidence, so a bad telegram in it is an error, not something to skip.
    At end of file the CRLF after a complete 4-digit CRC may be missing (files saved without a
    final newline); it is restored there only, never in a live stream.
    """
    if _CRC_AT_EOF_NO_CRLF.search(data):
        data += b"\r\n"
    telegrams = split_telegrams(data)
    if not telegrams:
        if b"\n" in data and b"\r\n" not in data:
            raise TelegramError("no telegram found: LF-only line endings (P1 requires CRLF)")
        if b"/" in data:
            raise TelegramError("no complete telegram found: truncated or missing '!CRC' line")
        raise TelegramError("no P1 telegram found (no '/' header)")
    snapshot = None
    for text in telegrams:
        snapshot = decode_telegram(text, allow_placeholder_clock=allow_placeholder_clock)
    assert snapshot is not None
    return snapshot

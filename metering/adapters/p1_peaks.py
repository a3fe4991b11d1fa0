"""The e-MUCS peak registers of a Belgian P1 telegram (the Flemish capacity tariff's inputs).

dsmr-parser's BELGIUM_FLUVIUS specification names three objects, read here as integer W
with aware UTC times:

- BELGIUM_CURRENT_AVERAGE_DEMAND, 1-0:1.4.0: the running average demand of the current
  quarter-hour (what the meter will record as that quarter-hour's peak candidate);
- BELGIUM_MAXIMUM_DEMAND_MONTH, 1-0:1.6.0: the highest quarter-hour average of the month
  so far, with the time it ended;
- BELGIUM_MAXIMUM_DEMAND_13_MONTHS, 0-0:98.1.0: the peak history, one entry per past month
  (the month's start, when its peak occurred, the peak), at most 13.

Times are dsmr-parser's: the printed Belgian wall-clock time (CET/CEST) in UTC, the S/W
flag only choosing the repeated autumn hour (the e-MUCS spec example prints "S" on
5 March: it is read as winter time).

dsmr-parser only logs a line it cannot parse (and a history whose count disagrees with its
entries may make the whole Belgian spec fail), so every peak line present in the text is
checked against what was parsed: a line that is there but did not come out whole is a
PeakRegisterError naming the register, never a silent "no peak". A month in the history with
no peak yet prints a placeholder clock (632525252525W) and 0 kW: its `peak_at` is None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dsmr_parser import telegram_specifications as specs

from metering.errors import TelegramError

CURRENT_AVERAGE = ("BELGIUM_CURRENT_AVERAGE_DEMAND", "1-0:1.4.0", "current quarter-hour demand")
MONTH_PEAK = ("BELGIUM_MAXIMUM_DEMAND_MONTH", "1-0:1.6.0", "month's peak")
PEAK_HISTORY = ("BELGIUM_MAXIMUM_DEMAND_13_MONTHS", "0-0:98.1.0", "13-month peak history")
_REGISTERS = (CURRENT_AVERAGE, MONTH_PEAK, PEAK_HISTORY)
#: The meter keeps 13 months of history (e-MUCS P1 companion standard).
HISTORY_MONTHS = 13

_GROUP = re.compile(r"\(([^()]*)\)")


class PeakRegisterError(TelegramError):
    """An e-MUCS peak register (1-0:1.4.0, 1-0:1.6.0, 0-0:98.1.0) is present but malformed."""


def _line(text: str, obis: str) -> str | None:
    """The telegram's line of `obis` (any 'a-b:' channel prefix), without CRLF."""
    code = re.escape(obis.split(":", 1)[1])
    match = re.search(rf"^\d-\d:{code}(\(.*)\r$", text, re.MULTILINE)
    return match.group(0).rstrip("\r") if match else None


def to_w(value: object, unit: object, what: str) -> int:
    """A demand printed in kW (or W) as integer W, exactly (Decimal): 02.351*kW -> 2351."""
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise PeakRegisterError(f"{what}: {value!r} is not a non-negative number")
    unit_name = unit.lower() if isinstance(unit, str) else ""
    if unit_name == "kw":
        watts = value.scaleb(3)
    elif unit_name == "w":
        watts = value
    else:
        raise PeakRegisterError(f"{what}: unit {unit!r} is not kW or W")
    if watts != watts.to_integral_value():
        raise PeakRegisterError(f"{what}: {value} {unit} is not a whole number of W")
    return int(watts)


@dataclass(frozen=True)
class MonthPeak:
    """One month's peak: the quarter-hour average demand `peak_w` that ended at `peak_at`.

    `month_start` is the instant the month began (local midnight, in UTC); `peak_at` is None
    for a month the meter recorded no peak in (placeholder clock, 0 W).
    """

    month_start: datetime | None
    peak_w: int
    peak_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "month_start": _iso(self.month_start),
            "peak_w": self.peak_w,
            "peak_at": _iso(self.peak_at),
        }


@dataclass(frozen=True)
class PeakDemand:
    """The peak registers of one telegram (None / empty where the meter prints none)."""

    current_average_w: int | None
    month_peak: MonthPeak | None
    history: tuple[MonthPeak, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "current_average_w": self.current_average_w,
            "month_peak_w": self.month_peak.peak_w if self.month_peak else None,
            "month_peak_at": _iso(self.month_peak.peak_at) if self.month_peak else None,
            "history": [month.to_json() for month in self.history],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _line_fails(attribute: str, line: str) -> str | None:
    """Why dsmr-parser's Belgian parser of `attribute` refuses `line` alone (None: it does not)."""
    for obj in specs.BELGIUM_FLUVIUS["objects"]:
        if obj["value_name"] == attribute:
            try:
                obj["value_parser"].parse(line + "\r\n")
            except Exception as error:  # dsmr-parser raises bare ValueError, IndexError, ...
                return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            return None
    return "not in dsmr-parser's Belgian specification"


def _parsed(telegram: Any, text: str) -> list[tuple[str | None, Any]]:
    """(raw line, dsmr-parser's object) of each peak register; a line that did not parse fails.

    When one line breaks the Belgian specification, the telegram was parsed by another one
    and lacks all three: the line that fails on its own is the one named.
    """
    found = []
    missing = []
    for attribute, obis, what in _REGISTERS:
        line = _line(text, obis)
        cosem = getattr(telegram, attribute, None)
        found.append((line, cosem))
        if line is not None and cosem is None:
            missing.append((attribute, obis, what, line))
    for attribute, obis, what, line in missing:
        reason = _line_fails(attribute, line)
        if reason is not None:
            raise PeakRegisterError(f"{obis} ({what}) is malformed ({reason}): {line!r}")
    for _, obis, what, line in missing:
        raise PeakRegisterError(f"{obis} ({what}) is malformed: {line!r}")
    return found


def _peak(moment: object, value: object, unit: object, what: str) -> tuple[int, datetime | None]:
    watts = to_w(value, unit, what)
    if moment is None and watts:
        raise PeakRegisterError(f"{what}: a peak of {watts} W with no valid time")
    if moment is not None and not isinstance(moment, datetime):
        raise PeakRegisterError(f"{what}: {moment!r} is not a time")
    return watts, moment


def read_peaks(telegram: Any, text: str) -> PeakDemand | None:
    """The peak registers of a parsed telegram (`text` is its raw text); None if it has none."""
    (average_line, average), (peak_line, peak), (history_line, history) = _parsed(telegram, text)
    if average is None and peak is None and history is None:
        return None
    current_w = None
    if average is not None:
        current_w = to_w(average.value, average.unit, f"{CURRENT_AVERAGE[1]} ({average_line})")
    month = None
    if peak is not None:
        what = f"{MONTH_PEAK[1]} ({peak_line})"
        if len(peak.values) != 2:
            raise PeakRegisterError(f"{what}: expected (time)(demand)")
        watts, at = _peak(peak.datetime, peak.value, peak.unit, what)
        month = MonthPeak(None, watts, at)
    months: tuple[MonthPeak, ...] = ()
    if history is not None:
        months = _history(history, history_line or "")
    return PeakDemand(current_w, month, months)


def _history(entries: Any, line: str) -> tuple[MonthPeak, ...]:
    what = f"{PEAK_HISTORY[1]} ({line})"
    groups = _GROUP.findall(line)
    if not groups or not groups[0].isdigit():
        raise PeakRegisterError(f"{what}: no entry count")
    count = int(groups[0])
    # (count)(source id)(source id) then three groups per month.
    if count > HISTORY_MONTHS or len(groups) != 3 + 3 * count or len(entries) != count:
        raise PeakRegisterError(f"{what}: says {count} months but holds {len(groups) - 3} values")
    months = []
    for entry in entries:
        if not isinstance(entry.datetime, datetime):
            raise PeakRegisterError(f"{what}: a month start {entry.datetime!r} is not a time")
        watts, at = _peak(entry.occurred, entry.value, entry.unit, what)
        months.append(MonthPeak(entry.datetime, watts, at))
    return tuple(months)

"""Belgian local time of the operator's rows, to the chain's UTC quarter-hours.

The operator writes one row per quarter-hour in Brussels wall-clock time: the day summer time
starts has 92 rows (02:00-02:45 do not exist), the day it ends 100 (02:00-02:45 twice, summer
time first). A month's rows are therefore checked against the month's sequence of UTC
quarter-hours, read back in local time: the n-th row must show the n-th local time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")
QUARTER_HOUR_SECONDS = 900

_MONTH_IN_NAME = re.compile(r"(?<!\d)(20\d\d)[-_]?(0[1-9]|1[0-2])(?!\d)")


def month_text(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_quarter_hours(year: int, month: int) -> list[int]:
    """Unix start of every quarter-hour whose Brussels start lies in the month."""
    first = int(datetime(year, month, 1, tzinfo=BRUSSELS).timestamp())
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    last = int(datetime(after[0], after[1], 1, tzinfo=BRUSSELS).timestamp())
    return list(range(first, last, QUARTER_HOUR_SECONDS))


def local_wall_time(unix_s: int) -> datetime:
    """The naive Brussels wall-clock time a row shows for the quarter-hour starting at unix_s."""
    return datetime.fromtimestamp(unix_s, BRUSSELS).replace(tzinfo=None)


def show_local(unix_s: int) -> str:
    """'2027-10-31 02:15 CEST': the wall-clock time with its zone, unambiguous."""
    moment = datetime.fromtimestamp(unix_s, BRUSSELS)
    return moment.strftime("%Y-%m-%d %H:%M ") + str(moment.tzname())


def show_utc(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_in_name(name: str) -> tuple[int, int] | None:
    """A month written in a file name (2027-02, 2027_02, 202702), if there is one."""
    found = _MONTH_IN_NAME.findall(name)
    if len(found) != 1:
        return None
    year, month = found[0]
    return int(year), int(month)


def excel_serial_to_local(serial: float) -> datetime | None:
    """An Excel serial date (1900 system) as a naive wall-clock time on a quarter-hour, or
    None when it is not within a second of one."""
    quarters = serial * 96
    whole = round(quarters)
    if abs(quarters - whole) * QUARTER_HOUR_SECONDS > 1:
        return None
    return datetime(1899, 12, 30) + timedelta(minutes=15 * whole)

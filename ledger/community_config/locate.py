"""Where a key of a TOML file is written: its line, for error messages.

tomllib gives values without positions, so a validation error's location (("members", 1,
"ean")) is found again in the text: the tables (`[rules]`) and arrays of tables
(`[[members]]`, counted) in order, and the `key = value` lines under each. Dotted keys and
inline tables are not followed; a location they hide falls back to its nearest table.
"""

from __future__ import annotations

import re

Location = tuple[str | int, ...]

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_-]+)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def key_lines(text: str) -> dict[Location, int]:
    """Every table, array element and plain key of `text` with its 1-based line."""
    lines: dict[Location, int] = {}
    counts: dict[str, int] = {}
    table: Location = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _ARRAY_HEADER.match(line):
            name = match.group(1)
            index = counts.get(name, 0)
            counts[name] = index + 1
            table = (name, index)
            lines.setdefault((name,), number)
        elif match := _TABLE_HEADER.match(line):
            table = (match.group(1),)
        elif match := _KEY.match(line):
            lines.setdefault((*table, match.group(1)), number)
            continue
        else:
            continue
        lines.setdefault(table, number)
    return lines


def line_of(text: str, location: Location) -> int | None:
    """The line of `location`, or of its nearest enclosing table written in the file."""
    lines = key_lines(text)
    for end in range(len(location), 0, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return None


def dotted(location: Location) -> str:
    """("members", 1, "ean") -> "members[1].ean" (indices from 0, as TOML arrays count)."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text

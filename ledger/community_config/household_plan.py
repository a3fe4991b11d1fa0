"""What a household's `schedule` and `cancel` post, checked before anything is signed.

A posting replaces, for every interval k >= its firstIntervalId, the entries of earlier
postings (IQuartierExchange, "Schedules"). So each posting made here starts at the period's
first interval whose gate is still open (with a margin for the next block): a schedule is the
household's whole plan for the rest of the period, and a higher version replaces every open
interval, never a closed one. A cancel is such a posting with the cancelled intervals empty
and the later open entries re-supplied as they stand (the contract has no other way to
withdraw an entry). The locks of earlier postings stay locked until the period's settlement,
which releases them; a cancel locks only the buy entries it re-supplies.

The schedule file (TOML):

    period = 20425        # optional; default: the next period
    version = 2           # optional; default: the last version on chain + 1
    [[entries]]
    interval = 52         # index in the period, 0 .. period_intervals - 1
    side = "sell"         # sell | buy
    energy_wh = 500
    price_per_kwh = 60000 # token units per kWh: the lowest ask or the highest bid
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.community_config.errors import ConfigRefusedError
from ledger.entries import NO_ENTRY, Entry, EntrySide, ScheduleFormatError
from ledger.rules import Rules, TimeGrid
from ledger.schedules import Schedule

#: Seconds kept between now and a gate: the posting's block comes a little later.
GATE_MARGIN_SECONDS = 15
SIDES = {"sell": EntrySide.SELL, "buy": EntrySide.BUY}
SIDE_NAMES = {EntrySide.NONE: "none", EntrySide.SELL: "sell", EntrySide.BUY: "buy"}


class ScheduleRefusedError(ConfigRefusedError):
    """A schedule or cancel the exchange would refuse (closed gate, interval outside the
    period, entry too small, nothing to cancel): exit 2, nothing signed or sent."""


@dataclass(frozen=True)
class Request:
    """What the household asked for: entries by interval index, and maybe period/version."""

    entries: dict[int, Entry]
    period_id: int | None = None
    version: int | None = None


def parse_flag(side: str, text: str) -> tuple[int, Entry]:
    """`--sell 52:500:60000` -> (52, Entry(sell, 500 Wh, 60000 per kWh))."""
    parts = text.split(":")
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise ScheduleRefusedError(
            f"--{side} {text!r}: give INTERVAL:ENERGY_WH:PRICE_PER_KWH (three integers)"
        )
    index, energy_wh, price = (int(part) for part in parts)
    return index, _entry(f"--{side} {text}", side, energy_wh, price)


def _entry(where: str, side: str, energy_wh: Any, price: Any) -> Entry:
    if side not in SIDES:
        raise ScheduleRefusedError(f"{where}: side is sell or buy, not {side!r}")
    try:
        return Entry(SIDES[side], energy_wh, price)
    except ScheduleFormatError as error:
        raise ScheduleRefusedError(f"{where}: {error}") from None


def add(entries: dict[int, Entry], index: int, entry: Entry, where: str) -> None:
    if index in entries:
        raise ScheduleRefusedError(f"{where}: interval {index} has two entries")
    entries[index] = entry


def load_request(path: Path) -> Request:
    """A schedule file (see the module docstring)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ScheduleRefusedError(f"{path}: unreadable ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ScheduleRefusedError(f"{path}: {error}") from None
    unknown = set(raw) - {"period", "version", "entries"}
    if unknown:
        raise ScheduleRefusedError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    entries: dict[int, Entry] = {}
    items = raw.get("entries", [])
    if not isinstance(items, list):
        raise ScheduleRefusedError(f"{path}: entries: a list of [[entries]] tables")
    for number, item in enumerate(items, start=1):
        where = f"{path}: entries #{number}"
        if not isinstance(item, Mapping) or set(item) != {
            "interval",
            "side",
            "energy_wh",
            "price_per_kwh",
        }:
            raise ScheduleRefusedError(
                f"{where}: needs exactly interval, side, energy_wh, price_per_kwh"
            )
        index = _integer(where + ": interval", item["interval"])
        entry = _entry(where, str(item["side"]), item["energy_wh"], item["price_per_kwh"])
        add(entries, index, entry, where)
    return Request(
        entries,
        _optional(f"{path}: period", raw.get("period")),
        _optional(f"{path}: version", raw.get("version")),
    )


def _integer(where: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ScheduleRefusedError(f"{where}: a non-negative integer, not {value!r}")
    return value


def _optional(where: str, value: Any) -> int | None:
    return None if value is None else _integer(where, value)


def first_open_interval(grid: TimeGrid, rules: Rules, period_id: int, now: int) -> int:
    """The period's first interval whose gate is open after the margin (refused: none)."""
    for interval_id in grid.intervals(period_id):
        if grid.gate(interval_id, rules) > now + GATE_MARGIN_SECONDS:
            return interval_id
    raise ScheduleRefusedError(f"period {period_id} has no interval whose gate is still open")


def _interval_id(grid: TimeGrid, period_id: int, index: int) -> int:
    if not 0 <= index < grid.period_intervals:
        raise ScheduleRefusedError(
            f"interval {index} is not in a period of {grid.period_intervals} intervals"
            f" (0 .. {grid.period_intervals - 1})"
        )
    return grid.first_interval(period_id) + index


def plan_schedule(
    household: str,
    version: int,
    period_id: int,
    request: Request,
    grid: TimeGrid,
    rules: Rules,
    now: int,
) -> Schedule:
    """The posting of `request`: from the first open interval to its last entry."""
    if not request.entries:
        raise ScheduleRefusedError(
            "a schedule needs at least one entry (--sell/--buy or a file); "
            "`quartier household cancel` empties intervals"
        )
    first = first_open_interval(grid, rules, period_id, now)
    by_id: dict[int, Entry] = {}
    for index, entry in sorted(request.entries.items()):
        interval_id = _interval_id(grid, period_id, index)
        if interval_id < first:
            raise ScheduleRefusedError(
                f"interval {index} of period {period_id}: its gate closed"
                f" (the first open one is {first - grid.first_interval(period_id)})"
            )
        if entry.energy_wh < rules.min_entry_wh:
            raise ScheduleRefusedError(
                f"interval {index}: {entry.energy_wh} Wh is below the community's"
                f" min_entry_wh ({rules.min_entry_wh})"
            )
        by_id[interval_id] = entry
    entries = tuple(by_id.get(k, NO_ENTRY) for k in range(first, max(by_id) + 1))
    return Schedule(household, period_id, version, first, entries)


def book_of(postings: Iterable[Schedule]) -> dict[int, Entry]:
    """The entry per interval id after `postings` (in posting order): each replaces every
    interval from its first on."""
    book: dict[int, Entry] = {}
    for posting in postings:
        book = {k: entry for k, entry in book.items() if k < posting.first_interval_id}
        for offset, entry in enumerate(posting.entries):
            if entry.side is not EntrySide.NONE:
                book[posting.first_interval_id + offset] = entry
    return book


def plan_cancel(
    household: str,
    version: int,
    period_id: int,
    book: Mapping[int, Entry],
    grid: TimeGrid,
    rules: Rules,
    now: int,
    from_index: int | None,
    to_index: int | None,
) -> Schedule:
    """Empty the open intervals [from, to) (default: every open one); later entries stay."""
    first_open = first_open_interval(grid, rules, period_id, now)
    start = first_open if from_index is None else _interval_id(grid, period_id, from_index)
    if start < first_open:
        raise ScheduleRefusedError(
            f"interval {from_index} of period {period_id}: its gate closed (the first open"
            f" one is {first_open - grid.first_interval(period_id)})"
        )
    end = grid.first_interval(period_id + 1)
    if to_index is not None:
        end = _interval_id(grid, period_id, to_index - 1) + 1 if to_index > 0 else start
    if end <= start:
        raise ScheduleRefusedError("--to must be after --from")
    if not any(start <= k < end for k in book):
        base = grid.first_interval(period_id)
        raise ScheduleRefusedError(
            f"period {period_id} has no entry of {household} to cancel in intervals"
            f" {start - base} .. {end - 1 - base}"
        )
    kept = {k: entry for k, entry in book.items() if k >= end}
    last = max(kept, default=start - 1)
    entries = tuple(kept.get(k, NO_ENTRY) for k in range(start, last + 1))
    return Schedule(household, period_id, version, start, entries)

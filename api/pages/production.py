"""A household's own PV, from its production meter's quarter-hours, never guessed.

The signed meters measure the connection point only (import and export registers,
`metering.reading.Reading`): what the panels produced is not in them. Where a member has a
production meter (in Wallonia, the green-certificate meter of a PV installation) or a
simulation stands in for one (`quartier demo`'s simulated PV, `demo_production_rows`), its
quarter-hours are kept in one CSV named by QUARTIER_PRODUCTION:

    ean,interval_start_utc,production_wh
    541448800000000017,2026-12-01T10:00:00Z,412

The member is found by its EAN in the community file (QUARTIER_COMMUNITY). The page shows
the own PV of a set of quarter-hours only when every one of them has a row; otherwise it
says "not measured" (a missing quarter-hour is not 0 Wh).
"""

from __future__ import annotations

import csv
import functools
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

from ledger.community_config.errors import ConfigRefusedError
from ledger.community_config.model import load_config
from ledger.errors import LedgerError

_log = logging.getLogger(__name__)
HEADER = ("ean", "interval_start_utc", "production_wh")


class ProductionFileError(LedgerError):
    """The production file cannot be read as `HEADER` rows of whole, non-negative Wh."""


def _start(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@functools.lru_cache(maxsize=4)
def _read(path: Path, modified_ns: int) -> dict[str, dict[int, int]]:
    found: dict[str, dict[int, int]] = {}
    try:
        with path.open(encoding="utf-8", newline="") as source:
            rows = csv.reader(source)
            if tuple(next(rows, ())) != HEADER:
                raise ProductionFileError(f"{path}: the first line must be {','.join(HEADER)}")
            for line, row in enumerate(rows, start=2):
                try:
                    ean, start, wh = row
                    value = int(wh)
                    if value < 0:
                        raise ValueError(wh)
                    found.setdefault(ean, {})[_start(start)] = value
                except ValueError:
                    raise ProductionFileError(
                        f"{path}:{line}: expected an EAN, a UTC time and whole Wh >= 0"
                    ) from None
    except OSError as error:
        raise ProductionFileError(f"{path}: {error.strerror}") from None
    return found


@functools.lru_cache(maxsize=4)
def _eans(path: Path, modified_ns: int) -> dict[str, str]:
    return {m.address.lower(): m.ean for m in load_config(path).members}


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


class OwnProduction:
    """One household's production meter, if the service knows one."""

    def __init__(self, by_start: dict[int, int] | None) -> None:
        self._by_start = by_start

    @classmethod
    def of(
        cls, production_file: Path | None, community_file: Path | None, household: str
    ) -> OwnProduction:
        """The household's rows (none: no file, no EAN for it, or no row for its EAN)."""
        if production_file is None or community_file is None:
            return cls(None)
        try:
            ean = _eans(community_file, _modified(community_file)).get(household.lower())
            if ean is None:
                return cls(None)
            return cls(_read(production_file, _modified(production_file)).get(ean))
        except (ProductionFileError, ConfigRefusedError) as error:
            # An unreadable file measures nothing: the page says "not measured", the log why.
            _log.warning("own PV not shown: %s", error)
            return cls(None)

    @property
    def measured(self) -> bool:
        return self._by_start is not None

    def at(self, start: int) -> int | None:
        """Wh produced in the quarter-hour starting at `start`, None when not measured."""
        return None if self._by_start is None else self._by_start.get(start)

    def total(self, starts: Iterable[int]) -> int | None:
        """Wh produced over the quarter-hours `starts`; None unless each one was measured."""
        values = [self.at(start) for start in starts]
        if not values or any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)


def demo_production_rows(
    households: int,
    seed: int,
    simulated_day: date,
    shift_intervals: int,
    eans: list[str],
) -> list[tuple[str, str, int]]:
    """The simulated PV of `quartier demo`'s households (`SimulatedFleet(households, seed)`,
    default fleet settings) on `simulated_day` (UTC), moved `shift_intervals` quarter-hours
    later as the demo moves its meters onto the node's day; rows for the PV homes only (a
    home without panels has no production meter), `eans[h]` naming home h."""
    from metering.adapters.simulated import SimulatedFleet

    fleet = SimulatedFleet(households, seed)
    flows = fleet.year_flows(simulated_day.year)
    first = int(datetime(simulated_day.year, 1, 1, tzinfo=UTC).timestamp()) // 900
    day_first = int(datetime.combine(simulated_day, datetime.min.time(), UTC).timestamp()) // 900
    rows = []
    for h in range(households):
        if not fleet.members[h].pv_kwp:
            continue
        for slot in range(day_first - first, day_first - first + 96):
            start = (first + slot + shift_intervals) * 900
            stamp = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append((eans[h], stamp, int(flows.pv_wh[h, slot])))
    return rows

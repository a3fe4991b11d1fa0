"""What a household saved against being alone: the Walloon bill of its settled quarter-hours
without the community and with it (`api.economics.bill.member_bill`), at the prices of the
supply contract its community file names (`QUARTIER_COMMUNITY`, `members[].contract`).

No community file, no contract for the member, or no tariff for its region and year: the
page says which, it never guesses a contract.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from api.economics.bill import Bill, IntervalFlows, member_bill
from api.economics.errors import EconomicsError
from api.economics.tariff import Member, Tariff, tariff_of
from api.pages.replay import HouseholdQuarter
from ledger.community_config.errors import ConfigRefusedError
from ledger.community_config.model import load_config
from ledger.rules import TimeGrid

#: Why no saving is shown: no community file configured, the member has no contract in it,
#: or no tariff file covers its region and year.
NO_FILE = "no-community-file"
NO_CONTRACT = "no-contract"
NO_TARIFF = "no-tariff"


@dataclass(frozen=True)
class Savings:
    """The day's and the month's bills, or `missing` saying why there are none."""

    day: Bill | None = None
    month: Bill | None = None
    missing: str | None = None


@functools.lru_cache(maxsize=8)
def _contracts(path: Path, modified_ns: int) -> dict[str, tuple[str, Member]]:
    config = load_config(path)
    return {
        entry.address.lower(): (
            entry.contract.region,
            Member(
                entry.contract.dso,
                entry.contract.supply,
                entry.contract.injection,
                entry.contract.in_building,
            ),
        )
        for entry in config.members
        if entry.contract is not None
    }


def member_contract(community_file: Path | None, address: str) -> tuple[str, Member] | str:
    """(region, contract) of `address` in the community file, else why not (NO_FILE,
    NO_CONTRACT). The file is re-read when it changes."""
    if community_file is None:
        return NO_FILE
    try:
        found = _contracts(community_file, community_file.stat().st_mtime_ns)
    except (OSError, ConfigRefusedError):
        return NO_FILE
    return found.get(address.lower(), NO_CONTRACT)


def flows_of(grid: TimeGrid, quarters: Sequence[HouseholdQuarter]) -> list[IntervalFlows]:
    """The settled quarter-hours as the bill's flows (live ones are not billed)."""
    return [
        IntervalFlows(
            grid.interval_start(q.interval_id),
            q.import_wh,
            q.export_wh,
            q.from_neighbours_wh,
            q.to_neighbours_wh,
        )
        for q in quarters
        if q.settled
    ]


def bill_of(
    tariff: Tariff, member: Member, grid: TimeGrid, quarters: Sequence[HouseholdQuarter]
) -> Bill | None:
    """The bills of `quarters` (None when none is settled). The change with neighbours is
    the settlement's milli-units summed, floored to whole units (the chain's own change
    rounds each period; the two differ by less than a unit a period)."""
    flows = flows_of(grid, quarters)
    if not flows:
        return None
    change_units = sum(q.money_milli for q in quarters if q.settled) // 1000
    return member_bill(tariff, member, flows, change_units)


def savings(
    community_file: Path | None,
    address: str,
    grid: TimeGrid,
    day: date,
    day_quarters: Sequence[HouseholdQuarter],
    month_quarters: Sequence[HouseholdQuarter],
) -> Savings:
    """The household's day and month bills at its contract's prices, or why there are none."""
    contract = member_contract(community_file, address)
    if isinstance(contract, str):
        return Savings(missing=contract)
    region, member = contract
    try:
        tariff = tariff_of(region, day.year)
        return Savings(
            bill_of(tariff, member, grid, day_quarters),
            bill_of(tariff, member, grid, month_quarters),
        )
    except EconomicsError:
        return Savings(missing=NO_TARIFF)

"""A member's month, as numbers: computed from the chain's record and the tariff, no text.

A day of the statement is a settlement period of the community (the chain's day), labelled
with the local date (Europe/Brussels) of its start; a month holds the periods that start in
it. Per period: the energy the member received (bought) and delivered (sold) as
HouseholdSettled reports it, what it paid and was paid in the replayed quarter-hours (the
rule's exact milli-units: their difference is the chain's change, to less than a unit of
rounding), and the change itself as the chain settled it. Over the month: the Walloon bill
with and without the community (`api.economics.bill`, per quarter-hour at the member's
prices), the 15-minute peak (the highest quarter-hour offtake of the signed meter data x 4),
where its offtake came from and its injection went, and its neighbours pro rata
(`api.statements.sharing`). Later settlement versions of its periods (corrections on the
grid operator's volumes) are its credit and debit lines (`Correction`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from api.economics.bill import Bill, IntervalFlows, member_bill
from api.economics.tariff import Tariff
from api.settlement import IntervalSettlement, Side
from api.statements.errors import NoSettledDataError, StatementError
from api.statements.members import MemberInfo
from api.statements.record import ChainRecord
from api.statements.sharing import interval_pairs
from ledger.audit import Problem

LOCAL_ZONE = ZoneInfo("Europe/Brussels")
#: Wh in a quarter-hour x 4 = average W over it.
QUARTERS_PER_HOUR = 4


@dataclass(frozen=True)
class Day:
    """One settlement period of the member."""

    period_id: int
    day: date
    start: int
    end: int
    bought_wh: int
    sold_wh: int
    paid_milli: int
    earned_milli: int
    change_units: int
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Correction:
    """One line of a later settlement version for the member (IQuartierSettlementVersions):
    the difference from the version before, on the source's volumes (the grid operator's
    workbook). Positive units: a credit; negative: a debit."""

    period_id: int
    start: int
    end: int
    version: int
    source_keccak: bytes
    sold_wh: int
    bought_wh: int
    change_units: int


@dataclass(frozen=True)
class Neighbour:
    """What the member shared with one neighbour over the month (exact, pro rata)."""

    address: str
    bought_wh: Fraction
    paid_milli: Fraction
    sold_wh: Fraction
    earned_milli: Fraction


@dataclass(frozen=True)
class QuarterHour:
    """One quarter-hour of the member's meter and trades, Wh."""

    start: int
    offtake_wh: int
    injection_wh: int
    bought_wh: int
    sold_wh: int


@dataclass(frozen=True)
class Market:
    """The quarter-hour in which the member shared the most: every entry of its book
    (side, Wh, limit price after the community's floor and ceiling) and its clearing."""

    start: int
    asks: tuple[tuple[int, int], ...]
    bids: tuple[tuple[int, int], ...]
    price_per_kwh: int
    traded_wh: int


@dataclass(frozen=True)
class MonthStatement:
    """Everything the statement shows, in integers (and exact fractions for the pro rata)."""

    member: MemberInfo
    year: int
    month: int
    tariff_file: str
    days: tuple[Day, ...]
    offtake_wh: int
    injection_wh: int
    bill: Bill
    peak_wh: int
    peak_start: int
    neighbours: tuple[Neighbour, ...]
    #: Problems of the audit in the month's periods, then those of no period (end state).
    problems: tuple[Problem, ...]
    audited_to_block: int
    #: The day the member shared the most, quarter-hour by quarter-hour.
    profile: tuple[QuarterHour, ...] = ()
    market: Market | None = None
    #: Credit and debit lines of later settlement versions of the month's periods.
    corrections: tuple[Correction, ...] = ()

    @property
    def bought_wh(self) -> int:
        return sum(day.bought_wh for day in self.days)

    @property
    def sold_wh(self) -> int:
        return sum(day.sold_wh for day in self.days)

    @property
    def change_units(self) -> int:
        return sum(day.change_units for day in self.days)

    @property
    def corrections_units(self) -> int:
        return sum(line.change_units for line in self.corrections)

    @property
    def total_units(self) -> int:
        """The month's change with its corrections."""
        return self.change_units + self.corrections_units

    @property
    def peak_w(self) -> int:
        return self.peak_wh * QUARTERS_PER_HOUR


def local_date(unix_seconds: int) -> date:
    return datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(LOCAL_ZONE).date()


def parse_month(text: str) -> tuple[int, int]:
    """ "YYYY-MM" -> (year, month) (StatementError otherwise)."""
    try:
        moment = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise StatementError(f"--month must be YYYY-MM, got {text!r}") from None
    return moment.year, moment.month


def month_statement(
    record: ChainRecord, member: MemberInfo, tariff: Tariff, year: int, month: int
) -> MonthStatement:
    """The member's statement of `year`-`month` (NoSettledDataError when it has no settled
    period that starts in the month; StatementError when a period cannot be replayed)."""
    grid = record.grid
    address = member.address.lower()
    periods = sorted(
        period_id
        for period_id, household in record.settled
        if household == address
        and (
            local_date(grid.period_start(period_id)).year,
            local_date(grid.period_start(period_id)).month,
        )
        == (year, month)
    )
    if not periods:
        raise NoSettledDataError(
            f"member {member.name} ({member.address}) has no settled period in "
            f"{year:04d}-{month:02d}"
        )
    days, flows = [], []
    neighbours: dict[str, list[Fraction]] = defaultdict(lambda: [Fraction(0)] * 4)
    peak_wh, peak_start = -1, 0
    profile: list[QuarterHour] = []
    market: Market | None = None
    most_shared = best_interval = -1
    for period_id in periods:
        replayed = record.replayed.get(period_id)
        if replayed is None:
            raise StatementError(
                f"period {period_id} cannot be replayed from the chain (the audit could not "
                "recompute it): no statement is made from incomplete data"
            )
        event = record.settled[(period_id, address)]
        addresses = replayed.addresses()
        h = next(i for i, a in enumerate(addresses) if a.lower() == address)
        imports, exports = replayed.metered(member.address, grid)
        paid = earned = 0
        rows: list[QuarterHour] = []
        for offset, interval in enumerate(replayed.settlement.intervals):
            side = interval.book.sides[h]
            delivered = interval.netting.delivered_wh[h]
            money = interval.netting.money_milli[h]
            bought = delivered if side == int(Side.BUY) else 0
            sold = delivered if side == int(Side.SELL) else 0
            paid += -money if money < 0 else 0
            earned += money if money > 0 else 0
            start = grid.interval_start(interval.interval_id)
            flows.append(IntervalFlows(start, imports[offset], exports[offset], bought, sold))
            rows.append(QuarterHour(start, imports[offset], exports[offset], bought, sold))
            if delivered > best_interval:
                best_interval, market = delivered, _market(interval, start)
            if imports[offset] > peak_wh:
                peak_wh, peak_start = imports[offset], start
            for pair in interval_pairs(interval, addresses):
                if pair.buyer.lower() == address:
                    row = neighbours[pair.seller]
                    row[0] += pair.energy_wh
                    row[1] += pair.paid_milli
                elif pair.seller.lower() == address:
                    row = neighbours[pair.buyer]
                    row[2] += pair.energy_wh
                    row[3] += pair.paid_milli
        if sum(r.bought_wh + r.sold_wh for r in rows) > most_shared:
            most_shared, profile = sum(r.bought_wh + r.sold_wh for r in rows), rows
        days.append(
            Day(
                period_id,
                local_date(grid.period_start(period_id)),
                grid.period_start(period_id),
                grid.period_end(period_id),
                event.received_wh,
                event.delivered_wh,
                paid,
                earned,
                event.change_units,
                tuple(p for p in record.audit.problems if p.period_id == period_id),
            )
        )
    bill = member_bill(tariff, member.contract, flows, sum(day.change_units for day in days))
    wanted = set(periods)
    problems = tuple(
        p for p in record.audit.problems if p.period_id in wanted or p.period_id is None
    )
    return MonthStatement(
        member=member,
        year=year,
        month=month,
        tariff_file=tariff.file,
        days=tuple(days),
        offtake_wh=sum(f.offtake_wh for f in flows),
        injection_wh=sum(f.injection_wh for f in flows),
        bill=bill,
        peak_wh=max(peak_wh, 0),
        peak_start=peak_start,
        neighbours=tuple(
            Neighbour(other, *row)
            for other, row in sorted(neighbours.items(), key=lambda kv: kv[0].lower())
        ),
        problems=problems,
        audited_to_block=record.audit.to_block,
        profile=tuple(profile),
        market=market if best_interval > 0 else None,
        corrections=corrections_of(record, address, wanted),
    )


def corrections_of(record: ChainRecord, address: str, periods: set[int]) -> tuple[Correction, ...]:
    """The member's lines in the later versions of `periods`, in chain order."""
    grid = record.grid
    found = []
    for version in record.versions:
        if version.period_id not in periods:
            continue
        for line in version.lines:
            if line.household.lower() == address.lower():
                found.append(
                    Correction(
                        version.period_id,
                        grid.period_start(version.period_id),
                        grid.period_end(version.period_id),
                        version.version,
                        version.source_keccak,
                        line.delivered_wh,
                        line.received_wh,
                        line.change_units,
                    )
                )
    return tuple(found)


def _market(interval: IntervalSettlement, start: int) -> Market:
    sides, energies = interval.book.sides, interval.book.energies_wh
    limits = interval.clearing.limits_per_kwh
    offers = [(sides[h], energies[h], limits[h]) for h in range(len(sides))]
    return Market(
        start,
        tuple(
            sorted(((e, p) for side, e, p in offers if side == int(Side.SELL)), key=lambda o: o[1])
        ),
        tuple(
            sorted(((e, p) for side, e, p in offers if side == int(Side.BUY)), key=lambda o: -o[1])
        ),
        interval.price_per_kwh,
        interval.traded_wh,
    )

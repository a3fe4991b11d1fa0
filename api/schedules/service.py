"""Accept a household's signed schedule: the exchange's postSchedules rules, checked early.

A schedule is accepted when its form is one the exchange can carry (strict integers, entries
within the period, at most a period of them, none entries all zeros, sell/buy entries at least
the period's minEntryWh), its signature is canonical (`ledger.signatures`) and recovers the
household, the household is a member now, the period is the current or the next one, the
first interval's gate is still open `relay_margin_seconds` from now (time for the relayer),
its version is above every version stored for (household, period), fewer than
MAX_POSTINGS_PER_PERIOD are stored for it, the household already has one for the period or
fewer than MAX_HOUSEHOLDS_PER_PERIOD households do, and its lock fits the household's free escrow
minus what its accepted-but-not-yet-posted schedules promise.

That last rule is serialised per household: the promise is checked and stored in one write
transaction (`write_transaction`: this process's writer lock + SQLite BEGIN IMMEDIATE, a
per-household advisory lock on PostgreSQL), so of two requests racing for the same free
escrow, the second sees the first. The escrow is read before, at a known block (`V2Chain.
head`), and a schedule the relayer posted after that block still counts as promised, so no
lock is ever counted neither on chain nor in the promise.

Re-sending a stored schedule (same struct hash) answers the stored resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_keys.exceptions import BadSignature
from eth_keys.main import KeyAPI
from eth_utils.crypto import keccak
from sqlalchemy import Connection, Engine, Table, bindparam, distinct, func, insert, or_, select

from api.readings.store import write_transaction
from api.relayer.context import V2Chain
from api.schedules.errors import ScheduleRejectedError
from api.schedules.models import ScheduleRow, ScheduleStatus
from api.schedules.schemas import SIDE_VALUE, ScheduleIn
from ledger.schedules import (
    Entry,
    Schedule,
    ScheduleFormatError,
    SignedSchedule,
    first_small_entry,
    schedule_struct_hash,
)
from ledger.signatures import SignatureRuleError, check_signature
from metering.period import domain_separator_v2

#: IQuartierExchange's MAX_POSTINGS_PER_PERIOD (QuartierExchange.sol).
MAX_POSTINGS_PER_PERIOD = 24
#: IQuartierExchange's MAX_HOUSEHOLDS_PER_PERIOD: households posting per period.
MAX_HOUSEHOLDS_PER_PERIOD = 255

_KEYS = KeyAPI()
SCHEDULE: Table = ScheduleRow.__table__  # type: ignore[attr-defined]
_INSERT = insert(SCHEDULE)
_BY_HASH = select(SCHEDULE).where(SCHEDULE.c.schedule_hash == bindparam("schedule_hash"))


@dataclass(frozen=True)
class Accepted:
    """The outcome of an intake: the stored row and whether this request stored it."""

    row: ScheduleRow
    created: bool


def _reject(slug: str, detail: str, schedule: Schedule | None = None, **facts: object) -> Exception:
    if schedule is not None:
        facts = {
            "household": schedule.household,
            "period_id": schedule.period_id,
            "version": schedule.version,
            **facts,
        }
    return ScheduleRejectedError(detail, slug, **facts)


def to_signed_schedule(body: ScheduleIn) -> SignedSchedule:
    """The ledger value of a body (422 malformed-schedule when it cannot be one)."""
    try:
        entries = tuple(
            Entry(SIDE_VALUE[entry.side], entry.energy_wh, entry.price_per_kwh)
            for entry in body.entries
        )
        schedule = Schedule(
            body.household, body.period_id, body.version, body.first_interval_id, entries
        )
        return SignedSchedule(schedule, bytes.fromhex(body.signature[2:]))
    except ScheduleFormatError as error:
        raise _reject("malformed-schedule", str(error)) from None


def recover_household(signed: SignedSchedule, digest: bytes) -> str:
    """The signer of `digest` (the schedule's) if the signature is canonical (the contracts'
    rule first: 422 otherwise); "" when nothing can be recovered."""
    try:
        canonical = check_signature(signed.signature)
    except SignatureRuleError as error:
        raise _reject(
            "invalid-schedule-signature",
            f"signature refused: {error}",
            signed.schedule,
            rule=error.reason,
        ) from None
    try:
        signature = _KEYS.Signature(vrs=(canonical.v - 27, canonical.r, canonical.s))
        return str(signature.recover_public_key_from_msg_hash(digest).to_checksum_address())
    except (BadSignature, ValueError):
        return ""


def row_of(connection: Connection, schedule_hash: str) -> ScheduleRow | None:
    """The stored schedule with this struct hash."""
    found = connection.execute(_BY_HASH, {"schedule_hash": schedule_hash}).mappings().first()
    return None if found is None else ScheduleRow(**found)


def check_period(chain: V2Chain, schedule: Schedule, now: int, margin_seconds: int) -> None:
    """Horizon, range within the period, minimum entry and gate (the chain's rules)."""
    grid = chain.grid
    current = grid.period_at(now)
    if not current <= schedule.period_id <= current + 1:
        raise _reject(
            "period-not-open",
            f"schedules are taken for periods {current} and {current + 1} only",
            schedule,
            current_period_id=current,
        )
    first = schedule.first_interval_id
    period_first = grid.first_interval(schedule.period_id)
    period_end = period_first + grid.period_intervals
    if not period_first <= first < period_end or first + len(schedule.entries) > period_end:
        raise _reject(
            "interval-outside-period",
            f"entries from interval {first} ({len(schedule.entries)} of them) must lie within"
            f" period {schedule.period_id}, intervals {period_first}..{period_end - 1}",
            schedule,
            first_interval_id=first,
            entry_count=len(schedule.entries),
        )
    rules = chain.rules(schedule.period_id)
    small = first_small_entry(schedule.entries, rules.min_entry_wh)
    if small is not None:
        raise _reject(
            "entry-below-minimum",
            f"entry {small} is below the period's minimum of {rules.min_entry_wh} Wh",
            schedule,
            entry_index=small,
            min_entry_wh=rules.min_entry_wh,
        )
    gate = grid.gate(first, rules)
    if now + margin_seconds >= gate:
        raise _reject(
            "gate-closed",
            f"the gate of interval {first} closes at {gate}: too late to relay (the service"
            f" needs {margin_seconds} s of margin, the chain's time is {now})",
            schedule,
            gate_closes_at=gate,
            relay_margin_seconds=margin_seconds,
            now=now,
        )


@dataclass(frozen=True)
class _Stored:
    """One of the household's rows that the checks need."""

    schedule_hash: str
    period_id: int
    version: int
    status: str
    lock_units: int
    posted_block: int | None


_C = SCHEDULE.c
# Built once (SQLAlchemy then reuses its compiled form): the rows of (household, period) for
# the version rules, and the rows that still promise escrow (pending, or posted after the
# block the escrow was read at) for the escrow rule.
_HOUSEHOLD_ROWS = select(
    _C.schedule_hash, _C.period_id, _C.version, _C.status, _C.lock_units, _C.posted_block
).where(
    _C.household == bindparam("household"),
    or_(
        _C.period_id == bindparam("period_id"),
        _C.status == ScheduleStatus.PENDING,
        (_C.status == ScheduleStatus.POSTED) & (_C.posted_block > bindparam("block_number")),
    ),
)


# The households with a schedule still going to the chain (or on it) in a period.
_PERIOD_HOUSEHOLDS = (
    select(func.count(distinct(_C.household)))
    .where(_C.period_id == bindparam("period_id"), _C.status != ScheduleStatus.REFUSED)
    .scalar_subquery()
)


def check_households(connection: Connection, rows: list[_Stored], schedule: Schedule) -> None:
    """Refuse a household new to the period once MAX_HOUSEHOLDS_PER_PERIOD households hold
    schedules for it (the exchange would refuse the posting). Racing households are not
    serialised here: the chain stays the judge, and the relayer isolates its refusals."""
    if any(r.period_id == schedule.period_id and r.status != ScheduleStatus.REFUSED for r in rows):
        return
    count = connection.execute(select(_PERIOD_HOUSEHOLDS), {"period_id": schedule.period_id})
    if int(count.scalar_one()) >= MAX_HOUSEHOLDS_PER_PERIOD:
        raise _reject(
            "too-many-households",
            f"at most {MAX_HOUSEHOLDS_PER_PERIOD} households may post for a period",
            schedule,
        )


def _household_rows(
    connection: Connection, household: str, period_id: int, block_number: int
) -> list[_Stored]:
    found = connection.execute(
        _HOUSEHOLD_ROWS,
        {"household": household, "period_id": period_id, "block_number": block_number},
    )
    return [_Stored(*row) for row in found]


def promised_units(rows: list[_Stored], block_number: int) -> int:
    """Escrow the household's schedules promise beyond what the chain showed at
    `block_number`: pending ones, and those posted after that block."""
    return sum(
        row.lock_units
        for row in rows
        if row.status == ScheduleStatus.PENDING
        or (row.status == ScheduleStatus.POSTED and (row.posted_block or 0) > block_number)
    )


def check_versions(rows: list[_Stored], schedule: Schedule) -> None:
    """Refuse a taken or stale version, or one posting too many, for (household, period)."""
    mine = [row for row in rows if row.period_id == schedule.period_id]
    same = [row.schedule_hash for row in mine if row.version == schedule.version]
    if same:
        raise _reject(
            "version-conflict",
            f"version {schedule.version} of this period is already taken by another schedule",
            schedule,
            existing_schedule_hash=same[0],
        )
    last = max((row.version for row in mine), default=None)
    if last is not None and schedule.version <= last:
        raise _reject(
            "stale-version",
            f"version {schedule.version} is not above the last stored version {last}",
            schedule,
            last_version=int(last),
        )
    if sum(row.status != ScheduleStatus.REFUSED for row in mine) >= MAX_POSTINGS_PER_PERIOD:
        raise _reject(
            "too-many-postings",
            f"at most {MAX_POSTINGS_PER_PERIOD} schedules per household and period",
            schedule,
        )


def submit_schedule(
    engine: Engine,
    chain: V2Chain,
    body: ScheduleIn,
    clock_seconds: int,
    *,
    wait_for_writer: bool = True,
) -> Accepted:
    """Verify and store a signed schedule (see the module docstring).

    `wait_for_writer=False`: WriterBusyError instead of waiting for another writer (the
    event loop then retries in a thread).
    """
    signed = to_signed_schedule(body)
    schedule = signed.schedule
    domain = chain.domain
    entries_bytes = schedule.entries_bytes  # encoded once: the property re-encodes
    struct_hash = schedule_struct_hash(schedule)
    # ledger.schedules.schedule_digest from the struct hash computed once (EIP-712).
    digest = keccak(
        b"\x19\x01" + domain_separator_v2(domain.chain_id, domain.exchange_address) + struct_hash
    )
    signer = recover_household(signed, digest)
    if signer != schedule.household:
        raise _reject(
            "invalid-schedule-signature",
            f"the signature recovers {signer or 'nobody'}, not the household",
            schedule,
            signer=signer or None,
        )
    schedule_hash = "0x" + struct_hash.hex()
    now = chain.now(clock_seconds)
    try:
        check_period(chain, schedule, now, chain.settings.relay_margin_seconds)
        if not chain.is_member(schedule.household):
            raise _reject("not-member", f"{schedule.household} is not a member now", schedule)
    except ScheduleRejectedError:
        # A schedule stored earlier is answered as it is, even once its gate has closed.
        with engine.connect() as connection:
            existing = row_of(connection, schedule_hash)
        if existing is not None:
            return Accepted(existing, False)
        raise
    lock = schedule.lock_units
    head = chain.head()
    free_units = chain.escrow_at(schedule.household, head.number).free_units if lock else 0
    values: dict[str, Any] = {
        "schedule_hash": schedule_hash,
        "household": schedule.household,
        "period_id": schedule.period_id,
        "version": schedule.version,
        "first_interval_id": schedule.first_interval_id,
        "entries": "0x" + entries_bytes.hex(),
        "signature": "0x" + signed.signature.hex(),
        "lock_units": lock,
        "status": ScheduleStatus.PENDING,
        "reason": None,
        "tx_hash": None,
        "posted_block": None,
        "created_at": now,
    }
    with (
        engine.connect() as connection,
        write_transaction(connection, schedule.household, wait=wait_for_writer),
    ):
        rows = _household_rows(connection, schedule.household, schedule.period_id, head.number)
        if any(row.schedule_hash == schedule_hash for row in rows):
            existing = row_of(connection, schedule_hash)
            assert existing is not None  # the same transaction just listed it
            return Accepted(existing, False)
        check_versions(rows, schedule)
        check_households(connection, rows, schedule)
        if lock:
            promised = promised_units(rows, head.number)
            if promised + lock > free_units:
                raise _reject(
                    "insufficient-escrow",
                    f"this schedule locks {lock} units but only {free_units - promised} of"
                    f" {free_units} free escrow units are not already promised to schedules"
                    " waiting to be posted",
                    schedule,
                    needed_units=lock,
                    free_units=free_units,
                    promised_units=promised,
                )
        connection.execute(_INSERT, values)
        connection.commit()
    return Accepted(ScheduleRow(**values), True)


def period_book(engine: Engine, period_id: int) -> list[ScheduleRow]:
    """Every stored schedule of a period, by household then version."""
    with engine.connect() as connection:
        found = connection.execute(
            select(SCHEDULE)
            .where(SCHEDULE.c.period_id == period_id)
            .order_by(SCHEDULE.c.household, SCHEDULE.c.version)
        ).mappings()
        return [ScheduleRow(**item) for item in found]


def get_schedule(engine: Engine, schedule_hash: str) -> ScheduleRow | None:
    """One stored schedule by struct hash."""
    with engine.connect() as connection:
        return row_of(connection, schedule_hash.lower())

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

import functools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_address, to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import Connection, Engine, Table, bindparam, distinct, func, insert, or_, select
from sqlalchemy.exc import DBAPIError

from api.readings.store import CompiledStatement, dbapi_cursor, write_transaction
from api.relayer.context import V2Chain
from api.schedules.errors import ScheduleRejectedError
from api.schedules.models import ScheduleRow, ScheduleStatus
from api.schedules.schemas import SIDE_VALUE, EntryIn, ScheduleIn
from ledger.schedules import EntrySide, ScheduleFormatError, struct_hash_of
from ledger.signatures import SignatureRuleError, check_signature, recover_address
from metering.period import domain_separator_v2

#: IQuartierExchange's MAX_POSTINGS_PER_PERIOD (QuartierExchange.sol).
MAX_POSTINGS_PER_PERIOD = 24
#: IQuartierExchange's MAX_HOUSEHOLDS_PER_PERIOD: households posting per period.
MAX_HOUSEHOLDS_PER_PERIOD = 255

SCHEDULE: Table = ScheduleRow.__table__  # type: ignore[attr-defined]
_BY_HASH = select(SCHEDULE).where(SCHEDULE.c.schedule_hash == bindparam("schedule_hash"))
#: One entry as two big-endian uint32: (side << 24 | energy Wh, price per kWh) (ledger.entries).
_ENTRY = struct.Struct(">II")
_NONE, _BUY = int(EntrySide.NONE), int(EntrySide.BUY)
_SIDE = {name: int(side) for name, side in SIDE_VALUE.items()}


@dataclass(frozen=True)
class Accepted:
    """The outcome of an intake: the stored row's columns and whether this request stored it."""

    fields: Mapping[str, Any]
    created: bool

    @property
    def row(self) -> ScheduleRow:
        """The stored row as a model (built on demand: the POST answers from `fields`)."""
        return ScheduleRow(**self.fields)


@dataclass(frozen=True, slots=True)
class Intake:
    """A schedule body in the exchange's wire form, its form checked (`intake_of`)."""

    household: str
    household_bytes: bytes
    period_id: int
    version: int
    first_interval_id: int
    #: The signed `entries` bytes (8 per interval, `ledger.entries`' codec).
    entries: bytes
    entry_count: int
    lock_units: int
    #: (index, energy Wh) of every sell or buy entry, for the community's minimum.
    active: tuple[tuple[int, int], ...]
    signature: bytes


def _reject(slug: str, detail: str, schedule: Intake | None = None, **facts: object) -> Exception:
    if schedule is not None:
        facts = {
            "household": schedule.household,
            "period_id": schedule.period_id,
            "version": schedule.version,
            **facts,
        }
    return ScheduleRejectedError(detail, slug, **facts)


@functools.lru_cache(maxsize=65_536)
def _address(text: str) -> tuple[str, bytes] | None:
    """(checksummed, 20 bytes) of an address, None if it is not one (a mixed-case one with
    a wrong checksum, as eth-utils' `is_address` says). Households repeat: cached, bounded."""
    if not is_address(text):
        return None
    return to_checksum_address(text), to_canonical_address(text)


def pack_entries(entries: Sequence[EntryIn]) -> tuple[bytes, int, tuple[tuple[int, int], ...]]:
    """(entries bytes, lock units, active entries) of validated body entries, with the form
    rules of `ledger.entries.Entry` (a none entry all zeros, a sell or buy one >= 1 Wh) and
    its lock rule (`entries_lock_units`: ceil(Σ buy energy_wh * price_per_kwh / 1000)), in
    one pass (Entry objects cost ~20 us each; the bounds are the body model's)."""
    pack = _ENTRY.pack
    parts = []
    active = []
    milli_units = 0
    for index, entry in enumerate(entries):
        side = _SIDE[entry["side"]]
        energy, price = entry["energy_wh"], entry["price_per_kwh"]
        if side == _NONE:
            if energy or price:
                raise ScheduleFormatError(f"entry {index}: a none entry is all zeros")
        elif energy == 0:
            raise ScheduleFormatError(f"entry {index}: a sell or buy entry has energy_wh >= 1")
        else:
            active.append((index, energy))
            if side == _BUY:
                milli_units += energy * price
        parts.append(pack(side << 24 | energy, price))
    return b"".join(parts), -(-milli_units // 1000), tuple(active)


def intake_of(body: ScheduleIn) -> Intake:
    """The wire form of a body (422 malformed-schedule when the exchange could not carry it)."""
    address = _address(body.household)
    try:
        if address is None:
            raise ScheduleFormatError(f"household is not an address: {body.household!r}")
        entries, lock, active = pack_entries(body.entries)
    except ScheduleFormatError as error:
        raise _reject("malformed-schedule", str(error)) from None
    return Intake(
        address[0],
        address[1],
        body.period_id,
        body.version,
        body.first_interval_id,
        entries,
        len(body.entries),
        lock,
        active,
        bytes.fromhex(body.signature[2:]),
    )


def recover_household(schedule: Intake, digest: bytes) -> bytes | None:
    """The 20-byte signer of `digest` (the schedule's) if the signature is canonical (the
    contracts' rule first: 422 otherwise); None when nothing can be recovered."""
    try:
        canonical = check_signature(schedule.signature)
    except SignatureRuleError as error:
        raise _reject(
            "invalid-schedule-signature",
            f"signature refused: {error}",
            schedule,
            rule=error.reason,
        ) from None
    return recover_address(digest, canonical)


def row_of(connection: Connection, schedule_hash: str) -> ScheduleRow | None:
    """The stored schedule with this struct hash."""
    found = columns_of(connection, schedule_hash)
    return None if found is None else ScheduleRow(**found)


def columns_of(connection: Connection, schedule_hash: str) -> dict[str, Any] | None:
    """The columns of the stored schedule with this struct hash."""
    found = connection.execute(_BY_HASH, {"schedule_hash": schedule_hash}).mappings().first()
    return None if found is None else dict(found)


def check_period(chain: V2Chain, schedule: Intake, now: int, margin_seconds: int) -> None:
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
    count = schedule.entry_count
    if not period_first <= first < period_end or first + count > period_end:
        raise _reject(
            "interval-outside-period",
            f"entries from interval {first} ({count} of them) must lie within"
            f" period {schedule.period_id}, intervals {period_first}..{period_end - 1}",
            schedule,
            first_interval_id=first,
            entry_count=count,
        )
    rules = chain.rules(schedule.period_id)
    minimum = rules.min_entry_wh
    small = next((index for index, energy in schedule.active if energy < minimum), None)
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
# Built once, compiled once per dialect and run on the DBAPI cursor (`_run`): the rows of
# (household, period) for the version rules, and the rows that still promise escrow (pending,
# or posted after the block the escrow was read at) for the escrow rule.
_HOUSEHOLD_ROWS = select(
    _C.schedule_hash, _C.period_id, _C.version, _C.status, _C.lock_units, _C.posted_block
).where(
    _C.household == bindparam("household"),
    or_(
        _C.period_id == bindparam("period_id"),
        _C.status == bindparam("pending"),
        (_C.status == bindparam("posted")) & (_C.posted_block > bindparam("block_number")),
    ),
)
# The households with a schedule still going to the chain (or on it) in a period.
_PERIOD_HOUSEHOLDS = select(func.count(distinct(_C.household))).where(
    _C.period_id == bindparam("period_id"), _C.status != bindparam("refused")
)
#: The stored columns, in the order of the model's table.
_STORED = tuple(column.name for column in SCHEDULE.columns)
_INSERT_ROW = insert(SCHEDULE).values({name: bindparam(name) for name in _STORED})


class _Statements:
    """The write transaction's statements compiled for one dialect: SQLAlchemy's execution
    of a cached Core statement cost ~40 us each (context, events, result proxy), three times
    a schedule (as `api.readings.store` found for readings)."""

    def __init__(self, connection: Connection) -> None:
        self.household_rows = CompiledStatement(_HOUSEHOLD_ROWS, connection)
        self.period_households = CompiledStatement(_PERIOD_HOUSEHOLDS, connection)
        self.insert = CompiledStatement(_INSERT_ROW, connection)


_STATEMENTS: dict[str, _Statements] = {}


def _run(connection: Connection, name: str, values: Mapping[str, Any]) -> list[Any]:
    """Run one of `_Statements` in the Connection's transaction; its rows (none for the
    insert). A driver error is raised as SQLAlchemy's (IntegrityError, OperationalError...),
    which the problem handlers map as for any other statement."""
    dialect = connection.dialect
    statements = _STATEMENTS.get(dialect.name)
    if statements is None:
        statements = _STATEMENTS.setdefault(dialect.name, _Statements(connection))
    compiled: CompiledStatement = getattr(statements, name)
    parameters = compiled.parameters(dict(values))
    cursor = dbapi_cursor(connection)
    try:
        cursor.execute(compiled.sql, parameters)
        return cursor.fetchall() if cursor.description is not None else []
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            compiled.sql, parameters, error, dialect.loaded_dbapi.Error
        ) from error
    finally:
        cursor.close()


def check_households(connection: Connection, rows: list[_Stored], schedule: Intake) -> None:
    """Refuse a household new to the period once MAX_HOUSEHOLDS_PER_PERIOD households hold
    schedules for it (the exchange would refuse the posting). Racing households are not
    serialised here: the chain stays the judge, and the relayer isolates its refusals."""
    if any(r.period_id == schedule.period_id and r.status != ScheduleStatus.REFUSED for r in rows):
        return
    found = _run(
        connection,
        "period_households",
        {"period_id": schedule.period_id, "refused": ScheduleStatus.REFUSED.value},
    )
    if int(found[0][0]) >= MAX_HOUSEHOLDS_PER_PERIOD:
        raise _reject(
            "too-many-households",
            f"at most {MAX_HOUSEHOLDS_PER_PERIOD} households may post for a period",
            schedule,
        )


def _household_rows(
    connection: Connection, household: str, period_id: int, block_number: int
) -> list[_Stored]:
    found = _run(
        connection,
        "household_rows",
        {
            "household": household,
            "period_id": period_id,
            "block_number": block_number,
            "pending": ScheduleStatus.PENDING.value,
            "posted": ScheduleStatus.POSTED.value,
        },
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


def check_versions(rows: list[_Stored], schedule: Intake) -> None:
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


@dataclass(frozen=True)
class Checked:
    """A schedule that passed every check made before the write transaction, with the chain
    facts that transaction compares against (`store_schedule`)."""

    schedule: Intake
    #: The row to insert.
    values: dict[str, Any]
    #: The block the free escrow was read at.
    block_number: int
    free_units: int


def check_schedule(
    engine: Engine, chain: V2Chain, body: ScheduleIn, clock_seconds: int
) -> Checked | Accepted:
    """Every check of a schedule before its write transaction (form, signature, period,
    gate, membership, the escrow read): the schedule to store, or the stored one it repeats
    once its gate has closed. Chain calls only when `chain.is_warm` says otherwise."""
    schedule = intake_of(body)
    domain = chain.domain
    struct_hash = struct_hash_of(
        schedule.household_bytes,
        schedule.period_id,
        schedule.version,
        schedule.first_interval_id,
        schedule.entries,
    )
    # ledger.schedules.schedule_digest from the struct hash computed once (EIP-712).
    digest = keccak(
        b"\x19\x01" + domain_separator_v2(domain.chain_id, domain.exchange_address) + struct_hash
    )
    signer = recover_household(schedule, digest)
    if signer != schedule.household_bytes:
        named = None if signer is None else to_checksum_address(signer)
        raise _reject(
            "invalid-schedule-signature",
            f"the signature recovers {named or 'nobody'}, not the household",
            schedule,
            signer=named,
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
            existing = columns_of(connection, schedule_hash)
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
        "entries": "0x" + schedule.entries.hex(),
        "signature": "0x" + schedule.signature.hex(),
        "lock_units": lock,
        "status": ScheduleStatus.PENDING.value,
        "reason": None,
        "tx_hash": None,
        "posted_block": None,
        "created_at": now,
    }
    return Checked(schedule, values, head.number, free_units)


def store_schedule(engine: Engine, checked: Checked, *, wait_for_writer: bool = True) -> Accepted:
    """The write transaction of a checked schedule: the version, posting and household
    rules and the escrow promise against the stored rows, then the insert, committed before
    it returns (see the module docstring). No chain call.

    `wait_for_writer=False`: WriterBusyError instead of waiting for another writer (the
    event loop then stores it from a thread).
    """
    schedule, values = checked.schedule, checked.values
    schedule_hash: str = values["schedule_hash"]
    lock, block_number, free_units = schedule.lock_units, checked.block_number, checked.free_units
    with (
        engine.connect() as connection,
        write_transaction(connection, schedule.household, wait=wait_for_writer),
    ):
        rows = _household_rows(connection, schedule.household, schedule.period_id, block_number)
        if any(row.schedule_hash == schedule_hash for row in rows):
            existing = columns_of(connection, schedule_hash)
            assert existing is not None  # the same transaction just listed it
            return Accepted(existing, False)
        check_versions(rows, schedule)
        check_households(connection, rows, schedule)
        if lock:
            promised = promised_units(rows, block_number)
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
        _run(connection, "insert", values)
        connection.commit()
    return Accepted(values, True)


def submit_schedule(
    engine: Engine,
    chain: V2Chain,
    body: ScheduleIn,
    clock_seconds: int,
    *,
    wait_for_writer: bool = True,
) -> Accepted:
    """Verify and store a signed schedule (`check_schedule`, then `store_schedule`)."""
    checked = check_schedule(engine, chain, body, clock_seconds)
    if isinstance(checked, Accepted):
        return checked
    return store_schedule(engine, checked, wait_for_writer=wait_for_writer)


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

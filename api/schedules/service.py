"""Accept a household's signed schedule: the exchange's postSchedules rules, checked early.

A schedule is accepted when its form is one the exchange can carry (strict integers, entries
within the period, at most a period of them, none entries all zeros, sell/buy entries at least
the period's minEntryWh), its signature is canonical (`ledger.signatures`) and recovers the
household, the household is a member now, the period is the current or the next one, the
first interval's gate is still open `relay_margin_seconds` from now (time for the relayer),
its version is above every version stored for (household, period), fewer than
MAX_POSTINGS_PER_PERIOD are stored for it, and its lock fits the household's free escrow
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

from eth_keys.exceptions import BadSignature
from eth_keys.main import KeyAPI
from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, or_, select

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
    schedule_digest,
    schedule_struct_hash,
)
from ledger.signatures import SignatureRuleError, check_signature

#: IQuartierExchange's MAX_POSTINGS_PER_PERIOD (QuartierExchange.sol).
MAX_POSTINGS_PER_PERIOD = 24

_KEYS = KeyAPI()
SCHEDULE: Table = ScheduleRow.__table__  # type: ignore[attr-defined]
_BY_HASH = select(SCHEDULE).where(SCHEDULE.c.schedule_hash == bindparam("schedule_hash"))
_OPEN = SCHEDULE.c.status != ScheduleStatus.REFUSED


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


def recover_household(signed: SignedSchedule, chain_id: int, exchange_address: str) -> str:
    """The signer of a canonical signature (the contracts' rule first: 422 otherwise)."""
    try:
        canonical = check_signature(signed.signature)
    except SignatureRuleError as error:
        raise _reject(
            "invalid-schedule-signature",
            f"signature refused: {error}",
            signed.schedule,
            rule=error.reason,
        ) from None
    digest = schedule_digest(signed.schedule, chain_id, exchange_address)
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


def promised_units(connection: Connection, household: str, block_number: int) -> int:
    """Escrow the household's schedules promise beyond what the chain showed at
    `block_number`: pending ones, and those posted after that block."""
    total = connection.execute(
        select(func.coalesce(func.sum(SCHEDULE.c.lock_units), 0)).where(
            SCHEDULE.c.household == household,
            or_(
                SCHEDULE.c.status == ScheduleStatus.PENDING,
                (SCHEDULE.c.status == ScheduleStatus.POSTED)
                & (SCHEDULE.c.posted_block > block_number),
            ),
        )
    ).scalar_one()
    return int(total)


def _check_versions(connection: Connection, schedule: Schedule) -> None:
    key = (SCHEDULE.c.household == schedule.household) & (
        SCHEDULE.c.period_id == schedule.period_id
    )
    same = connection.execute(
        select(SCHEDULE.c.schedule_hash).where(key, SCHEDULE.c.version == schedule.version)
    ).first()
    if same is not None:
        raise _reject(
            "version-conflict",
            f"version {schedule.version} of this period is already taken by another schedule",
            schedule,
            existing_schedule_hash=same[0],
        )
    last = connection.execute(select(func.max(SCHEDULE.c.version)).where(key)).scalar_one()
    if last is not None and schedule.version <= last:
        raise _reject(
            "stale-version",
            f"version {schedule.version} is not above the last stored version {last}",
            schedule,
            last_version=int(last),
        )
    open_count = connection.execute(select(func.count()).where(key, _OPEN)).scalar_one()
    if open_count >= MAX_POSTINGS_PER_PERIOD:
        raise _reject(
            "too-many-postings",
            f"at most {MAX_POSTINGS_PER_PERIOD} schedules per household and period",
            schedule,
        )


def submit_schedule(
    engine: Engine, chain: V2Chain, body: ScheduleIn, clock_seconds: int
) -> Accepted:
    """Verify and store a signed schedule (see the module docstring)."""
    signed = to_signed_schedule(body)
    schedule = signed.schedule
    domain = chain.domain
    signer = recover_household(signed, domain.chain_id, domain.exchange_address)
    if signer != schedule.household:
        raise _reject(
            "invalid-schedule-signature",
            f"the signature recovers {signer or 'nobody'}, not the household",
            schedule,
            signer=signer or None,
        )
    schedule_hash = "0x" + schedule_struct_hash(schedule).hex()
    with engine.connect() as connection:
        existing = row_of(connection, schedule_hash)
    if existing is not None:
        return Accepted(existing, False)
    now = chain.now(clock_seconds)
    check_period(chain, schedule, now, chain.settings.relay_margin_seconds)
    if not chain.is_member(schedule.household):
        raise _reject("not-member", f"{schedule.household} is not a member now", schedule)
    lock = schedule.lock_units
    head = chain.head()
    free_units = chain.escrow_at(schedule.household, head.number).free_units if lock else 0
    row = ScheduleRow(
        schedule_hash=schedule_hash,
        household=schedule.household,
        period_id=schedule.period_id,
        version=schedule.version,
        first_interval_id=schedule.first_interval_id,
        entries="0x" + schedule.entries_bytes.hex(),
        signature="0x" + signed.signature.hex(),
        lock_units=lock,
        status=ScheduleStatus.PENDING,
        created_at=now,
    )
    with (
        engine.connect() as connection,
        write_transaction(connection, schedule.household, wait=True),
    ):
        existing = row_of(connection, schedule_hash)
        if existing is not None:  # an identical request won the race
            return Accepted(existing, False)
        _check_versions(connection, schedule)
        if lock:
            promised = promised_units(connection, schedule.household, head.number)
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
        connection.execute(insert(SCHEDULE).values(**row.model_dump()))
        connection.commit()
    return Accepted(row, True)


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

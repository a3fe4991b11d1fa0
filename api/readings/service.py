"""Accept a signed meter reading: parse, check the meter, verify, check order, store.

Live readings are the households' view of their meters (protocol v2 settles from the meters'
signed period batches, `api.meter_batches`). A reading is stored when its meter is admitted in
QuartierCommunity and not revoked, it is not from the future, its P-256 signature verifies
over the EIP-712 digest bound to the QuartierExchange (`metering.reading`), and against the
meter's latest stored reading: seq and interval strictly increase, registers never decrease.
Re-sending a stored reading (same meter, seq and values) is answered "already have it";
nothing is stored when a reading is refused.

Lean by design (the target is 1,000 readings/s): no chain call once the meter is cached; the
signature is verified before any DB work (`check_reading`); then one write transaction holding
the database's write lock (SQLite `BEGIN IMMEDIATE`, per-meter advisory locks on PostgreSQL)
runs one indexed query and one insert per reading as SQLAlchemy Core statements (the ORM unit
of work cost ~0.6 ms a reading). The API stores the readings that arrive together in one such
transaction (`store_readings`, a group commit: `api.readings.group_commit`), so connecting,
locking and committing are paid once per group; each reading is still judged on its own.
Checking against the latest reading under that lock is what keeps the ordering rules true
when several requests or API processes race for the same meter: of two conflicting readings,
the second to take the lock sees the first and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from api.errors import ReadingRejectedError
from api.readings.meters import MeterDirectory, MeterStatus, status_of
from api.readings.store import (
    StoredReading,
    index_meter,
    insert_reading,
    latest_reading,
    reading_at_seq,
    write_transaction_all,
)
from api.relayer.context import Domain
from ledger.community import MeterInfo
from metering.errors import ReadingFormatError
from metering.reading import INTERVAL_SECONDS, SignedReading, verify_signed_reading

#: The DB stores registers as signed 64-bit integers (BIGINT): a register at or above 2^63
#: Wh (9.2 EWh) is refused rather than silently wrapped.
MAX_STORABLE = 2**63 - 1


def _reject(reason: str, detail: str, signed: SignedReading | None = None) -> ReadingRejectedError:
    facts: dict[str, Any] = {}
    if signed is not None:
        facts = {
            "meter_id": "0x" + signed.reading.meter_id.hex(),
            "interval_id": signed.reading.interval_id,
            "seq": signed.reading.seq,
        }
    return ReadingRejectedError(detail, reason, **facts)


def parse_reading(payload: object) -> SignedReading:
    """The fixed JSON shape, strictly; a malformed body is a 422 naming the field."""
    try:
        signed = SignedReading.from_json(payload)
    except ReadingFormatError as error:
        raise _reject("malformed-reading", str(error)) from None
    reading = signed.reading
    for name in ("interval_id", "import_wh_total", "export_wh_total", "seq"):
        if getattr(reading, name) > MAX_STORABLE:
            raise _reject("malformed-reading", f"{name} must be below 2^63", signed)
    return signed


def parse_reading_json(body: bytes) -> SignedReading:
    """`parse_reading` over a raw request body; a body that is not JSON is malformed too."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise _reject("malformed-reading", "the body is not a JSON document") from None
    return parse_reading(payload)


def _same_values(row: StoredReading, signed: SignedReading) -> bool:
    reading = signed.reading
    return bool(
        row.interval_id == reading.interval_id
        and row.import_wh_total == reading.import_wh_total
        and row.export_wh_total == reading.export_wh_total
    )


def _check_successor(signed: SignedReading, latest: StoredReading) -> None:
    reading = signed.reading
    if reading.seq <= latest.seq:
        raise _reject(
            "seq-not-increasing",
            f"seq {reading.seq} is not above the meter's latest seq {latest.seq} (a replay?)",
            signed,
        )
    if reading.interval_id <= latest.interval_id:
        raise _reject(
            "interval-not-increasing",
            f"interval {reading.interval_id} is not after the meter's latest reading's"
            f" interval {latest.interval_id}",
            signed,
        )
    for name in ("import_wh_total", "export_wh_total"):
        new, old = getattr(reading, name), getattr(latest, name)
        if new < old:
            raise _reject("register-decreased", f"{name} decreased from {old} to {new} Wh", signed)


def _check_meter_and_signature(
    info: MeterInfo, domain: Domain, signed: SignedReading, now_seconds: int
) -> None:
    """Everything decidable without the stored readings (no DB, no lock held)."""
    reading = signed.reading
    meter_hex = "0x" + reading.meter_id.hex()
    status = status_of(info)
    if status is MeterStatus.UNKNOWN:
        raise _reject("unknown-meter", f"meter {meter_hex} is not registered", signed)
    if status is MeterStatus.REVOKED:
        raise _reject("meter-revoked", f"meter {meter_hex} has been revoked", signed)
    available_at = (reading.interval_id + 1) * INTERVAL_SECONDS
    if available_at > now_seconds:
        raise _reject(
            "reading-from-future",
            f"a reading for interval {reading.interval_id} exists only from unix time"
            f" {available_at}",
            signed,
        )
    if not verify_signed_reading(signed, domain.chain_id, domain.exchange_address):
        raise _reject(
            "invalid-reading-signature",
            "the signature does not verify against the meter's registered key",
            signed,
        )


def _apply_rules(
    connection: Connection, signed: SignedReading
) -> tuple[StoredReading | None, bool]:
    """Under the write lock: (the stored reading when `signed` is a re-send, whether it is the
    meter's first reading); raises ReadingRejectedError when it contradicts what is stored."""
    reading = signed.reading
    meter_hex = "0x" + reading.meter_id.hex()
    latest = latest_reading(connection, meter_hex)
    if latest is None:
        return None, True
    if reading.seq <= latest.seq:
        same_seq = (
            latest
            if latest.seq == reading.seq
            else reading_at_seq(connection, meter_hex, reading.seq)
        )
        if same_seq is not None and _same_values(same_seq, signed):
            return same_seq, False
        if same_seq is not None:
            raise _reject(
                "conflicting-reading",
                f"seq {reading.seq} is already stored with different values",
                signed,
            )
    _check_successor(signed, latest)
    return None, False


@dataclass(frozen=True)
class Ingested:
    """Outcome of `ingest_reading`: the stored reading, and whether this request created it."""

    meter_id: str
    stored: StoredReading
    created: bool


@dataclass(frozen=True)
class Checked:
    """A reading that passed every check decidable without the stored readings."""

    signed: SignedReading
    #: The community's record of its meter, as checked.
    info: MeterInfo
    #: `info` is an answer just fetched from the chain (written to the meter index).
    refreshed: bool
    now_seconds: int


#: What `store_readings` answers for each reading: stored (or already stored), or refused.
Outcome = Ingested | ReadingRejectedError


def check_reading(
    meters: MeterDirectory,
    domain: Domain,
    signed: SignedReading,
    now_seconds: int,
    *,
    refreshed: MeterInfo | None = None,
) -> Checked:
    """The checks before any DB work: the meter is admitted and not revoked, the reading is
    not from the future, its signature verifies (else ReadingRejectedError). `refreshed` is
    a community answer the caller just fetched; without it the directory's cached answer
    is used."""
    info = refreshed if refreshed is not None else meters.get(signed.reading.meter_id)
    _check_meter_and_signature(info, domain, signed, now_seconds)
    return Checked(signed, info, refreshed is not None, now_seconds)


def store_readings(
    engine: Engine, checked: Sequence[Checked], *, wait_for_writer: bool = True
) -> list[Outcome]:
    """Store checked readings in ONE Core write transaction (a group commit), each judged
    against what is stored before it, in order (readings earlier in the group included):
    one outcome per reading, a refusal as its ReadingRejectedError. Nothing of a refused
    reading is written (its rules are checked before any write of it), and the commit that
    acknowledges the stored ones is the last step. With `wait_for_writer=False`,
    WriterBusyError (nothing stored) when another writer holds the database."""
    keys = ["0x" + item.signed.reading.meter_id.hex() for item in checked]
    outcomes: list[Outcome] = []
    # Leaving the `connect` block without a commit (nothing new) rolls everything back.
    with (
        engine.connect() as connection,
        write_transaction_all(connection, keys, wait=wait_for_writer),
    ):
        for item, meter_hex in zip(checked, keys, strict=True):
            try:
                resent, first = _apply_rules(connection, item.signed)
            except ReadingRejectedError as refusal:
                outcomes.append(refusal)
                continue
            if resent is not None:
                outcomes.append(Ingested(meter_hex, resent, created=False))
                continue
            if item.refreshed or first:
                # A fresh community answer updates the meter index; the first reading of a
                # meter records its key and owner (the relayer needs the key, household
                # views need the owner) even when the directory answered from its cache.
                index_meter(connection, item.info, refresh=item.refreshed)
            reading = item.signed.reading
            new_id = insert_reading(connection, item.signed, item.now_seconds)
            stored = StoredReading(
                new_id,
                reading.interval_id,
                reading.import_wh_total,
                reading.export_wh_total,
                reading.seq,
            )
            outcomes.append(Ingested(meter_hex, stored, created=True))
        if any(isinstance(outcome, Ingested) and outcome.created for outcome in outcomes):
            connection.commit()
    return outcomes


def ingest_reading(
    engine: Engine,
    meters: MeterDirectory,
    domain: Domain,
    signed: SignedReading,
    now_seconds: int,
    *,
    refreshed: MeterInfo | None = None,
    wait_for_writer: bool = True,
) -> Ingested:
    """Verify a signed reading and store it in its own write transaction, or raise
    ReadingRejectedError naming the reason (`check_reading`, then `store_readings` of one).

    `refreshed` is a community answer the caller just fetched (it is written to the meter
    index); without it the directory's cached answer is used. With
    `wait_for_writer=False`, WriterBusyError (nothing stored) when another writer holds the
    database, instead of waiting for it."""
    checked = check_reading(meters, domain, signed, now_seconds, refreshed=refreshed)
    (outcome,) = store_readings(engine, [checked], wait_for_writer=wait_for_writer)
    if isinstance(outcome, ReadingRejectedError):
        raise outcome
    return outcome

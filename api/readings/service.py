"""Accept a signed meter reading: parse, check the meter, verify, check order, store.

The rules mirror the contract's (`QuartierMarket._acceptReading`), so what is stored here will
be accepted on-chain: known and active meter, not from the future, valid P-256 signature over
the EIP-712 digest, and against the meter's latest stored reading: seq and interval strictly
increase, registers never decrease. Re-sending a stored reading (same meter, seq and values)
is answered "already have it"; nothing is stored when a reading is refused.

Lean by design (the target is 1,000 readings/s): no chain call once the meter is cached, one
indexed query and one insert in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.errors import ReadingRejectedError
from api.ledger_gateway import Domain
from api.readings.meters import MeterDirectory, index_meter
from api.readings.models import MeterIndexRow, ReadingRow
from ledger.registry import MeterStatus
from metering.errors import ReadingFormatError
from metering.reading import INTERVAL_SECONDS, SignedReading, verify_signed_reading

#: The DB stores registers as signed 64-bit integers (BIGINT): a register at or above 2^63
#: Wh (9.2 EWh) is refused rather than silently wrapped.
MAX_STORABLE = 2**63 - 1


@dataclass(frozen=True)
class Accepted:
    """Outcome of an intake: the stored row, and whether this request created it."""

    row: ReadingRow
    created: bool


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


def _same_values(row: ReadingRow, signed: SignedReading) -> bool:
    reading = signed.reading
    return (
        row.interval_id == reading.interval_id
        and row.import_wh_total == reading.import_wh_total
        and row.export_wh_total == reading.export_wh_total
    )


def _check_successor(signed: SignedReading, latest: ReadingRow) -> None:
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


def accept_reading(
    session: Session,
    meters: MeterDirectory,
    domain: Domain,
    signed: SignedReading,
    now_seconds: int,
) -> Accepted:
    """Verify `signed` and store it, or raise ReadingRejectedError naming the reason."""
    reading = signed.reading
    meter_hex = "0x" + reading.meter_id.hex()
    info = meters.get(reading.meter_id, session)
    if info.status is MeterStatus.UNKNOWN:
        raise _reject("unknown-meter", f"meter {meter_hex} is not registered", signed)
    if info.status is MeterStatus.REVOKED:
        raise _reject("meter-revoked", f"meter {meter_hex} has been revoked", signed)
    available_at = (reading.interval_id + 1) * INTERVAL_SECONDS
    if available_at > now_seconds:
        raise _reject(
            "reading-from-future",
            f"a reading for interval {reading.interval_id} exists only from unix time"
            f" {available_at}",
            signed,
        )
    if not verify_signed_reading(signed, domain.chain_id, domain.market_address):
        raise _reject(
            "invalid-reading-signature",
            "the signature does not verify against the meter's registered key",
            signed,
        )
    latest = session.exec(
        select(ReadingRow)
        .where(ReadingRow.meter_id == meter_hex)
        .order_by(col(ReadingRow.seq).desc())
        .limit(1)
    ).first()
    if latest is not None and reading.seq <= latest.seq:
        same_seq = (
            latest
            if latest.seq == reading.seq
            else session.exec(
                select(ReadingRow).where(
                    ReadingRow.meter_id == meter_hex, ReadingRow.seq == reading.seq
                )
            ).first()
        )
        if same_seq is not None and _same_values(same_seq, signed):
            return Accepted(same_seq, created=False)
        if same_seq is not None:
            raise _reject(
                "conflicting-reading",
                f"seq {reading.seq} is already stored with different values",
                signed,
            )
    if latest is not None:
        _check_successor(signed, latest)
    elif session.get(MeterIndexRow, meter_hex) is None:
        # The first reading of a meter records its key and owner (the relayer needs the key,
        # household views need the owner), even when the directory answered from its cache.
        index_meter(session, info)
    row = ReadingRow(
        meter_id=meter_hex,
        interval_id=reading.interval_id,
        import_wh_total=reading.import_wh_total,
        export_wh_total=reading.export_wh_total,
        seq=reading.seq,
        signature_r=hex(signed.r),
        signature_s=hex(signed.s),
        received_at=now_seconds,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        # A concurrent request stored the same (meter, seq) first: answer as for a re-send.
        session.rollback()
        return accept_reading(session, meters, domain, signed, now_seconds)
    return Accepted(row, created=True)

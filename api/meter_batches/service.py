"""Accept a meter's signed period batch: the exchange's batch rules, checked early.

A batch is accepted when its meter is registered with the key it carries, its P-256
signature is valid in low-s form (`metering.period.verify_meter_period`, the rule of
OpenZeppelin's P256), it has exactly one delta per interval of the period, the period is over
(the chain's time), the meter counts for some interval of it, and it chains from the meter's
last accepted batch: the later of the last one stored here and the chain's `meterChain` (P =
Q + 1: start registers equal Q's end; P > Q + 1: not below them; a meter's first batch may
start anywhere). At most one batch per (meter, period): the same batch again answers the
stored one, another is a 409 conflict. The check and the insert run in one write transaction
(per meter), so two racing batches cannot both chain from the same predecessor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, insert, select

from api.meter_batches.errors import MeterBatchRejectedError
from api.meter_batches.models import MeterBatchRow
from api.meter_batches.schemas import MeterBatchIn
from api.readings.store import write_transaction
from api.relayer.context import V2Chain
from ledger.community import MeterInfo
from metering.errors import ReadingFormatError
from metering.period import MeterPeriod, SignedMeterPeriod, struct_hash, verify_meter_period
from metering.reading import PublicKey

BATCH: Table = MeterBatchRow.__table__  # type: ignore[attr-defined]
_INT64_MAX = 2**63 - 1
_ZERO_ADDRESS = "0x" + "0" * 40


@dataclass(frozen=True)
class AcceptedBatch:
    row: MeterBatchRow
    created: bool


def _reject(
    slug: str, detail: str, period: MeterPeriod | None = None, **facts: object
) -> Exception:
    if period is not None:
        facts = {"meter_id": "0x" + period.meter_id.hex(), "period_id": period.period_id, **facts}
    return MeterBatchRejectedError(detail, slug, **facts)


def to_signed_batch(body: MeterBatchIn) -> tuple[SignedMeterPeriod, PublicKey]:
    """The metering values of a body (422 malformed-meter-batch when it cannot be one)."""
    try:
        period = MeterPeriod(
            bytes.fromhex(body.meter_id[2:]),
            body.period_id,
            body.start_import_wh,
            body.start_export_wh,
            tuple((d.import_wh, d.export_wh) for d in body.deltas),
        )
        signed = SignedMeterPeriod(period, int(body.signature.r, 16), int(body.signature.s, 16))
        key = PublicKey(int(body.public_key.x, 16), int(body.public_key.y, 16))
    except ReadingFormatError as error:
        raise _reject("malformed-meter-batch", str(error)) from None
    if max(period.end_import_wh, period.end_export_wh) > _INT64_MAX:
        raise _reject("malformed-meter-batch", "end registers must be below 2^63 Wh", period)
    return signed, key


def _row_of(connection: Connection, meter_hex: str, period_id: int) -> MeterBatchRow | None:
    found = (
        connection.execute(
            select(BATCH).where(BATCH.c.meter_id == meter_hex, BATCH.c.period_id == period_id)
        )
        .mappings()
        .first()
    )
    return None if found is None else MeterBatchRow(**found)


def _last_stored(connection: Connection, meter_hex: str) -> MeterBatchRow | None:
    found = (
        connection.execute(
            select(BATCH)
            .where(BATCH.c.meter_id == meter_hex)
            .order_by(BATCH.c.period_id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if found is None else MeterBatchRow(**found)


def _check_meter(chain: V2Chain, signed: SignedMeterPeriod, key: PublicKey) -> MeterInfo:
    period = signed.period
    info = chain.meter(period.meter_id)
    if info.household.lower() == _ZERO_ADDRESS:
        raise _reject("unknown-meter", "no such meter in the community", period)
    if (info.public_key_x, info.public_key_y) != (key.x, key.y):
        raise _reject(
            "wrong-public-key", "the public key is not the meter's registered key", period
        )
    domain = chain.domain
    if not verify_meter_period(signed, key, domain.chain_id, domain.exchange_address):
        raise _reject(
            "invalid-meter-batch-signature",
            "the P-256 signature (low s) does not verify against the meter's key",
            period,
        )
    return info


def _check_period(chain: V2Chain, period: MeterPeriod, info: MeterInfo, now: int) -> None:
    grid = chain.grid
    if period.interval_count != grid.period_intervals:
        raise _reject(
            "bad-deltas",
            f"a batch has one delta per interval of the period: {grid.period_intervals},"
            f" got {period.interval_count}",
            period,
        )
    ends_at = grid.period_end(period.period_id)
    if now < ends_at:
        raise _reject(
            "period-not-over",
            f"period {period.period_id} ends at {ends_at} (the chain's time is {now})",
            period,
            ends_at=ends_at,
        )
    if not any(
        info.window.counts_for(grid.interval_start(k), grid.interval_end(k))
        for k in grid.intervals(period.period_id)
    ):
        raise _reject(
            "meter-outside-period",
            "the meter counts for no interval of the period (admitted later or revoked before)",
            period,
        )


def _check_chained(
    connection: Connection, chain: V2Chain, period: MeterPeriod, batch_hash: bytes
) -> None:
    meter_hex = "0x" + period.meter_id.hex()
    on_chain = chain.exchange.meter_chain(period.meter_id)
    last: tuple[int, int, int] | None = None
    if on_chain.next_period_id:
        last = (on_chain.next_period_id - 1, on_chain.end_import_wh, on_chain.end_export_wh)
    stored = _last_stored(connection, meter_hex)
    if stored is not None and (last is None or stored.period_id > last[0]):
        last = (stored.period_id, stored.end_import_wh, stored.end_export_wh)
    if last is None:
        return
    last_period, end_import, end_export = last
    start = (period.start_import_wh, period.start_export_wh)

    already_on_chain = (
        period.period_id == last_period and on_chain.next_period_id == period.period_id + 1
    )
    # Accepted on chain already (posted by someone else): only that very batch.
    if already_on_chain and (
        chain.exchange.posted_batch_hash(period.meter_id, period.period_id) == batch_hash
    ):
        return
    if period.period_id == last_period + 1:
        chained = start == (end_import, end_export)
    else:
        chained = (
            period.period_id > last_period
            and period.start_import_wh >= end_import
            and period.start_export_wh >= end_export
        )
    if not chained:
        raise _reject(
            "batch-not-chained",
            f"the batch does not follow the meter's last accepted batch (period {last_period},"
            f" end registers import {end_import} Wh, export {end_export} Wh)",
            period,
            last_period_id=last_period,
            end_import_wh=end_import,
            end_export_wh=end_export,
        )


def submit_meter_batch(
    engine: Engine, chain: V2Chain, body: MeterBatchIn, clock_seconds: int
) -> AcceptedBatch:
    """Verify and store a meter's period batch (see the module docstring)."""
    signed, key = to_signed_batch(body)
    period = signed.period
    info = _check_meter(chain, signed, key)
    batch_hash = struct_hash(period)
    meter_hex = "0x" + period.meter_id.hex()
    with engine.connect() as connection:
        existing = _row_of(connection, meter_hex, period.period_id)
    if existing is not None:
        return _same_or_conflict(existing, batch_hash, period)
    now = chain.now(clock_seconds)
    _check_period(chain, period, info, now)
    row = MeterBatchRow(
        meter_id=meter_hex,
        period_id=period.period_id,
        household=info.household,
        start_import_wh=period.start_import_wh,
        start_export_wh=period.start_export_wh,
        end_import_wh=period.end_import_wh,
        end_export_wh=period.end_export_wh,
        deltas="0x" + period.deltas_bytes.hex(),
        signature_r=f"0x{signed.r:064x}",
        signature_s=f"0x{signed.s:064x}",
        batch_hash="0x" + batch_hash.hex(),
        created_at=now,
    )
    with engine.connect() as connection, write_transaction(connection, meter_hex, wait=True):
        existing = _row_of(connection, meter_hex, period.period_id)
        if existing is not None:
            return _same_or_conflict(existing, batch_hash, period)
        _check_chained(connection, chain, period, batch_hash)
        connection.execute(insert(BATCH).values(**row.model_dump()))
        connection.commit()
    return AcceptedBatch(row, True)


def _same_or_conflict(
    existing: MeterBatchRow, batch_hash: bytes, period: MeterPeriod
) -> AcceptedBatch:
    if existing.batch_hash == "0x" + batch_hash.hex():
        return AcceptedBatch(existing, False)
    raise _reject(
        "conflicting-meter-batch",
        "another batch of this meter for this period is already stored",
        period,
        stored_batch_hash=existing.batch_hash,
    )


def batches_of(engine: Engine, meter_ids: list[str], period_id: int) -> dict[str, MeterBatchRow]:
    """The stored batches of these meters (0x-hex ids) for a period, by meter id."""
    if not meter_ids:
        return {}
    with engine.connect() as connection:
        found = connection.execute(
            select(BATCH).where(BATCH.c.meter_id.in_(meter_ids), BATCH.c.period_id == period_id)
        ).mappings()
        return {item["meter_id"]: MeterBatchRow(**item) for item in found}


def signed_of(row: MeterBatchRow) -> SignedMeterPeriod:
    """The metering value of a stored batch."""
    period = MeterPeriod.from_deltas_bytes(
        bytes.fromhex(row.meter_id[2:]),
        row.period_id,
        row.start_import_wh,
        row.start_export_wh,
        bytes.fromhex(row.deltas[2:]),
    )
    return SignedMeterPeriod(period, int(row.signature_r, 16), int(row.signature_s, 16))

"""Steps 2-4, on-chain: commit a cleared interval, relay readings, settle.

Each step first asks the chain whether it is already done (commitment stored, reading chain
already past a reading, interval settled), so a worker killed between a transaction and its
DB update repeats nothing when restarted.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict

from sqlmodel import Session, col, select

from api.errors import ApiError
from api.ledger_gateway import LedgerGateway
from api.orders.models import OrderRow, OrderStatus
from api.orders.service import signed_order_of
from api.readings.models import MeterIndexRow, ReadingRow
from api.worker.clearing import reopen_interval
from api.worker.models import IntervalRow, IntervalStatus
from ledger.errors import ContractRevertError
from ledger.meter_chain import ReadingChainError
from ledger.orders import Trade
from metering.reading import INTERVAL_SECONDS, PublicKey, Reading, SignedReading

log = logging.getLogger("quartier.worker")

#: Readings per submitReadings transaction (one transaction per batch beats one per item).
READINGS_BATCH = 64

#: Reverts caused by one order or household: drop it and clear the interval again.
_ORDER_REVERTS = ("MarketOrderCancelled", "MarketNotMember", "MarketInsufficientEscrow")


def commit_interval(
    session: Session, ledger: LedgerGateway, interval: IntervalRow, now: int
) -> None:
    """Commit a CLEARED interval (or record that it already is committed)."""
    market = ledger.market
    existing = market.commitment_of(interval.interval_id)
    if existing != bytes(32):
        interval.commitment = "0x" + existing.hex()
    else:
        trades = json.loads(interval.trades_json)
        hashes = sorted({t["sell_id"] for t in trades} | {t["buy_id"] for t in trades})
        index = {h: i for i, h in enumerate(hashes)}
        orders = []
        for order_hash in hashes:
            row = session.get(OrderRow, order_hash)
            if row is None:
                raise ApiError(f"order {order_hash} of interval {interval.interval_id} is gone")
            orders.append(signed_order_of(row))
        chain_trades = [
            Trade(index[t["sell_id"]], index[t["buy_id"]], t["energy_wh"], t["price_per_kwh"])
            for t in trades
        ]
        try:
            result = market.commit_interval(interval.interval_id, orders, chain_trades)
        except ContractRevertError as error:
            if error.name not in _ORDER_REVERTS:
                raise
            _drop_household_orders(session, interval, error)
            reopen_interval(session, interval)
            return
        interval.commitment = "0x" + result.committed.commitment.hex()
    interval.status = IntervalStatus.COMMITTED
    interval.updated_at = now
    session.add(interval)
    session.commit()


def _drop_household_orders(
    session: Session, interval: IntervalRow, error: ContractRevertError
) -> None:
    household = error.arguments.get("household")
    nonce = error.arguments.get("nonce")
    log.warning("commit of %s refused (%s): dropping and re-clearing", interval.interval_id, error)
    query = select(OrderRow).where(
        OrderRow.interval_id == interval.interval_id, OrderRow.household == household
    )
    if nonce is not None:
        query = query.where(OrderRow.nonce == nonce)
    for row in session.exec(query).all():
        row.status = OrderStatus.DROPPED
        row.reason = error.name
        session.add(row)


def _signed(row: ReadingRow, x: int, y: int) -> SignedReading:
    reading = Reading(
        bytes.fromhex(row.meter_id[2:]),
        row.interval_id,
        row.import_wh_total,
        row.export_wh_total,
        row.seq,
    )
    return SignedReading(
        reading, PublicKey(x, y), int(row.signature_r, 16), int(row.signature_s, 16)
    )


def submit_readings(session: Session, ledger: LedgerGateway) -> int:
    """Relay stored readings not yet on-chain, oldest first per meter; returns how many."""
    pending = session.exec(
        select(ReadingRow)
        .where(ReadingRow.submitted == False, ReadingRow.rejected_reason == None)  # noqa: E711, E712
        .order_by(col(ReadingRow.meter_id), col(ReadingRow.seq))
        .limit(READINGS_BATCH)
    ).all()
    if not pending:
        return 0
    market = ledger.market
    by_meter: dict[str, list[ReadingRow]] = defaultdict(list)
    for row in pending:
        by_meter[row.meter_id].append(row)
    batch: list[SignedReading] = []
    for meter_hex, rows in by_meter.items():
        meter = session.get(MeterIndexRow, meter_hex)
        chain = market.meter_chain(bytes.fromhex(meter_hex[2:]), refresh=True)
        last_seq = chain.entries[-1].seq if chain.entries else -1
        for row in rows:
            if row.seq <= last_seq:  # already relayed (by us before a crash, or by another)
                row.submitted = True
                session.add(row)
            elif meter is not None:
                batch.append(_signed(row, int(meter.public_key_x, 16), int(meter.public_key_y, 16)))
    if batch:
        try:
            market.submit_readings(batch)
        except ContractRevertError as error:
            meter_id = error.arguments.get("meterId")
            if not isinstance(meter_id, bytes):
                raise
            # One meter's reading is refused (revoked, ...): park that meter, keep the others.
            for row in by_meter.get("0x" + meter_id.hex(), []):
                row.rejected_reason = error.name
                session.add(row)
            session.commit()
            return 0
        for signed in batch:
            for row in by_meter["0x" + signed.reading.meter_id.hex()]:
                if row.seq == signed.reading.seq:
                    row.submitted = True
                    session.add(row)
    session.commit()
    return len(batch)


def settle_interval(
    session: Session, ledger: LedgerGateway, interval: IntervalRow, now: int, grace_seconds: int
) -> None:
    """Settle a COMMITTED interval once its readings can be on-chain (after the grace time)."""
    if now < (interval.interval_id + 1) * INTERVAL_SECONDS + grace_seconds:
        return
    market = ledger.market
    if not market.is_settled(interval.interval_id):
        try:
            result = market.settle_interval(interval.interval_id)
        except (ReadingChainError, ContractRevertError) as error:
            if isinstance(error, ContractRevertError) and error.name not in (
                "MarketBoundaryReadingMissing",
                "MarketReadingProofInvalid",
            ):
                raise
            log.info("interval %s waits for readings: %s", interval.interval_id, error)
            return
        interval.delivered_wh = result.settled.delivered_wh
        interval.paid_units = result.settled.paid_units
    interval.status = IntervalStatus.SETTLED
    interval.updated_at = now
    session.add(interval)
    session.commit()

"""Step 1, at gate closure: turn an interval's book into trades with the pure engine.

Before clearing, orders the contract would refuse are dropped (nonce cancelled on-chain,
household no longer a member, buys its free escrow cannot cover any more), so the commit
does not revert. The result, the order statuses and the interval row are written in one
transaction: a crash leaves either nothing (clear again) or the whole result.
"""

from __future__ import annotations

import json
from collections import defaultdict

from sqlmodel import Session, col, select

from api.ledger_gateway import LedgerGateway
from api.matching import Order as BookOrder
from api.matching import Side as BookSide
from api.matching import clear
from api.orders.models import OrderRow, OrderStatus
from api.settings import Settings
from api.worker.models import IntervalRow, IntervalStatus

_IN_BOOK = (OrderStatus.OPEN, OrderStatus.SCHEDULED)


def intervals_to_clear(session: Session, ledger: LedgerGateway, now_seconds: int) -> list[int]:
    """Intervals with orders in the book whose gate has closed and that are not cleared."""
    candidates = session.exec(
        select(OrderRow.interval_id)
        .where(col(OrderRow.status).in_(_IN_BOOK))
        .distinct()
        .order_by(col(OrderRow.interval_id))
    ).all()
    due = []
    for interval_id in candidates:
        if now_seconds < ledger.gate_closes_at(interval_id):
            break  # sorted: every later interval is still open
        if session.get(IntervalRow, interval_id) is None:
            due.append(interval_id)
    return due


def _drop(row: OrderRow, reason: str) -> None:
    row.status = OrderStatus.DROPPED
    row.reason = reason


def _admissible(session: Session, ledger: LedgerGateway, rows: list[OrderRow]) -> list[OrderRow]:
    """The orders the contract will accept in a commit; the others are marked dropped."""
    kept: list[OrderRow] = []
    by_household: dict[str, list[OrderRow]] = defaultdict(list)
    for row in rows:
        by_household[row.household].append(row)
    for household, orders in by_household.items():
        if not ledger.is_member(household):
            for row in orders:
                _drop(row, "household is not a member")
            continue
        live = []
        for row in orders:
            if ledger.is_nonce_cancelled(household, row.nonce):
                _drop(row, "nonce cancelled on-chain")
            else:
                live.append(row)
        # Escrow: oldest buys first, as long as the free escrow covers their locks. The locks
        # of this interval are all that is left open for the household at this point, except
        # orders of later intervals, which are checked again when those are cleared.
        free_units = None
        for row in sorted(live, key=lambda r: (r.created_at, r.order_hash)):
            if row.lock_units:
                if free_units is None:
                    free_units = ledger.free_escrow_units(household)
                if row.lock_units > free_units:
                    _drop(row, "free escrow does not cover the order")
                    continue
                free_units -= row.lock_units
            kept.append(row)
    for row in rows:
        session.add(row)
    return kept


def clear_interval(
    session: Session, ledger: LedgerGateway, settings: Settings, interval_id: int, now: int
) -> IntervalRow:
    """Clear `interval_id` and store the result (status CLEARED, or EMPTY if no trade)."""
    rows = list(
        session.exec(
            select(OrderRow).where(
                OrderRow.interval_id == interval_id, col(OrderRow.status).in_(_IN_BOOK)
            )
        ).all()
    )
    kept = _admissible(session, ledger, rows)
    book = [
        BookOrder(
            row.order_hash,
            row.household,
            BookSide.SELL if row.side == 0 else BookSide.BUY,
            row.energy_wh,
            row.price_per_kwh,
        )
        for row in kept
    ]
    result = clear(book, settings.mechanism, settings.price_bounds)
    traded = {t.sell_id for t in result.trades} | {t.buy_id for t in result.trades}
    for row in kept:
        row.status = OrderStatus.COMMITTED if row.order_hash in traded else OrderStatus.UNMATCHED
        session.add(row)
    interval = IntervalRow(
        interval_id=interval_id,
        status=IntervalStatus.CLEARED if result.trades else IntervalStatus.EMPTY,
        mechanism=settings.mechanism.value,
        clearing_price_per_kwh=result.clearing_price_per_kwh,
        trades_json=json.dumps(
            [
                {
                    "sell_id": t.sell_id,
                    "buy_id": t.buy_id,
                    "energy_wh": t.energy_wh,
                    "price_per_kwh": t.price_per_kwh,
                }
                for t in result.trades
            ]
        ),
        updated_at=now,
    )
    session.add(interval)
    session.commit()
    return interval


def reopen_interval(session: Session, interval: IntervalRow) -> None:
    """Undo a clearing the contract refused, so the next pass clears the book again."""
    rows = session.exec(
        select(OrderRow).where(
            OrderRow.interval_id == interval.interval_id,
            col(OrderRow.status).in_((OrderStatus.COMMITTED, OrderStatus.UNMATCHED)),
        )
    ).all()
    for row in rows:
        row.status = OrderStatus.OPEN
        session.add(row)
    session.delete(interval)
    session.commit()

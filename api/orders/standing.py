"""Standing orders: "sell (or buy) this much every interval at this limit".

The contract checks every order's household signature, so the service cannot sign orders on
a household's behalf. A standing order is therefore a template plus the household's
pre-signed orders for a range of intervals (its wallet or agent signs them in one go, e.g. a
day of 96 quarter-hours). They are stored SCHEDULED; the worker puts each into its
interval's book at gate closure, checking escrow, membership and cancelled nonces then.
"""

from __future__ import annotations

from sqlmodel import Session, select
from web3 import Web3

from api.auth import recover_personal
from api.errors import ForbiddenError, NotFoundError, OrderRejectedError
from api.ledger_gateway import LedgerGateway
from api.orders.models import OrderRow, OrderStatus, StandingOrderRow
from api.orders.schemas import SIDE_VALUE, StandingOrderIn
from api.orders.service import submit_order

#: At most this many intervals per standing order (a week of quarter-hours).
MAX_INTERVALS = 7 * 96


def cancel_standing_message(standing_order_id: int) -> str:
    """What a household personal_signs to stop one of its standing orders."""
    return f"Quartier: cancel standing order {standing_order_id}"


def create_standing_order(
    session: Session, ledger: LedgerGateway, body: StandingOrderIn, now: int
) -> StandingOrderRow:
    """Verify every pre-signed order against the template and store them all, or none."""
    household = Web3.to_checksum_address(body.household)
    intervals = [order.interval_id for order in body.orders]
    if not body.orders or len(body.orders) > MAX_INTERVALS:
        raise OrderRejectedError(
            f"a standing order carries 1 to {MAX_INTERVALS} signed orders", "malformed-order"
        )
    if len(set(intervals)) != len(intervals):
        raise OrderRejectedError("one signed order per interval", "malformed-order")
    for order in body.orders:
        template = (household, body.side, body.energy_wh, body.price_per_kwh)
        actual = (
            Web3.to_checksum_address(order.household),
            order.side,
            order.energy_wh,
            order.price_per_kwh,
        )
        if actual != template:
            raise OrderRejectedError(
                f"the order for interval {order.interval_id} differs from the standing order",
                "malformed-order",
                interval_id=order.interval_id,
            )
    standing = StandingOrderRow(
        household=household,
        side=SIDE_VALUE[body.side],
        energy_wh=body.energy_wh,
        price_per_kwh=body.price_per_kwh,
        first_interval_id=min(intervals),
        last_interval_id=max(intervals),
        created_at=now,
    )
    session.add(standing)
    session.flush()  # assigns the id
    assert standing.id is not None
    for order in sorted(body.orders, key=lambda o: o.interval_id):
        # Any refusal raises before the commit below: nothing of the request is stored.
        submit_order(session, ledger, order, now, standing_order_id=standing.id, commit=False)
    session.commit()
    return standing


def cancel_standing_order(session: Session, standing_order_id: int, signature: str) -> int:
    """Stop a standing order: its not-yet-cleared orders are cancelled; returns how many."""
    standing = session.get(StandingOrderRow, standing_order_id)
    if standing is None:
        raise NotFoundError(f"no standing order {standing_order_id}", "unknown-standing-order")
    signer = recover_personal(cancel_standing_message(standing_order_id), signature)
    if signer != standing.household:
        raise ForbiddenError(f"{signer} cannot cancel a standing order of {standing.household}")
    rows = session.exec(
        select(OrderRow).where(
            OrderRow.standing_order_id == standing_order_id,
            OrderRow.status == OrderStatus.SCHEDULED,
        )
    ).all()
    for row in rows:
        row.status = OrderStatus.CANCELLED
        session.add(row)
    standing.active = False
    session.add(standing)
    session.commit()
    return len(rows)

"""Orders: accept a signed order, list an interval's book, cancel.

An order is accepted when: well-formed, its interval's book still open, its EIP-712
signature recovers its household, the household is a member, the nonce is neither used nor
cancelled on-chain, and (buys) the household's free escrow covers this order's lock plus the
locks of its other open orders. Nothing is stored on refusal. These are the contract's commit
rules checked early, so a commit rarely fails; the contract checks them again anyway.
"""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from api.auth import recover_personal
from api.errors import ForbiddenError, NotFoundError, OrderRejectedError
from api.ledger_gateway import LedgerGateway
from api.orders.models import OrderRow, OrderStatus
from api.orders.schemas import SIDE_VALUE, OrderIn
from ledger.orders import (
    Order,
    OrderFormatError,
    Side,
    SignedOrder,
    lock_units,
    order_digest,
    recover_signer,
)
from ledger.signatures import SignatureRuleError, check_vrs


def cancel_message(order_hash: str) -> str:
    """What a household personal_signs to cancel one of its orders off-chain."""
    return f"Quartier: cancel order {order_hash.lower()}"


def to_signed_order(body: OrderIn) -> SignedOrder:
    """The ledger value of a request body (422 when it cannot be an on-chain order)."""
    try:
        order = Order(
            body.household,
            Side(SIDE_VALUE[body.side]),
            body.interval_id,
            body.energy_wh,
            body.price_per_kwh,
            body.nonce,
        )
        return SignedOrder(
            order, body.signature.v, int(body.signature.r, 16), int(body.signature.s, 16)
        )
    except OrderFormatError as error:
        raise OrderRejectedError(str(error), "malformed-order") from None


def check_signature_rule(signed: SignedOrder) -> None:
    """Refuse a signature the contract would refuse (422 invalid-order-signature): accepted,
    it would make the whole interval's commit revert."""
    try:
        check_vrs(signed.v, signed.r, signed.s)
    except SignatureRuleError as error:
        raise OrderRejectedError(
            f"signature refused: {error}", "invalid-order-signature", rule=error.reason
        ) from None


def signed_order_of(row: OrderRow) -> SignedOrder:
    """The ledger value of a stored order."""
    order = Order(
        row.household, Side(row.side), row.interval_id, row.energy_wh, row.price_per_kwh, row.nonce
    )
    return SignedOrder(order, row.v, int(row.r, 16), int(row.s, 16))


def locked_by_open_orders(session: Session, household: str) -> int:
    """Escrow the household's open (not yet committed) buy orders may lock."""
    total = session.exec(
        select(func.coalesce(func.sum(OrderRow.lock_units), 0)).where(
            OrderRow.household == household, OrderRow.status == OrderStatus.OPEN
        )
    ).one()
    return int(total)


def submit_order(
    session: Session,
    ledger: LedgerGateway,
    body: OrderIn,
    now_seconds: int,
    standing_order_id: int | None = None,
    commit: bool = True,
) -> tuple[OrderRow, bool]:
    """Verify and store a signed order; returns (row, created).

    With `standing_order_id` the order is SCHEDULED: its escrow is checked when its
    interval is cleared (`api.worker.clearing`), not now, so a day of standing buys does not
    need a day of escrow up front.
    """
    signed = to_signed_order(body)
    check_signature_rule(signed)
    order = signed.order
    domain = ledger.domain
    order_hash = "0x" + order_digest(order, domain.chain_id, domain.market_address).hex()
    facts = {"order_hash": order_hash, "interval_id": order.interval_id}
    existing = session.get(OrderRow, order_hash)
    if existing is not None and (existing.v, existing.r, existing.s) == (
        signed.v,
        hex(signed.r),
        hex(signed.s),
    ):
        return existing, False
    gate = ledger.gate_closes_at(order.interval_id)
    if now_seconds >= gate:
        raise OrderRejectedError(
            f"the book of interval {order.interval_id} closed at unix time {gate}",
            "interval-closed",
            gate_closes_at=gate,
            **facts,
        )
    try:
        signer = recover_signer(signed, domain.chain_id, domain.market_address)
    except Exception:  # eth-keys raises several types for an unrecoverable signature
        signer = None
    if signer != order.household:
        raise OrderRejectedError(
            f"the signature recovers {signer}, not the household {order.household}",
            "invalid-order-signature",
            **facts,
        )
    used = session.exec(
        select(OrderRow).where(OrderRow.household == order.household, OrderRow.nonce == order.nonce)
    ).first()
    if used is not None or ledger.is_nonce_cancelled(order.household, order.nonce):
        raise OrderRejectedError(
            f"nonce {order.nonce} of {order.household} is already used or cancelled",
            "nonce-used",
            **facts,
        )
    if not ledger.is_member(order.household):
        raise OrderRejectedError(
            f"{order.household} is not a member of the community", "not-member", **facts
        )
    lock = lock_units([(order.energy_wh, order.price_per_kwh)]) if order.side is Side.BUY else 0
    if lock and standing_order_id is None:
        free_units = ledger.free_escrow_units(order.household)
        already_units = locked_by_open_orders(session, order.household)
        if already_units + lock > free_units:
            raise OrderRejectedError(
                f"this order may lock {lock} units but only {free_units - already_units} of"
                f" {free_units} free escrow units are not already promised to open orders",
                "insufficient-escrow",
                needed_units=lock,
                free_units=free_units,
                open_orders_units=already_units,
                **facts,
            )
    row = OrderRow(
        order_hash=order_hash,
        household=order.household,
        side=int(order.side),
        interval_id=order.interval_id,
        energy_wh=order.energy_wh,
        price_per_kwh=order.price_per_kwh,
        nonce=order.nonce,
        v=signed.v,
        r=hex(signed.r),
        s=hex(signed.s),
        lock_units=lock,
        created_at=now_seconds,
        standing_order_id=standing_order_id,
        status=OrderStatus.OPEN if standing_order_id is None else OrderStatus.SCHEDULED,
    )
    session.add(row)
    if commit:
        session.commit()
    return row, True


def order_book(session: Session, interval_id: int) -> list[OrderRow]:
    """The open orders of an interval, best price first on each side."""
    rows = session.exec(
        select(OrderRow)
        .where(OrderRow.interval_id == interval_id, OrderRow.status != OrderStatus.SCHEDULED)
        .order_by(col(OrderRow.side), col(OrderRow.price_per_kwh), col(OrderRow.order_hash))
    ).all()
    return list(rows)


def cancel_order(session: Session, order_hash: str, signature: str) -> OrderRow:
    """Cancel an open order off-chain, on its household's signed request."""
    row = session.get(OrderRow, order_hash.lower())
    if row is None:
        raise NotFoundError(f"no order {order_hash}", "unknown-order")
    signer = recover_personal(cancel_message(row.order_hash), signature)
    if signer != row.household:
        raise ForbiddenError(f"{signer} cannot cancel an order of {row.household}")
    if row.status == OrderStatus.CANCELLED:
        return row
    if row.status not in (OrderStatus.OPEN, OrderStatus.SCHEDULED):
        raise OrderRejectedError(
            f"order {row.order_hash} is {row.status}: only open orders can be cancelled",
            "order-not-open",
        )
    row.status = OrderStatus.CANCELLED
    session.add(row)
    session.commit()
    return row

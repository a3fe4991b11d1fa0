"""Orders: POST a signed order, GET an interval's public book, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from api.deps import ClockDep, LedgerDep, SessionDep
from api.orders.schemas import (
    SIDE_NAME,
    CancelIn,
    OrderBookOut,
    OrderIn,
    OrderOut,
    StandingOrderIn,
    StandingOrderOut,
)
from api.orders.service import cancel_order, order_book, submit_order
from api.orders.standing import cancel_standing_order, create_standing_order

router = APIRouter(tags=["orders"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "Already stored (idempotent re-send)"},
        403: {"description": "Not a member", **_PROBLEM},
        409: {"description": "Interval closed, nonce used, escrow short", **_PROBLEM},
        422: {"description": "Malformed or badly signed", **_PROBLEM},
        503: {"description": "Chain unreachable", **_PROBLEM},
    },
)
def post_order(
    body: OrderIn, session: SessionDep, ledger: LedgerDep, clock: ClockDep, response: Response
) -> OrderOut:
    """Submit an EIP-712 signed order; it authenticates itself."""
    row, created = submit_order(session, ledger, body, clock())
    if not created:
        response.status_code = status.HTTP_200_OK
    return OrderOut.of(row)


@router.get("/intervals/{interval_id}/orders")
def get_order_book(interval_id: int, session: SessionDep, ledger: LedgerDep) -> OrderBookOut:
    """The public order book of an interval (pseudonymous addresses, with signatures)."""
    rows = order_book(session, interval_id)
    return OrderBookOut(
        interval_id=interval_id,
        gate_closes_at=ledger.gate_closes_at(interval_id),
        orders=[OrderOut.of(row) for row in rows],
    )


@router.post("/orders/{order_hash}/cancel", responses={403: _PROBLEM, 404: _PROBLEM, 409: _PROBLEM})
def post_cancel(order_hash: str, body: CancelIn, session: SessionDep) -> OrderOut:
    """Withdraw an open order from the book (signed `Quartier: cancel order <hash>`).

    Off-chain only: for a guarantee against a dishonest matcher, also cancel the nonce
    on-chain (`QuartierMarket.cancelNonce`); the worker drops such orders before committing.
    """
    return OrderOut.of(cancel_order(session, order_hash, body.signature))


@router.post(
    "/standing-orders",
    status_code=status.HTTP_201_CREATED,
    responses={403: _PROBLEM, 409: _PROBLEM, 422: _PROBLEM},
)
def post_standing_order(
    body: StandingOrderIn, session: SessionDep, ledger: LedgerDep, clock: ClockDep
) -> StandingOrderOut:
    """Store a standing order with its pre-signed orders (all verified, or none stored)."""
    row = create_standing_order(session, ledger, body, clock())
    assert row.id is not None
    return StandingOrderOut(
        id=row.id,
        household=row.household,
        side=SIDE_NAME[row.side],
        energy_wh=row.energy_wh,
        price_per_kwh=row.price_per_kwh,
        first_interval_id=row.first_interval_id,
        last_interval_id=row.last_interval_id,
        active=row.active,
    )


@router.post(
    "/standing-orders/{standing_order_id}/cancel", responses={403: _PROBLEM, 404: _PROBLEM}
)
def post_cancel_standing(
    standing_order_id: int, body: CancelIn, session: SessionDep
) -> dict[str, int]:
    """Stop a standing order (signed `Quartier: cancel standing order <id>`)."""
    return {"cancelled_orders": cancel_standing_order(session, standing_order_id, body.signature)}

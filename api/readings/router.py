"""POST /readings: the endpoint meter agents deliver signed readings to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response, status

from api.deps import ClockDep, LedgerDep, MetersDep, SessionDep
from api.readings.schemas import ReadingOut
from api.readings.service import accept_reading, parse_reading

router = APIRouter(prefix="/readings", tags=["readings"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReadingOut,
    responses={
        200: {"description": "Already stored (idempotent re-send)", "model": ReadingOut},
        403: {"description": "Meter revoked", **_PROBLEM},
        409: {"description": "Replay, decreasing register or conflicting seq", **_PROBLEM},
        422: {"description": "Malformed, unknown meter, bad signature, future", **_PROBLEM},
        503: {"description": "Chain unreachable (meter not cached)", **_PROBLEM},
    },
)
def post_reading(
    session: SessionDep,
    ledger: LedgerDep,
    meters: MetersDep,
    clock: ClockDep,
    response: Response,
    payload: Any = Body(  # noqa: B008 - FastAPI's way to take the raw JSON body
        ..., description="A signed reading in the fixed JSON shape (see metering.reading)."
    ),
) -> ReadingOut:
    """Verify a meter-signed reading against the registered key and store it."""
    signed = parse_reading(payload)
    accepted = accept_reading(session, meters, ledger.domain, signed, clock())
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return ReadingOut.of(accepted.row)

"""v2 meter batches: POST a meter's signed period batch, GET a stored one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from api.deps import ClockDep
from api.errors import NotFoundError
from api.meter_batches.schemas import MeterBatchIn, MeterBatchOut
from api.meter_batches.service import batches_of, submit_meter_batch
from api.schedules.router import EngineDep, V2ChainDep

router = APIRouter(tags=["meter batches (v2)"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
MeterPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
PeriodPath = Annotated[int, Path(ge=0, le=2**63 - 1)]


@router.post(
    "/meter-batches",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "Already stored (idempotent re-send)"},
        409: {"description": "Period not over, not chained, conflicting batch", **_PROBLEM},
        422: {"description": "Malformed, unknown meter, bad signature", **_PROBLEM},
        503: {"description": "Chain unreachable", **_PROBLEM},
    },
)
def post_meter_batch(
    body: MeterBatchIn, engine: EngineDep, chain: V2ChainDep, clock: ClockDep, response: Response
) -> MeterBatchOut:
    """Submit a meter's P-256 signed batch of one settlement period."""
    accepted = submit_meter_batch(engine, chain, body, clock())
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return MeterBatchOut.of(accepted.row)


@router.get("/meters/{meter_id}/batches/{period_id}", responses={404: _PROBLEM})
def get_meter_batch(meter_id: MeterPath, period_id: PeriodPath, engine: EngineDep) -> MeterBatchOut:
    """A stored batch of a meter for a period."""
    found = batches_of(engine, [meter_id.lower()], period_id).get(meter_id.lower())
    if found is None:
        raise NotFoundError(f"no batch of meter {meter_id} for period {period_id}", "unknown-batch")
    return MeterBatchOut.of(found)

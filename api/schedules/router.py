"""v2 schedules: POST a signed schedule, GET a period's public book, GET one schedule."""

from __future__ import annotations

import contextlib
import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic_core import to_json
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from api.errors import NotFoundError
from api.readings.router import PostOnlyRoute
from api.readings.store import WriterBusyError
from api.relayer.context import V2Chain
from api.schedules.schemas import (
    PeriodBookOut,
    ScheduleIn,
    ScheduleOut,
    body_schema,
    parse_body,
    schedule_json,
)
from api.schedules.service import (
    Accepted,
    Checked,
    check_schedule,
    columns_of,
    period_book,
    store_schedule,
)

router = APIRouter(tags=["schedules (v2)"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def get_engine(request: Request) -> Engine:
    """The app's DB engine."""
    engine: Engine = request.app.state.engine
    return engine


def get_v2_chain(request: Request) -> V2Chain:
    """The chain view `api.app.create_app` installed."""
    chain: V2Chain = request.app.state.v2_chain
    return chain


EngineDep = Annotated[Engine, Depends(get_engine)]
V2ChainDep = Annotated[V2Chain, Depends(get_v2_chain)]
PeriodPath = Annotated[int, Path(ge=0, le=2**63 - 1)]
HashPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]


@router.post(
    "/schedules",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleOut,
    responses={
        200: {"description": "Already stored (idempotent re-send)", "model": ScheduleOut},
        403: {"description": "Not a member", **_PROBLEM},
        409: {"description": "Gate closed, stale version, escrow short, ...", **_PROBLEM},
        422: {"description": "Malformed, badly signed, outside the period", **_PROBLEM},
        503: {"description": "Chain unreachable", **_PROBLEM},
    },
    openapi_extra=body_schema(ScheduleIn),
)
async def post_schedule(request: Request) -> Response:
    """Submit an EIP-712 signed schedule; the relayer posts it before its gate.

    The intake hot path (target 300/s): parsed from the raw body, answered without the
    response model; its checks run on the event loop when every chain fact they need is
    cached, in a thread otherwise, and its write transaction on the loop when no other
    writer holds the DB (`_store`).
    """
    body = parse_body(ScheduleIn, await request.body())
    state = request.app.state
    chain: V2Chain = state.v2_chain
    engine: Engine = state.engine
    check = functools.partial(check_schedule, engine, chain, body, state.clock())
    checked = check() if chain.is_warm(body.household, body.period_id) else None
    if checked is None:
        checked = await run_in_threadpool(check)
    if isinstance(checked, Accepted):
        accepted = checked
    else:
        accepted = await _store(engine, checked)
    # The validated entries are the stored ones as received; pydantic-core's encoder is ~4x
    # faster than json.dumps on a 96-entry answer.
    entries = body.entries if accepted.created else None
    return Response(
        to_json(schedule_json(accepted.fields, entries)),
        status_code=status.HTTP_201_CREATED if accepted.created else status.HTTP_200_OK,
        media_type="application/json",
    )


async def _store(engine: Engine, checked: Checked) -> Accepted:
    """The write transaction on the loop when the DB is free (a few indexed statements),
    else waited for in a thread, never on the loop; the checks are not made again."""
    with contextlib.suppress(WriterBusyError):
        return store_schedule(engine, checked, wait_for_writer=False)
    return await run_in_threadpool(store_schedule, engine, checked)


def fast_route() -> Route:
    """POST /schedules without FastAPI's route machinery, put first in the app's routes, as
    `api.readings.router.fast_route` does for readings: FastAPI's request handler (a
    dependency solve with nothing to resolve, its route matching through the routers) was
    ~10 % of a schedule's CPU. Same endpoint, middlewares and exception handlers; the route
    of `router` stays, documented in the OpenAPI schema, and answers the other methods."""
    return PostOnlyRoute("/schedules", post_schedule, methods=["POST"], include_in_schema=False)


@router.get("/schedules/{schedule_hash}", response_model=ScheduleOut, responses={404: _PROBLEM})
async def get_one_schedule(schedule_hash: HashPath, request: Request) -> Response:
    """One stored schedule, with its status (pending, posted, refused and why).

    One indexed read on the event loop, as the intake's writes are (`post_schedule`): a sync
    endpoint paid two threadpool hops (it and its engine dependency) and the row's ORM and
    response models, ~3 ms of a GET's CPU.
    """
    engine: Engine = request.app.state.engine
    with engine.connect() as connection:
        found = columns_of(connection, schedule_hash.lower())
    if found is None:
        raise NotFoundError(f"no schedule {schedule_hash}", "unknown-schedule")
    return Response(to_json(schedule_json(found)), media_type="application/json")


@router.get("/periods/{period_id}/schedules")
def get_period_book(period_id: PeriodPath, engine: EngineDep) -> PeriodBookOut:
    """The public book of a period: every schedule stored for it, with its status."""
    rows = period_book(engine, period_id)
    return PeriodBookOut(period_id=period_id, schedules=[ScheduleOut.of(row) for row in rows])

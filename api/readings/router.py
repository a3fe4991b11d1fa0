"""POST /readings: the endpoint meter agents deliver signed readings to.

The hot path of the service (target: 1,000 readings/s, p99 <= 100 ms on two cores), so it is
an `async` endpoint doing its CPU work (parse, P-256 verify) inline on the event loop, then
storing the reading in the write transaction it shares with the readings that arrived with it
(`api.readings.group_commit`): a sync endpoint paid a threadpool round trip per request and per
dependency, and its threads fought over the GIL and SQLite's write lock (measured in
scripts/benchmarks/ingest.py). For the same reason it reads its collaborators from `app.state`
itself (no dependency for FastAPI to resolve). The body is parsed by `metering.reading`
(strict, exact keys) and the answer is written directly, skipping FastAPI's generic
validation and serialisation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match, Route
from starlette.types import Scope

from api.readings.group_commit import GroupCommit
from api.readings.meters import MeterDirectory
from api.readings.schemas import ReadingOut
from api.readings.service import check_reading, parse_reading_json
from api.relayer.context import V2Chain

router = APIRouter(prefix="/readings", tags=["readings"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_HEX32: dict[str, Any] = {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}
_UINT64: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
#: The fixed JSON shape of a signed reading (metering.reading.SignedReading.to_json).
_SIGNED_READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "meter_id",
        "interval_id",
        "import_wh_total",
        "export_wh_total",
        "seq",
        "public_key",
        "signature",
    ],
    "properties": {
        "meter_id": _HEX32,
        "interval_id": _UINT64,
        "import_wh_total": _UINT64,
        "export_wh_total": _UINT64,
        "seq": _UINT64,
        "public_key": {
            "type": "object",
            "additionalProperties": False,
            "required": ["x", "y"],
            "properties": {"x": _HEX32, "y": _HEX32},
        },
        "signature": {
            "type": "object",
            "additionalProperties": False,
            "required": ["r", "s"],
            "properties": {"r": _HEX32, "s": _HEX32},
        },
    },
}


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
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A signed reading in the fixed JSON shape (see metering.reading).",
            "content": {"application/json": {"schema": _SIGNED_READING_SCHEMA}},
        }
    },
)
async def post_reading(request: Request) -> Response:
    """Verify a meter-signed reading against the key QuartierCommunity records and store it.

    Its collaborators are read from `app.state` here, not injected: four dependencies cost
    FastAPI's resolver ~13 % of a reading's CPU (profiled in the served app).
    """
    signed = parse_reading_json(await request.body())
    state = request.app.state
    group_commit: GroupCommit = state.readings_group_commit
    chain: V2Chain = state.v2_chain
    meters: MeterDirectory = state.meters
    now: int = state.clock()
    meter_id = signed.reading.meter_id
    refreshed = None
    if meters.cached(meter_id) is None:
        # A community lookup is a chain call (~10-40 ms): off the event loop, so the requests
        # of cached meters keep flowing meanwhile.
        refreshed = await run_in_threadpool(meters.get, meter_id)
    # A cached meter means the chain clients are built: reading the domain is no chain call.
    checked = check_reading(meters, chain.domain, signed, now, refreshed=refreshed)
    # Stored with the readings checked in the same loop turn, in one transaction; answered
    # once that is committed.
    ingested = await group_commit.store(checked)
    stored = ingested.stored
    body = {
        "meter_id": ingested.meter_id,
        "interval_id": stored.interval_id,
        "import_wh_total": stored.import_wh_total,
        "export_wh_total": stored.export_wh_total,
        "seq": stored.seq,
    }
    # pydantic-core's encoder: json.dumps with separators builds an encoder per call.
    return Response(
        to_json(body),
        status_code=status.HTTP_201_CREATED if ingested.created else status.HTTP_200_OK,
        media_type="application/json",
    )


class PostOnlyRoute(Route):
    """A Starlette route that matches its POST requests only: any other method goes on to
    the documented route, which answers it exactly as before (405)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "POST":
            return Match.NONE, {}
        return super().matches(scope)


def fast_route() -> Route:
    """POST /readings without FastAPI's route machinery, to put first in the app's routes:
    matching the request through the included routers and FastAPI's request handler (which
    has nothing to resolve for this endpoint) was ~15 % of a reading's CPU. The endpoint is
    the same function, under the same middlewares and exception handlers; the route of
    `router` stays, documented in the OpenAPI schema, and answers the other methods."""
    return PostOnlyRoute("/readings", post_reading, methods=["POST"], include_in_schema=False)

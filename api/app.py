"""The application factory: `create_app(settings)` wires routers, errors and collaborators.

Protocol v2: signed schedules (`api.schedules`), meters' period batches
(`api.meter_batches`), live readings (`api.readings`), households and sign-in
(`api.households`), and the relayer loop (`api.relayer`) in the lifespan when
`settings.run_relayer`. Every rule of the community is read from the chain (`V2Chain`).

Nothing is built at import time; `quartier serve` calls `create_app(get_settings())` and tests
call it with their own `Settings` (a SQLite database, an Anvil node) and chain view.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import Engine

from api.db import create_schema, make_engine
from api.deps import Clock
from api.health import router as health_router
from api.households.router import router as households_router
from api.limits import ChainDeadlineMiddleware, RequestLimitsMiddleware, restore_recursion_limit
from api.meter_batches.router import router as meter_batches_router
from api.openapi import TAGS, install_openapi
from api.pages import install_pages
from api.problems import document_problems, install_problem_handlers
from api.readings.group_commit import GroupCommit
from api.readings.meters import MeterDirectory
from api.readings.router import fast_route as readings_fast_route
from api.readings.router import router as readings_router
from api.relayer.context import V2Chain
from api.relayer.runner import RelayerLoop
from api.relayer.service import Relayer
from api.schedules.router import fast_route as schedules_fast_route
from api.schedules.router import router as schedules_router
from api.settings import Settings, get_settings
from ledger.chain import chain_deadline


def _version() -> str:
    try:
        return package_version("quartier")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


DESCRIPTION = """Protocol v2 of a neighbourhood energy community: households post EIP-712
signed day-ahead schedules, meters post P-256 signed period batches, the relayer posts
them to QuartierExchange and settles each period on chain.

Every signed format (bytes, type strings, test vectors) is in `ledger/FORMATS.md`. Energy
is integer Wh, money integer token units (6 decimals), prices token units per kWh. Every
error is an RFC 9457 problem (`application/problem+json`). Reading a household's own data
needs its bearer token (Authorize: `householdToken`); manager actions a signed request
(`managerSignature` with `X-Quartier-Timestamp`)."""

#: The API's allowed request headers across origins (CORS): the ones it reads.
CORS_HEADERS = ["Authorization", "Content-Type", "X-Quartier-Timestamp", "X-Quartier-Signature"]


def _wall_clock() -> int:
    return int(time.time())


#: How long start-up waits for the chain clients to be built before serving anyway.
WARM_UP_SECONDS = 5
#: Bound of the background warm-up's chain calls (it goes on after start-up stops waiting).
WARM_UP_DEADLINE_SECONDS = 30


def _warm_up(chain: V2Chain) -> None:
    # Best effort: any error (chain down) reaches the first request that needs the chain.
    # The first access builds the clients (the compiler's artifacts, ~0.4 s) and reads the
    # grid and the open periods' rules, so no request pays for them.
    with contextlib.suppress(Exception), chain_deadline(WARM_UP_DEADLINE_SECONDS):
        chain.warm_up()


def create_app(
    settings: Settings,
    *,
    chain: V2Chain | None = None,
    engine: Engine | None = None,
    clock: Clock = _wall_clock,
) -> FastAPI:
    """Build the API (and its relayer) for one community. The schema is created here
    (idempotent). `chain` defaults to the node and deployment of `settings`."""
    # Every import of the service has happened by now (py_ecc's among them).
    restore_recursion_limit()
    engine = engine or make_engine(settings.database_url)
    create_schema(engine)
    chain = chain or V2Chain.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Bounded: with the chain down or slow, start-up goes on and requests answer 503.
        warm_up = threading.Thread(
            target=_warm_up, args=(chain,), name="quartier-warm-up", daemon=True
        )
        warm_up.start()
        warm_up.join(timeout=WARM_UP_SECONDS)
        loop = None
        if settings.run_relayer:
            loop = RelayerLoop(Relayer(engine, chain), settings.relayer_poll_seconds).start()
        try:
            yield
        finally:
            if loop is not None:
                loop.stop()

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from the
    # package's own files (no CDN: the docs work offline).
    app = FastAPIOffline(
        title="Quartier",
        summary="Signed schedules, signed meter batches, settlement on-chain (protocol v2).",
        description=DESCRIPTION,
        version=_version(),
        openapi_tags=TAGS,
        license_info={"name": "MIT", "identifier": "MIT"},
        lifespan=lifespan,
        # No OpenTelemetry is configured here: off, so no request asks for its providers
        # (~5 % of a reading's CPU went to that per-request check in the served app).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.v2_chain = chain
    app.state.clock = clock
    app.state.meters = MeterDirectory(
        lambda meter_id: chain.community.meter(meter_id), settings.meter_cache_seconds
    )
    app.state.readings_group_commit = GroupCommit(engine)
    # Middlewares run in the reverse order of addition: the catch-all (added by
    # install_problem_handlers) outermost, then the limits, then the chain deadline.
    app.add_middleware(ChainDeadlineMiddleware, seconds=settings.chain_deadline_seconds)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    install_problem_handlers(app)
    if settings.cors_origins:
        # Outermost: refusals and problems carry the CORS headers too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=CORS_HEADERS,
        )
    app.include_router(schedules_router)
    app.include_router(meter_batches_router)
    app.include_router(readings_router)
    app.include_router(households_router)
    app.include_router(health_router)
    # Matched before every router (see their docstrings); the routers document them.
    app.router.routes.insert(0, readings_fast_route())
    app.router.routes.insert(0, schedules_fast_route())
    install_pages(app)  # the pages for people (/, /community, /open-data/*), not in OpenAPI
    install_openapi(app, document_problems)
    return app


def relayer_of(app: FastAPI) -> Relayer:
    """A relayer over the app's database and chain view (tests and the demo run passes)."""
    return Relayer(app.state.engine, app.state.v2_chain)


def app_from_env() -> FastAPI:
    """The app configured from QUARTIER_* variables (uvicorn factory, one per process)."""
    return create_app(get_settings())

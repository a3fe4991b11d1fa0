"""The application factory: `create_app(settings)` wires routers, errors and collaborators.

Nothing is built at import time; `quartier serve` calls `create_app(get_settings())` and tests
call it with their own `Settings` (in-memory SQLite, an Anvil node).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.db import create_schema, make_engine
from api.deps import Clock
from api.households.router import router as households_router
from api.ledger_gateway import LedgerGateway
from api.limits import ChainDeadlineMiddleware, RequestLimitsMiddleware, restore_recursion_limit
from api.orders.router import router as orders_router
from api.problems import install_problem_handlers
from api.readings.meters import MeterDirectory
from api.readings.router import router as readings_router
from api.settings import Settings, get_settings
from ledger.chain import chain_deadline


def _wall_clock() -> int:
    return int(time.time())


#: How long start-up waits for the chain clients to be built before serving anyway.
WARM_UP_SECONDS = 5


def _warm_up(ledger: LedgerGateway) -> None:
    # Best effort: any error (chain down) reaches the first request that needs the chain.
    # Under a deadline, so a hung node does not hold the gateway's lock past start-up.
    with contextlib.suppress(Exception), chain_deadline(WARM_UP_SECONDS):
        ledger.registry  # noqa: B018 - a cached property: building it is the point


def create_app(
    settings: Settings,
    *,
    ledger: LedgerGateway | None = None,
    engine: Engine | None = None,
    clock: Clock = _wall_clock,
) -> FastAPI:
    """Build the API for one community. The schema is created here (idempotent)."""
    # Every import of the service has happened by now (py_ecc's among them).
    restore_recursion_limit()
    engine = engine or make_engine(settings.database_url)
    create_schema(engine)
    ledger = ledger or LedgerGateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The first registry access builds the contract clients (it runs the compiler to read
        # its settings, ~0.4 s): done before serving, not inside the first meter's request.
        # Best effort and bounded: with the chain down or slow, start-up goes on and requests
        # answer 503 as before.
        warm_up = threading.Thread(target=_warm_up, args=(ledger,), daemon=True)
        warm_up.start()
        warm_up.join(timeout=WARM_UP_SECONDS)
        worker = None
        if settings.run_worker:
            from api.worker.runner import start_background_worker

            worker = start_background_worker(app)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="Quartier market",
        summary="Signed orders, signed meter readings, clearing and settlement on-chain.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.ledger = ledger
    app.state.clock = clock
    app.state.meters = MeterDirectory(ledger.meter, settings.meter_cache_seconds)
    # Middlewares run in the reverse order of addition: the catch-all (added by
    # install_problem_handlers) outermost, then the limits, then the chain deadline.
    app.add_middleware(ChainDeadlineMiddleware, seconds=settings.chain_deadline_seconds)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    install_problem_handlers(app)
    app.include_router(readings_router)
    app.include_router(orders_router)
    app.include_router(households_router)
    return app


def app_from_env() -> FastAPI:
    """The app configured from QUARTIER_* variables (uvicorn factory, one per process)."""
    return create_app(get_settings())

"""Protocol v2 beside v1: `include_v2_routers(app)` mounts schedules and meter batches, and
`make_relayer(app)` / `start_relayer(app)` give the v2 relayer (posting and settlement).

The lead wires it into `api.app.create_app` at the switch-over; until then tests (and the
demo) call `include_v2_routers` on an app built by that factory. The v2 tables are created
here (`create_v2_schema`) because `api.db.create_schema` does not know them yet.
"""

from __future__ import annotations

import contextlib
import threading

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from api.ledger_gateway import LedgerGateway
from api.relayer.context import V2Chain, V2Settings
from api.relayer.runner import RelayerLoop
from api.relayer.service import Relayer
from ledger.chain import chain_deadline

#: Bound of the background warm-up's chain calls.
WARM_UP_SECONDS = 30


def create_v2_schema(engine: Engine) -> None:
    """Create the v2 tables that do not exist yet (idempotent)."""
    import api.meter_batches.models
    import api.relayer.models
    import api.schedules.models  # noqa: F401 - registers the tables

    tables = [
        SQLModel.metadata.tables[name] for name in ("v2_schedule", "v2_meter_batch", "v2_period")
    ]
    SQLModel.metadata.create_all(engine, tables=tables)


def chain_of_gateway(ledger: LedgerGateway, settings: V2Settings | None = None) -> V2Chain:
    """A v2 chain view over the app's gateway: its relayer account and deployment file,
    which must hold QuartierCommunity and QuartierExchange. Built at first use."""
    return V2Chain(lambda: (ledger.relayer, ledger.deployment), settings)


def _warm_up(chain: V2Chain) -> None:
    # Best effort: with the chain down, the first request that needs it answers 503.
    with contextlib.suppress(Exception), chain_deadline(WARM_UP_SECONDS):
        chain.warm_up()


def include_v2_routers(app: FastAPI, chain: V2Chain | None = None) -> V2Chain:
    """Mount the v2 routers on an app built by `api.app.create_app`; returns the chain view
    (by default over the app's LedgerGateway, with `V2Settings.from_env()`)."""
    from api.meter_batches.router import router as meter_batches_router
    from api.schedules.router import router as schedules_router

    chain = chain or chain_of_gateway(app.state.ledger, V2Settings.from_env())
    create_v2_schema(app.state.engine)
    app.state.v2_chain = chain
    threading.Thread(
        target=_warm_up, args=(chain,), name="quartier-v2-warm-up", daemon=True
    ).start()
    app.include_router(schedules_router)
    app.include_router(meter_batches_router)
    return chain


def make_relayer(app: FastAPI) -> Relayer:
    """The v2 relayer of an app that `include_v2_routers` was called on."""
    return Relayer(app.state.engine, app.state.v2_chain)


def start_relayer(app: FastAPI) -> RelayerLoop:
    """Start the relayer loop in a daemon thread (stop it at shutdown)."""
    chain: V2Chain = app.state.v2_chain
    return RelayerLoop(make_relayer(app), chain.settings.relayer_poll_seconds).start()

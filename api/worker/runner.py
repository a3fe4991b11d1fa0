"""Run the worker: in the API process (a background thread) or as `quartier worker`.

Each pass is `api.worker.service.run_pass`; all state lives in the DB and on the chain, so
the loop can be killed at any point and restarted.
"""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api.db import create_schema, make_engine
from api.ledger_gateway import LedgerGateway
from api.settings import Settings
from api.worker.service import WorkerContext, run_pass
from ledger.errors import LedgerError

log = logging.getLogger("quartier.worker")


class BackgroundWorker:
    """A daemon thread running a pass every `worker_poll_seconds` until stopped."""

    def __init__(self, context: WorkerContext, period_seconds: int) -> None:
        self.context = context
        self.period_seconds = period_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="quartier-worker", daemon=True)

    def start(self) -> BackgroundWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end and wait for the current pass."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            _guarded_pass(self.context)
            self._stop.wait(self.period_seconds)


def _guarded_pass(context: WorkerContext) -> None:
    # A pass that fails (chain down, a revert we did not foresee) is logged and retried at
    # the next tick: every step re-checks the chain, so retrying is always safe.
    try:
        run_pass(context)
    except LedgerError as error:
        log.warning("worker pass failed: %s", error)
    except Exception:
        log.exception("worker pass crashed")


def start_background_worker(app: FastAPI) -> BackgroundWorker:
    """Start the worker thread for an app built by `create_app`."""
    settings: Settings = app.state.settings
    context = WorkerContext(settings, app.state.engine, app.state.ledger, app.state.clock)
    return BackgroundWorker(context, settings.worker_poll_seconds).start()


def run_worker(settings: Settings, once: bool = False, engine: Engine | None = None) -> None:
    """The `quartier worker` loop (Ctrl-C or SIGTERM ends it between passes)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    engine = engine or make_engine(settings.database_url)
    create_schema(engine)
    context = WorkerContext(settings, engine, LedgerGateway(settings), lambda: int(time.time()))
    if once:
        run_pass(context)
        return
    while True:
        _guarded_pass(context)
        time.sleep(settings.worker_poll_seconds)

"""`quartier serve` (the API under uvicorn) and `quartier worker` (clear, commit, settle)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from api.settings import get_settings

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="TCP port.")]


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    worker: Annotated[
        bool | None,
        typer.Option("--worker/--no-worker", help="Run the worker in-process (QUARTIER_WORKER)."),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="API processes; above 1 the worker never runs in-process (run `quartier worker`).",
        ),
    ] = 1,
) -> None:
    """Run the market API (OpenAPI at /docs); settings from QUARTIER_* variables."""
    import dataclasses
    import os

    import uvicorn

    from api.app import create_app

    settings = get_settings()
    # Before uvicorn starts: a database that cannot be opened, or is not one, ends the
    # command with one line (api.cli.main), not with a traceback in each server process.
    engine = open_database(settings.database_url)
    if processes > 1:
        # Each process builds its app from the environment (uvicorn's factory mode).
        os.environ["QUARTIER_WORKER"] = "0"
        uvicorn.run(
            "api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=processes,
            log_level="info",
        )
        return
    if worker is not None:
        settings = dataclasses.replace(settings, run_worker=worker)
    uvicorn.run(create_app(settings, engine=engine), host=host, port=port, log_level="info")


def open_database(database_url: str) -> Engine:
    """The engine of a usable database (DatabaseUnavailableError otherwise); a SQLite file
    that did not exist is created, and said so on stderr: an operator expecting data sees at
    once that the service started empty."""
    from api.db import create_schema, database_file, make_engine

    path = database_file(database_url)
    new = path is not None and not path.exists()
    engine = make_engine(database_url)
    create_schema(engine)
    if new:
        print(f"quartier: created a new, empty database at {path}", file=sys.stderr)
    return engine


def worker(
    once: Annotated[
        bool, typer.Option(help="Run one pass over pending intervals and exit.")
    ] = False,
) -> None:
    """Clear each interval at gate closure, commit it on-chain, submit readings, settle."""
    from api.worker.runner import run_worker

    run_worker(get_settings(), once=once)

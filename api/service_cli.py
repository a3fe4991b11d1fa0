"""`quartier serve` (the API under uvicorn, the relayer in-process) and `quartier relayer`
(the relayer alone: post schedules before their gates, settle every ended period)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from sqlalchemy.engine import Engine

from api.health import check_start
from api.settings import get_settings

#: How the API is served (`quartier serve`, and scripts/bench as serve runs it): uvloop's
#: event loop and httptools' parser (both from uvicorn[standard]; named, so a missing one is
#: an error rather than a slower fallback). No access log by default: a line per request was
#: ~5 % of a reading's CPU at the intake's 1,000 requests/s (86 M lines a day); errors and
#: incidents are still logged, and `--access-log` turns it back on.
UVICORN_OPTIONS: dict[str, str | bool] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_level": "info",
    "access_log": False,
}

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="TCP port.")]


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    relayer: Annotated[
        bool | None,
        typer.Option(
            "--relayer/--no-relayer",
            "--worker/--no-worker",
            help="Run the relayer in-process (QUARTIER_WORKER).",
        ),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="API processes; above 1 the relayer never runs in-process"
            " (run `quartier relayer`).",
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option("--access-log/--no-access-log", help="Log one line per request (uvicorn's)."),
    ] = bool(UVICORN_OPTIONS["access_log"]),
) -> None:
    """Run the API (OpenAPI at /docs); settings from QUARTIER_* variables."""
    import os

    import uvicorn

    from api.app import create_app

    options: dict[str, Any] = {**UVICORN_OPTIONS, "access_log": access_log}
    settings = get_settings()
    # Before uvicorn starts, each ending the command with one line (api.cli.main), not with a
    # traceback in each server process or a server answering 503 and logging every pass: a
    # node that answers and a deployment file of its chain (checked first, so that a service
    # that cannot run creates no database), then a database that opens and is one.
    check_start(settings)
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
            **options,
        )
        return
    if relayer is not None:
        settings = settings.model_copy(update={"run_relayer": relayer})
    uvicorn.run(create_app(settings, engine=engine), host=host, port=port, **options)


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


def relayer(
    once: Annotated[bool, typer.Option(help="Run one relayer pass and exit.")] = False,
) -> None:
    """Post accepted schedules before their gates and settle every period that has ended
    (the relayer of `quartier serve`, alone; restart-safe: the chain is re-read each pass)."""
    import logging
    import signal
    import threading

    from api.relayer.context import V2Chain
    from api.relayer.runner import RelayerLoop
    from api.relayer.service import Relayer

    settings = get_settings()
    deployment = check_start(settings)
    engine = open_database(settings.database_url)
    chain = V2Chain.from_settings(settings, deployment)
    passes = Relayer(engine, chain)
    if once:
        report = passes.run_once()
        typer.echo(
            f"posted {len(report.posting.posted)} schedule(s) in"
            f" {report.posting.transactions} transaction(s); settled periods {report.settled};"
            f" waiting {len(report.waiting)}; failed {report.failed or 'none'}"
        )
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stopped = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopped.set())
    loop = RelayerLoop(passes, settings.relayer_poll_seconds, on_halt=stopped.set).start()
    stopped.wait()
    loop.stop()
    if loop.halted is not None:
        # Another chain at the URL: exit non-zero (one line) rather than idle, so that a
        # supervisor sees the relayer is not at work.
        raise loop.halted

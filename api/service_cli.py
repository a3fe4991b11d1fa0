"""`quartier serve` (the API under uvicorn) and `quartier worker` (clear, commit, settle)."""

from __future__ import annotations

from typing import Annotated

import typer

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
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def worker(
    once: Annotated[
        bool, typer.Option(help="Run one pass over pending intervals and exit.")
    ] = False,
) -> None:
    """Clear each interval at gate closure, commit it on-chain, submit readings, settle."""
    from api.worker.runner import run_worker

    run_worker(get_settings(), once=once)

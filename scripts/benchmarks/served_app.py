"""The app the intake benchmark serves (uvicorn factory `served_app:app`).

`api.app.create_app` from the QUARTIER_* environment, as `quartier serve` builds it.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import app_from_env


def app() -> FastAPI:
    """The served application."""
    return app_from_env()

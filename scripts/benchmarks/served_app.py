"""The app the intake benchmark serves (uvicorn factory `served_app:app`).

`api.app.create_app` from the QUARTIER_* environment, plus the v2 routers
(`api.v2.include_v2_routers`) when the factory does not mount them yet.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import app_from_env


def app() -> FastAPI:
    """The served application."""
    served = app_from_env()
    paths = {getattr(route, "path", None) for route in served.routes}
    if "/schedules" not in paths:
        from api.v2 import include_v2_routers

        include_v2_routers(served)
    return served

"""Pages for people: the household's page, the community's public page and open data.

`install_pages(app)` adds the routes and serves the pages' own assets (no CDN) at /assets.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.pages.i18n import HERE
from api.pages.router import router, vendor_router


def install_pages(app: FastAPI) -> None:
    """Mount the pages and their static assets on `app`."""
    app.include_router(router)
    app.include_router(vendor_router)
    app.mount("/assets", StaticFiles(directory=HERE / "static"), name="pages-assets")

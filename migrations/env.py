"""Alembic's environment for Quartier's database (see api.db for when migrations run).

The service passes its own connection (`config.attributes["connection"]`), already in a
transaction that holds the migration lock (api.db.lock_schema); the `alembic` command connects
to QUARTIER_DATABASE_URL (or `-x url=...`) and takes the same lock. SQLite cannot alter most
of a table in place, so operations run in batch mode (copy and move) there.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from api.db import check_database_url, lock_schema, make_engine, service_metadata
from api.settings import get_settings

config = context.config
target_metadata = service_metadata()


def _configure(**arguments: Any) -> None:
    context.configure(
        target_metadata=target_metadata, render_as_batch=True, compare_type=True, **arguments
    )


def _url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or get_settings().database_url


def run_on(connection: Connection) -> None:
    """Run the migrations on `connection` (in its transaction when it has one)."""
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


given: Connection | None = config.attributes.get("connection")
if context.is_offline_mode():
    _configure(url=check_database_url(_url()), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif given is not None:
    run_on(given)
else:
    engine = make_engine(_url())
    with engine.connect() as connection:
        lock_schema(connection)
        run_on(connection)
        connection.commit()
    engine.dispose()

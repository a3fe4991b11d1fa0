"""The off-chain database: engine construction and the explicit schema-creation step.

SQLite (a file by default, or in memory for tests) or PostgreSQL by URL. Tables are the
SQLModel classes of each domain's `models` module; `create_schema` creates the missing ones
(there is no migration tool yet: the schema only grows, and the DB can be rebuilt from the
chain plus the signed messages).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

#: How long a SQLite connection waits for another's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL + NORMAL: one fsync per checkpoint instead of per commit, which the readings
    # target (1,000 requests/s, one transaction each) needs; still crash-safe.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`; in-memory SQLite is shared by all threads (tests)."""
    if database_url.startswith("sqlite"):
        arguments: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            arguments["poolclass"] = StaticPool
        engine = create_engine(database_url, **arguments)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(database_url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create every table of the service that does not exist yet (idempotent)."""
    # Importing the models registers their tables on SQLModel.metadata.
    import api.households.models
    import api.orders.models
    import api.readings.models
    import api.worker.models  # noqa: F401

    SQLModel.metadata.create_all(engine)


def session_scope(engine: Engine) -> Iterator[Session]:
    """One session per request; the service functions commit explicitly."""
    with Session(engine, expire_on_commit=False) as session:
        yield session

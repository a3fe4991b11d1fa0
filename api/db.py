"""The off-chain database: engine construction and the explicit schema-creation step.

SQLite (a file by default, or in memory for tests) or PostgreSQL by URL. Tables are the
SQLModel classes of each domain's `models` module; `create_schema` creates the missing ones
(there is no migration tool yet: the schema only grows, and the DB can be rebuilt from the
chain plus the signed messages).

Nothing acknowledged is lost: a SQLite file database is pinned to the file (device, inode) it
was first opened on, checked at the start and the commit of every transaction. If the file is
deleted or replaced under the running service, connections still open would write to the
orphaned file and lose it at the next restart, so every transaction fails with
DatabaseUnavailableError (503) until the same file is back at its path; connections opened
later never create a fresh file in its place (`mode=rw`). A database that cannot be opened
or is not a database at start is a DatabaseUnavailableError too (one line from the CLI).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from api.errors import DatabaseUnavailableError

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


class DatabaseFileGuard:
    """Pins a SQLite database to the file it was first opened on (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity: tuple[int, int] | None = None

    def _current(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def open(self) -> sqlite3.Connection:
        """A DBAPI connection; only the first may create the file."""
        mode = "rwc" if self.identity is None else "rw"
        uri = f"file:{quote(str(self.path.absolute()))}?mode={mode}"
        try:
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.OperationalError as error:
            raise DatabaseUnavailableError(
                f"cannot open the database {self.path}: {error}", "database-unavailable"
            ) from None
        if self.identity is None:
            self.identity = self._current()
        return connection

    def check(self, _connection: Connection) -> None:
        """Refuse a transaction when the file at the path is not the one first opened."""
        current = self._current()
        if current != self.identity:
            what = "was deleted" if current is None else "was replaced by another file"
            raise DatabaseUnavailableError(
                f"the database file {self.path} {what} under the running service: nothing"
                " is acknowledged until the original file is back (or the service restarts)",
                "database-file-lost",
            )


def database_file(database_url: str) -> Path | None:
    """The file of a plain SQLite file URL (None for memory, URI forms, other databases)."""
    if not database_url.startswith("sqlite"):
        return None
    url = make_url(database_url)
    if url.query or url.database in (None, "", ":memory:") or url.database.startswith("file:"):
        return None
    return Path(url.database)


def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`; in-memory SQLite is shared by all threads (tests)."""
    if database_url.startswith("sqlite"):
        arguments: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if database_url in ("sqlite://", "sqlite:///:memory:"):
            arguments["poolclass"] = StaticPool
        path = database_file(database_url)
        guard = None if path is None else DatabaseFileGuard(path)
        if guard is not None:
            arguments = {"creator": guard.open}
        engine = create_engine(database_url, **arguments)
        event.listen(engine, "connect", _sqlite_pragmas)
        if guard is not None:
            event.listen(engine, "begin", guard.check)
            event.listen(engine, "commit", guard.check)
        return engine
    return create_engine(database_url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create every table of the service that does not exist yet (idempotent).

    DatabaseUnavailableError when the database cannot be opened or is not a database.
    """
    # Importing the models registers their tables on SQLModel.metadata.
    import api.households.models
    import api.meter_batches.models
    import api.readings.models
    import api.relayer.models
    import api.schedules.models  # noqa: F401

    try:
        SQLModel.metadata.create_all(engine)
    except DatabaseError as error:
        raise DatabaseUnavailableError(
            f"cannot use the database {engine.url.render_as_string(hide_password=True)}:"
            f" {error.orig}",
            "database-unavailable",
        ) from None


def session_scope(engine: Engine) -> Iterator[Session]:
    """One session per request; the service functions commit explicitly."""
    with Session(engine, expire_on_commit=False) as session:
        yield session

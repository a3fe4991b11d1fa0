"""The off-chain database: URL checking, engine construction and the schema migrations.

SQLite (a file by default, or in memory for tests) or PostgreSQL (`postgresql://...`, driver
psycopg 3 from the `postgresql` extra) by URL; `database_url` checks and normalises a URL
before anything connects (a malformed one is a ConfigurationError: one line from the CLI).

Alembic migrations (`migrations/` at the top of the repository) own the schema.
`create_schema` brings a database to the newest revision at every start of the service (the
migrations only add, so upgrading unattended is safe), under a lock so that processes starting
together migrate once. A database made by the `create_all` of earlier versions (Quartier's
tables, no `alembic_version`) is adopted: stamped at the initial revision when its tables
match it, refused with one line otherwise. `alembic upgrade head` (configuration in
pyproject.toml's `[tool.alembic]`, URL from QUARTIER_DATABASE_URL) does the same by hand.

Nothing acknowledged is lost: a SQLite file database is pinned to the file (device, inode) it
was first opened on, checked at the start and the commit of every transaction. If the file is
deleted or replaced under the running service, connections still open would write to the
orphaned file and lose it at the next restart, so every transaction fails with
DatabaseUnavailableError (503) until the same file is back at its path; connections opened
later never create a fresh file in its place (`mode=rw`). A database that cannot be opened,
cannot be reached or is not a database at start is a DatabaseUnavailableError too (one line
from the CLI).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import MetaData, event, inspect, make_url, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DatabaseError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from api.errors import ConfigurationError, DatabaseUnavailableError

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


#: The driver each backend runs on (psycopg 3 comes with the `postgresql` extra).
DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}

#: The Alembic environment and revisions; `alembic` finds them through pyproject.toml.
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

#: The revision that a database made by the former `create_all` matches.
INITIAL_REVISION = "0001"

#: Key of the PostgreSQL advisory lock that serialises migrations ("Quartier" in ASCII).
MIGRATION_LOCK_KEY = 0x5175617274696572

#: Connect timeout of a PostgreSQL connection (an unreachable host at start is one line, soon).
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10

_EXPECTED = "expected sqlite:///FILE or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"


def _shown(raw: str) -> str:
    # A URL that does not parse may still carry a password: show it without its user part.
    scheme, separator, rest = raw.partition("://")
    if separator and "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + separator + rest


def check_database_url(raw: str) -> str:
    """`raw` checked and normalised for SQLAlchemy, before anything connects.

    `postgresql://` and `postgres://` get the psycopg driver (SQLAlchemy would otherwise pick
    psycopg2, which Quartier does not install). ConfigurationError, one line without the
    password, for a malformed URL, another database or driver, or a missing psycopg.
    """
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise ConfigurationError(
            f"the database URL {_shown(raw)!r} is malformed ({_EXPECTED})", "database-url"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    if backend not in DRIVERS or driver not in ("", DRIVERS[backend]):
        raise ConfigurationError(
            f"the database URL {_shown(raw)!r} names {url.drivername!r}: Quartier runs on"
            f" SQLite or PostgreSQL with psycopg ({_EXPECTED})",
            "database-url",
        )
    if backend == "sqlite" and (url.host or url.username or url.port):
        raise ConfigurationError(
            f"the database URL {_shown(raw)!r} has a host: a SQLite URL is a file"
            " (sqlite:///relative.db, sqlite:////absolute.db) or sqlite:// in memory",
            "database-url",
        )
    if backend == "postgresql" and importlib.util.find_spec("psycopg") is None:
        raise ConfigurationError(
            "PostgreSQL needs its driver: pip install 'quartier[postgresql]' (psycopg 3)",
            "database-url",
        )
    normalised: URL = url.set(drivername=f"{backend}+{DRIVERS[backend]}")
    return normalised.render_as_string(hide_password=False)


def database_file(database_url: str) -> Path | None:
    """The file of a plain SQLite file URL (None for memory, URI forms, other databases)."""
    if not database_url.startswith("sqlite"):
        return None
    url = make_url(database_url)
    if url.query or url.database in (None, "", ":memory:") or url.database.startswith("file:"):
        return None
    return Path(url.database)


def make_engine(database_url: str) -> Engine:
    """An engine for `database_url` (checked first: ConfigurationError); in-memory SQLite is
    shared by all threads (tests). Every engine of the service is made here."""
    database_url = check_database_url(database_url)
    if database_url.startswith("sqlite"):
        arguments: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if make_url(database_url).database in (None, "", ":memory:"):
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
    return create_engine(
        database_url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
    )


def service_metadata() -> MetaData:
    """The tables of every domain (importing the models registers them)."""
    import api.households.models
    import api.meter_batches.models
    import api.readings.models
    import api.relayer.models
    import api.schedules.models  # noqa: F401

    return SQLModel.metadata


def alembic_config(connection: Connection | None = None) -> Any:
    """Alembic's configuration for this repository's migrations; `connection`, when given,
    is the one migrations/env.py runs them on (in its transaction)."""
    from alembic.config import Config

    if not (MIGRATIONS / "env.py").is_file():
        raise ConfigurationError(
            f"the schema migrations are missing at {MIGRATIONS}: install Quartier from its"
            " repository (pip install -e .)",
            "migrations-missing",
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def lock_schema(connection: Connection) -> None:
    """Begin `connection`'s transaction holding the lock that one migrating process takes:
    SQLite's write lock, or an advisory lock on PostgreSQL (both end with the transaction)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def _initial_schema() -> MetaData:
    # The tables of INITIAL_REVISION as its migration makes them, read back from a scratch
    # in-memory database: what a `create_all` database must match to be adopted.
    from alembic import command

    scratch = make_engine("sqlite://")
    with scratch.connect() as connection:
        command.upgrade(alembic_config(connection), INITIAL_REVISION)
        reflected = MetaData()
        reflected.reflect(connection)
    reflected.remove(reflected.tables["alembic_version"])
    scratch.dispose()
    return reflected


def _adopt(connection: Connection) -> None:
    """Stamp a `create_all` database at INITIAL_REVISION if its tables match it: the same
    tables, columns, nullability, keys and indexes. Column types are not compared: on SQLite
    the former INTEGER and the revision's BIGINT are one storage class. (Before the
    `postgresql` extra, PostgreSQL did not run out of the box; a database made on it then by
    hand would keep its 32-bit INTEGER columns.)"""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"compare_type": False})
    differences = [
        difference
        for difference in compare_metadata(context, _initial_schema())
        # Tables that are not Quartier's are not ours to judge.
        if not (isinstance(difference, tuple) and difference[0] == "remove_table")
    ]
    if differences:
        raise DatabaseUnavailableError(
            f"the database {connection.engine.url.render_as_string(hide_password=True)} has"
            f" Quartier's tables but not the schema of revision {INITIAL_REVISION}, and no"
            f" alembic_version to migrate it from (first difference: {differences[0]})",
            "database-schema-unknown",
        )
    command.stamp(alembic_config(connection), INITIAL_REVISION)


def _one_line(error: DatabaseError) -> str:
    return " ".join(str(error.orig).split())


def create_schema(engine: Engine) -> None:
    """Bring the database to the newest migration (`alembic upgrade head`), adopting a
    database made by the former `create_all` first (see the module docstring); idempotent.

    DatabaseUnavailableError when the database cannot be reached, opened or adopted, or is
    not a database.
    """
    from alembic import command
    from alembic.migration import MigrationContext

    try:
        with engine.connect() as connection:
            lock_schema(connection)
            unversioned = MigrationContext.configure(connection).get_current_revision() is None
            ours = set(service_metadata().tables) & set(inspect(connection).get_table_names())
            if unversioned and ours:
                _adopt(connection)
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
    except DatabaseError as error:
        raise DatabaseUnavailableError(
            f"cannot use the database {engine.url.render_as_string(hide_password=True)}:"
            f" {_one_line(error)}",
            "database-unavailable",
        ) from None


def session_scope(engine: Engine) -> Iterator[Session]:
    """One session per request; the service functions commit explicitly."""
    with Session(engine, expire_on_commit=False) as session:
        yield session

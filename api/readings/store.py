"""The readings tables on the hot path: SQLAlchemy Core statements under the write lock.

The ORM unit of work cost ~0.6 ms a reading; these statements are compiled once per dialect
and run on the DBAPI cursor of the Connection's transaction, so a reading pays only for one
indexed select and one insert. `begin_write` takes the database's write lock before the
meter's latest reading is read, which is what keeps the ordering rules true when requests or
processes race.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, select, text, update
from sqlalchemy.exc import OperationalError

from api.db import SQLITE_BUSY_TIMEOUT_MS
from api.errors import ApiError
from api.readings.meters import status_of
from api.readings.models import MeterIndexRow, ReadingRow
from ledger.community import MeterInfo
from metering.reading import SignedReading

_READING: Table = ReadingRow.__table__  # type: ignore[attr-defined]
_METER: Table = MeterIndexRow.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    _READING.c.id,
    _READING.c.interval_id,
    _READING.c.import_wh_total,
    _READING.c.export_wh_total,
    _READING.c.seq,
)
_LATEST = (
    select(*_COLUMNS)
    .where(_READING.c.meter_id == bindparam("meter_id"))
    .order_by(_READING.c.seq.desc())
    .limit(1)
)
_AT_SEQ = select(*_COLUMNS).where(
    _READING.c.meter_id == bindparam("meter_id"), _READING.c.seq == bindparam("seq")
)
_INSERTED = (
    "meter_id",
    "interval_id",
    "import_wh_total",
    "export_wh_total",
    "seq",
    "signature_r",
    "signature_s",
    "received_at",
)
_INSERT_READING = insert(_READING).values({name: bindparam(name) for name in _INSERTED})
_METER_KNOWN = select(_METER.c.meter_id).where(_METER.c.meter_id == bindparam("meter_id"))
_PG_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
_PG_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")

#: SQLite has one writer at a time; threads of one process queue here instead of in SQLite's
#: busy handler, which sleeps 1, 2, 5, 10... ms between retries (p99 went 110 -> 240 ms).
#: Other processes still meet in SQLite's lock (busy_timeout, see api.db).
SQLITE_WRITER = threading.Lock()


@dataclass(frozen=True)
class StoredReading:
    """The columns of a stored reading the ordering rules and the answer need."""

    id: int
    interval_id: int
    import_wh_total: int
    export_wh_total: int
    seq: int


class WriterBusyError(ApiError):
    """The write lock is held elsewhere and the caller chose not to wait (the event loop
    then waits in a thread instead); a 503 if it ever reached a client."""

    status = 503
    default_slug = "database-busy"
    title = "Database busy"


def begin_write(connection: Connection, meter_hex: str, *, wait: bool = True) -> None:
    """Take the write lock (for `meter_hex` at least) before any read of the transaction.

    With `wait=False`, SQLite raises WriterBusyError at once instead of waiting up to the
    busy timeout (another process, or the relayer, is writing).
    """
    begin_write_all(connection, (meter_hex,), wait=wait)


def begin_write_all(connection: Connection, keys: Iterable[str], *, wait: bool = True) -> None:
    """`begin_write` for every key of a group commit: SQLite's one write lock, or on
    PostgreSQL each key's advisory lock, taken in sorted order (two processes locking
    overlapping groups then never wait for each other in a cycle)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # pysqlite opens a transaction lazily, before the first INSERT, i.e. after our SELECT:
        # two processes could then both check against the same latest reading. BEGIN IMMEDIATE
        # takes the write lock first. A connection already in a transaction has written
        # (pysqlite begins only before DML), so it holds the lock.
        raw = connection.connection.dbapi_connection
        assert raw is not None  # a connection in use has its DBAPI connection
        if raw.in_transaction:
            return
        if wait:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        raw.execute("PRAGMA busy_timeout=0")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as error:
            if getattr(error.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                raise WriterBusyError("another writer holds the database") from None
            raise
        finally:
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    elif dialect == "postgresql":
        # A transaction-scoped advisory lock on the key (a meter, a household, the relayer):
        # writers of one key queue, others run in parallel. Without waiting, a lock held
        # elsewhere is WriterBusyError at once, as on SQLite (the event loop must not block).
        for key in sorted(set(keys)):
            if wait:
                connection.execute(_PG_LOCK, {"key": key})
            elif not connection.execute(_PG_TRY_LOCK, {"key": key}).scalar_one():
                raise WriterBusyError(f"another writer holds the lock of {key}")


@contextmanager
def write_transaction(connection: Connection, meter_hex: str, *, wait: bool) -> Iterator[None]:
    """Hold this process's SQLite writer lock and the DB write lock (`begin_write`) for the
    block; the caller commits inside it. `wait=False`: WriterBusyError instead of waiting."""
    with write_transaction_all(connection, (meter_hex,), wait=wait):
        yield


@contextmanager
def write_transaction_all(
    connection: Connection, keys: Sequence[str], *, wait: bool
) -> Iterator[None]:
    """`write_transaction` holding the lock of every key (`begin_write_all`)."""
    if connection.dialect.name != "sqlite":
        begin_write_all(connection, keys, wait=wait)
        yield
        return
    if not SQLITE_WRITER.acquire(blocking=wait):
        raise WriterBusyError("another request of this process is writing")
    try:
        begin_write_all(connection, keys, wait=wait)
        yield
    finally:
        SQLITE_WRITER.release()


class _Driver:
    """The hot path's three statements compiled once for a dialect, run on the DBAPI cursor:
    SQLAlchemy's execution of a cached Core statement still cost ~40 us each (context,
    events, result proxy), for a select and an insert per reading. Only inside a transaction
    the Connection began (`begin_write`), so its commit covers them."""

    def __init__(self, connection: Connection) -> None:
        dialect = connection.dialect
        self.returning = dialect.name != "sqlite"  # SQLite: the cursor's lastrowid
        insert_reading = _INSERT_READING
        if self.returning:
            insert_reading = _INSERT_READING.returning(_READING.c.id)
        self.latest = CompiledStatement(_LATEST, connection)
        self.at_seq = CompiledStatement(_AT_SEQ, connection)
        self.insert = CompiledStatement(insert_reading, connection)


class CompiledStatement:
    """A statement's SQL in the dialect's parameter style, and how to bind it (for the
    DBAPI cursor of `dbapi_cursor`)."""

    def __init__(self, statement: Any, connection: Connection) -> None:
        compiled = statement.compile(dialect=connection.dialect)
        self.sql = compiled.string
        self.defaults = dict(compiled.params)  # e.g. LIMIT's value
        positions = compiled.positiontup
        self.positions = None if positions is None else tuple(positions)

    def parameters(self, values: dict[str, Any]) -> Any:
        merged = {**self.defaults, **values}
        if self.positions is None:
            return merged
        return tuple(merged[name] for name in self.positions)


_DRIVERS: dict[str, _Driver] = {}


def dbapi_cursor(connection: Connection) -> Any:
    """A DBAPI cursor in the Connection's transaction (begun here if it was not), so the
    Connection's commit covers what it runs; the caller closes it."""
    if not connection.in_transaction():
        connection.begin()
    raw = connection.connection.dbapi_connection
    assert raw is not None  # a connection in use has its DBAPI connection
    return raw.cursor()


def _driver(connection: Connection) -> tuple[_Driver, Any]:
    # The compiled statements of the connection's dialect and a cursor in its transaction.
    cursor = dbapi_cursor(connection)
    driver = _DRIVERS.get(connection.dialect.name)
    if driver is None:
        driver = _DRIVERS.setdefault(connection.dialect.name, _Driver(connection))
    return driver, cursor


def _one(connection: Connection, statement: str, values: dict[str, Any]) -> StoredReading | None:
    driver, cursor = _driver(connection)
    compiled: CompiledStatement = getattr(driver, statement)
    try:
        cursor.execute(compiled.sql, compiled.parameters(values))
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else StoredReading(*row)


def latest_reading(connection: Connection, meter_hex: str) -> StoredReading | None:
    """The meter's stored reading with the highest seq."""
    return _one(connection, "latest", {"meter_id": meter_hex})


def reading_at_seq(connection: Connection, meter_hex: str, seq: int) -> StoredReading | None:
    """The meter's stored reading with this seq."""
    return _one(connection, "at_seq", {"meter_id": meter_hex, "seq": seq})


def insert_reading(connection: Connection, signed: SignedReading, now_seconds: int) -> int:
    """Insert an accepted reading (not committed); returns its row id."""
    reading = signed.reading
    driver, cursor = _driver(connection)
    values = {
        "meter_id": "0x" + reading.meter_id.hex(),
        "interval_id": reading.interval_id,
        "import_wh_total": reading.import_wh_total,
        "export_wh_total": reading.export_wh_total,
        "seq": reading.seq,
        "signature_r": hex(signed.r),
        "signature_s": hex(signed.s),
        "received_at": now_seconds,
    }
    try:
        cursor.execute(driver.insert.sql, driver.insert.parameters(values))
        new_id = cursor.fetchone()[0] if driver.returning else cursor.lastrowid
    finally:
        cursor.close()
    assert new_id is not None  # an INSERT of one row always has one
    return int(new_id)


def index_meter(connection: Connection, info: MeterInfo, *, refresh: bool) -> None:
    """Record the meter's owner, key and status (not committed): insert when missing, and
    with `refresh` (a new community answer) update an existing row too."""
    key = "0x" + info.meter_id.hex()
    values = {
        "household": info.household,
        "status": int(status_of(info)),
        "public_key_x": hex(info.public_key_x),
        "public_key_y": hex(info.public_key_y),
        "checked_at": int(time.time()),
    }
    if connection.execute(_METER_KNOWN, {"meter_id": key}).first() is None:
        connection.execute(insert(_METER).values(meter_id=key, **values))
    elif refresh:
        connection.execute(update(_METER).where(_METER.c.meter_id == key).values(**values))

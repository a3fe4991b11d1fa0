"""The agent's durable spool (SQLite): every signed message is stored BEFORE it is sent.

The spool is the meter agent's memory across kills and restarts:
- `readings`: one signed per-interval reading per boundary read, in seq order. It holds the
  last seq (so seq strictly increases forever), the last registers (so a decrease is refused)
  and the readings the API has not acknowledged yet. The reading of interval k carries the
  registers at boundary (k + 1) * interval_seconds: these rows are also the boundary
  registers a period batch is built from, so a kill mid-period loses none of them.
- `batches`: one row per settlement period the agent has decided, in period order: a signed
  period batch (pending / sent / rejected, with the API's problem) or `incomplete` (a
  boundary of the period was never read: no batch, the reason kept).
- `meta`: the chain id, exchange and time grid the spool was started with; a spool refuses
  another (its registers and batches belong to one community's chain).

A kill between "POST accepted" and "marked sent" only causes a re-send, which the API answers
200 (idempotent).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metering.errors import ReadingFormatError, SpoolError
from metering.reading import SignedReading

#: (import Wh, export Wh) cumulative registers at one boundary.
Registers = tuple[int, int]

PENDING, SENT, REJECTED = "pending", "sent", "rejected"
#: A period with a boundary the agent never read: no batch is signed for it.
INCOMPLETE = "incomplete"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY,
    interval_id INTEGER NOT NULL UNIQUE,
    import_wh_total INTEGER NOT NULL,
    export_wh_total INTEGER NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'rejected')),
    detail TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    period_id INTEGER PRIMARY KEY,
    payload TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'rejected', 'incomplete')),
    detail TEXT,
    CHECK ((status = 'incomplete') = (payload IS NULL))
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class SpooledReading:
    """A signed reading as kept in the spool, with its delivery status."""

    signed: SignedReading
    status: str
    detail: str | None


class Spool:
    """A SQLite file of signed readings, ordered by seq."""

    def __init__(self, path: Path) -> None:
        try:
            # isolation_level=None: we open explicit transactions where they matter.
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a stored reading survives power loss
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise SpoolError(f"cannot open spool {path}: {error}") from error
        self.batches = BatchSpool(self._db)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def bind(self, binding: dict[str, str]) -> None:
        """Record what the spool serves (first start) or refuse another (a later start)."""
        try:
            stored = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if not stored:
                # One transaction: a kill mid-way must not leave half a binding.
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", binding.items())
                self._db.execute("COMMIT")
                return
        except sqlite3.Error as error:
            raise SpoolError(f"cannot record the spool's community: {error}") from error
        if stored != binding:
            differs = sorted(
                k for k in binding.keys() | stored.keys() if binding.get(k) != stored.get(k)
            )
            raise SpoolError(
                "the spool belongs to another community or chain ("
                + ", ".join(f"{k}: spool {stored.get(k)}, now {binding.get(k)}" for k in differs)
                + "); give another --spool"
            )

    def binding(self) -> dict[str, str]:
        """What `bind` recorded ({} for a spool never bound)."""
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def registers(self, first_interval_id: int, last_interval_id: int) -> dict[int, Registers]:
        """Registers at the end of each spooled interval in [first, last] (any status)."""
        rows = self._db.execute(
            "SELECT interval_id, import_wh_total, export_wh_total FROM readings"
            " WHERE interval_id BETWEEN ? AND ?",
            (first_interval_id, last_interval_id),
        ).fetchall()
        return {interval_id: (imported, exported) for interval_id, imported, exported in rows}

    def first_interval(self) -> int | None:
        """The interval of the oldest spooled reading."""
        row = self._db.execute("SELECT MIN(interval_id) FROM readings").fetchone()
        return None if row[0] is None else int(row[0])

    def last(self) -> SignedReading | None:
        """The reading with the highest seq, whatever its status."""
        row = self._db.execute("SELECT payload FROM readings ORDER BY seq DESC LIMIT 1").fetchone()
        return _decode(row[0]) if row else None

    def add(self, signed: SignedReading) -> None:
        """Store a new reading as pending; its seq and interval must exceed the last ones."""
        reading = signed.reading
        last = self.last()
        if last is not None and (
            reading.seq <= last.reading.seq or reading.interval_id <= last.reading.interval_id
        ):
            raise SpoolError(
                f"reading seq {reading.seq} / interval {reading.interval_id} does not follow "
                f"the spooled seq {last.reading.seq} / interval {last.reading.interval_id}"
            )
        try:
            self._db.execute(
                "INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (
                    reading.seq,
                    reading.interval_id,
                    reading.import_wh_total,
                    reading.export_wh_total,
                    json.dumps(signed.to_json(), sort_keys=True),
                    PENDING,
                ),
            )
        except sqlite3.Error as error:
            raise SpoolError(f"cannot store reading seq {reading.seq}: {error}") from error

    def pending(self) -> list[SignedReading]:
        """Readings not acknowledged yet, oldest first."""
        rows = self._db.execute(
            "SELECT payload FROM readings WHERE status = ? ORDER BY seq", (PENDING,)
        ).fetchall()
        return [_decode(row[0]) for row in rows]

    def mark(self, seq: int, status: str, detail: str | None = None) -> None:
        """Record the API's answer for one reading."""
        self._db.execute(
            "UPDATE readings SET status = ?, detail = ? WHERE seq = ?", (status, detail, seq)
        )

    def all(self) -> list[SpooledReading]:
        """Every reading in the spool, oldest first."""
        rows = self._db.execute(
            "SELECT payload, status, detail FROM readings ORDER BY seq"
        ).fetchall()
        return [
            SpooledReading(_decode(payload), status, detail) for payload, status, detail in rows
        ]


@dataclass(frozen=True)
class SpooledBatch:
    """A period the agent decided: its batch body (None when incomplete) and its status."""

    period_id: int
    body: dict[str, Any] | None
    status: str
    detail: str | None


class BatchSpool:
    """The period batches, in the same SQLite file as the readings (`Spool.batches`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def last_period(self) -> int | None:
        """The latest decided period (batch or incomplete)."""
        row = self._db.execute("SELECT MAX(period_id) FROM batches").fetchone()
        return None if row[0] is None else int(row[0])

    def add(self, period_id: int, body: dict[str, Any] | None, detail: str | None = None) -> None:
        """Store a signed batch as pending, or (body None) the period as incomplete.

        Periods are decided once each, in order."""
        last = self.last_period()
        if last is not None and period_id <= last:
            raise SpoolError(f"period {period_id} does not follow the spooled period {last}")
        payload = None if body is None else json.dumps(body, sort_keys=True)
        status = INCOMPLETE if body is None else PENDING
        try:
            self._db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?)", (period_id, payload, status, detail)
            )
        except sqlite3.Error as error:
            raise SpoolError(f"cannot store the batch of period {period_id}: {error}") from error

    def pending(self) -> list[SpooledBatch]:
        """Batches not acknowledged yet, oldest period first."""
        return [b for b in self.all() if b.status == PENDING]

    def mark(self, period_id: int, status: str, detail: str | None = None) -> None:
        """Record the API's answer for one batch."""
        self._db.execute(
            "UPDATE batches SET status = ?, detail = ? WHERE period_id = ? AND payload IS NOT NULL",
            (status, detail, period_id),
        )

    def all(self) -> list[SpooledBatch]:
        """Every decided period, oldest first."""
        rows = self._db.execute(
            "SELECT period_id, payload, status, detail FROM batches ORDER BY period_id"
        ).fetchall()
        return [
            SpooledBatch(period_id, None if payload is None else _load(payload), status, detail)
            for period_id, payload, status, detail in rows
        ]


def _load(payload: str) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except ValueError as error:
        raise SpoolError(f"corrupt spooled batch: {error}") from error
    if not isinstance(body, dict):
        raise SpoolError("corrupt spooled batch: not a JSON object")
    return body


def _decode(payload: str) -> SignedReading:
    try:
        return SignedReading.from_json(json.loads(payload))
    except (ValueError, ReadingFormatError) as error:
        raise SpoolError(f"corrupt spool entry: {error}") from error

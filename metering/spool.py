"""The agent's durable spool (SQLite): every signed reading is stored BEFORE it is sent.

The spool is the meter agent's memory across kills and restarts: it holds the last seq (so seq
strictly increases forever), the last registers (so a decrease is refused) and the readings the
API has not acknowledged yet, in seq order. A kill between "POST accepted" and "marked sent"
only causes a re-send, which the API answers 200 (idempotent).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from metering.errors import ReadingFormatError, SpoolError
from metering.reading import SignedReading

PENDING, SENT, REJECTED = "pending", "sent", "rejected"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY,
    interval_id INTEGER NOT NULL UNIQUE,
    import_wh_total INTEGER NOT NULL,
    export_wh_total INTEGER NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'rejected')),
    detail TEXT
)
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
            self._db.execute(_SCHEMA)
        except sqlite3.Error as error:
            raise SpoolError(f"cannot open spool {path}: {error}") from error

    def close(self) -> None:
        """Close the database."""
        self._db.close()

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


def _decode(payload: str) -> SignedReading:
    try:
        return SignedReading.from_json(json.loads(payload))
    except (ValueError, ReadingFormatError) as error:
        raise SpoolError(f"corrupt spool entry: {error}") from error

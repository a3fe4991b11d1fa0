"""Readings racing for one meter: the ordering checks run under the DB write lock.

A SQLite *file* (not the shared in-memory DB) so each connection is its own, as with several
API processes. The other intake is played by hand on a second connection: it takes the write
lock, reads the meter's latest reading, and inserts a conflicting successor only later. The
intake under test must wait for it and then refuse, never store both.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import Clock, Meter, interval_at
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from api.errors import ReadingRejectedError
from api.readings.models import ReadingRow
from api.readings.service import Ingested, ingest_reading, parse_reading
from api.readings.store import WriterBusyError, begin_write, insert_reading, latest_reading
from api.relayer.context import V2Chain
from api.settings import Settings
from ledger.deployment import Deployment
from metering.reading import SignedReading

#: How long the other intake holds the lock between its check and its insert.
HOLD_SECONDS = 0.3


def _ingest(app: FastAPI, signed: SignedReading) -> Ingested:
    state = app.state
    return ingest_reading(state.engine, state.meters, state.v2_chain.domain, signed, state.clock())


def test_conflicting_readings_racing_are_not_both_stored(
    settings: Settings,
    community: Deployment,
    clock: Clock,
    meter: Meter,
) -> None:
    app = create_app(settings, chain=V2Chain.from_settings(settings, community), clock=clock)
    k = interval_at(clock)
    _ingest(app, parse_reading(meter.reading(k - 5, 100, 10, seq=1)))
    # Both successors of seq 1 pass the checks against seq 1 alone, but not against each other:
    # `first` has the lower seq and the later interval.
    first = parse_reading(meter.reading(k - 1, 300, 30, seq=2))
    second = parse_reading(meter.reading(k - 2, 200, 20, seq=3))
    meter_hex = "0x" + meter.meter_id.hex()
    checked = threading.Event()

    def other_intake() -> None:
        with app.state.engine.connect() as connection:
            begin_write(connection, meter_hex)
            latest = latest_reading(connection, meter_hex)
            assert latest is not None
            assert latest.seq == 1
            checked.set()
            time.sleep(HOLD_SECONDS)
            insert_reading(connection, first, clock())
            connection.commit()

    other = threading.Thread(target=other_intake)
    other.start()
    assert checked.wait(timeout=10)
    started = time.monotonic()
    with pytest.raises(ReadingRejectedError) as refused:
        _ingest(app, second)
    waited = time.monotonic() - started
    other.join(timeout=10)

    assert refused.value.slug == "interval-not-increasing"
    # It waited for the other transaction instead of checking against a stale latest reading.
    assert waited >= HOLD_SECONDS / 2
    with Session(app.state.engine) as session:
        stored = session.exec(select(ReadingRow).where(ReadingRow.meter_id == meter_hex)).all()
    assert sorted(row.seq for row in stored) == [1, 2]


def test_ingest_reading_answers_a_resend_and_stores_nothing_on_refusal(
    settings: Settings, community: Deployment, clock: Clock, meter: Meter
) -> None:
    app = create_app(settings, chain=V2Chain.from_settings(settings, community), clock=clock)
    k = interval_at(clock)
    body = meter.reading(k - 3, 50, 5, seq=4)
    created = _ingest(app, parse_reading(body))
    again = _ingest(app, parse_reading(body))
    assert created.created
    assert not again.created
    assert again.stored.id == created.stored.id
    with pytest.raises(ReadingRejectedError) as refused:
        _ingest(app, parse_reading(meter.reading(k - 2, 40, 5, seq=5)))
    assert refused.value.slug == "register-decreased"
    with Session(app.state.engine) as session:
        assert [row.seq for row in session.exec(select(ReadingRow)).all()] == [4]


def test_a_reading_waits_for_another_writer_off_the_event_loop(
    settings: Settings, community: Deployment, clock: Clock, meter: Meter
) -> None:
    """While another process (or the worker, around a chain call) holds the write lock, the
    API keeps answering; the reading is stored once the lock is released."""
    app = create_app(settings, chain=V2Chain.from_settings(settings, community), clock=clock)
    k = interval_at(clock)
    locked, release = threading.Event(), threading.Event()
    released_at: list[float] = []

    def other_writer() -> None:
        with app.state.engine.connect() as connection:
            begin_write(connection, "0x" + meter.meter_id.hex())
            locked.set()
            release.wait(timeout=10)
            released_at.append(time.monotonic())
            connection.rollback()

    with TestClient(app) as client:
        assert client.post("/readings", json=meter.reading(k - 3, 1, 1, seq=1)).status_code == 201
        holder = threading.Thread(target=other_writer)
        holder.start()
        assert locked.wait(timeout=10)
        # The lean intake refuses to wait, storing nothing ...
        with pytest.raises(WriterBusyError):
            _ingest_no_wait(app, parse_reading(meter.reading(k - 2, 2, 2, seq=2)))
        # ... so a POST now waits in a thread while the loop serves other requests.
        posted: list[int] = []
        poster = threading.Thread(
            target=lambda: posted.append(
                client.post("/readings", json=meter.reading(k - 2, 2, 2, seq=2)).status_code
            )
        )
        poster.start()
        time.sleep(HOLD_SECONDS)
        assert client.get("/openapi.json").status_code == 200
        assert not posted  # still waiting for the lock
        release.set()
        poster.join(timeout=10)
        holder.join(timeout=10)
    assert posted == [201]
    with Session(app.state.engine) as session:
        assert sorted(row.seq for row in session.exec(select(ReadingRow)).all()) == [1, 2]


def _ingest_no_wait(app: FastAPI, signed: SignedReading) -> Ingested:
    state = app.state
    return ingest_reading(
        state.engine,
        state.meters,
        state.v2_chain.domain,
        signed,
        state.clock(),
        wait_for_writer=False,
    )

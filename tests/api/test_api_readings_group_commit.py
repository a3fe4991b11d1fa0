"""Readings stored together (the group commit of POST /readings): one transaction, each
reading judged on its own against what is stored before it, the group's earlier readings
included; a refusal stores nothing of that reading and costs the others nothing.

On a SQLite file and on PostgreSQL (`settings`), against the session's Anvil community.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import Clock, Meter, interval_at
from fastapi import FastAPI
from sqlalchemy import event
from sqlmodel import Session, select

from api.app import create_app
from api.errors import ReadingRejectedError
from api.readings import group_commit
from api.readings.group_commit import GroupCommit
from api.readings.models import MeterIndexRow, ReadingRow
from api.readings.service import Checked, Ingested, check_reading, parse_reading, store_readings
from api.relayer.context import V2Chain
from api.settings import Settings
from ledger.deployment import Deployment


def _checked(app: FastAPI, body: dict[str, object]) -> Checked:
    state = app.state
    return check_reading(state.meters, state.v2_chain.domain, parse_reading(body), state.clock())


def _stored(app: FastAPI) -> list[tuple[str, int, int]]:
    with Session(app.state.engine) as session:
        rows = session.exec(select(ReadingRow)).all()
    return sorted((row.meter_id, row.seq, row.import_wh_total) for row in rows)


@pytest.fixture
def app(settings: Settings, community: Deployment, clock: Clock) -> FastAPI:
    return create_app(settings, chain=V2Chain.from_settings(settings, community), clock=clock)


def test_a_group_judges_each_reading_after_the_ones_before_it(
    app: FastAPI, clock: Clock, meter: Meter
) -> None:
    k = interval_at(clock)
    first = meter.reading(k - 5, 100, 10, seq=1)
    outcomes = store_readings(
        app.state.engine,
        [
            _checked(app, first),
            # The successor of the group's first reading: accepted after it.
            _checked(app, meter.reading(k - 4, 150, 15, seq=2)),
            # seq 1 again with other registers: a conflict with the group's first reading.
            _checked(app, meter.reading(k - 5, 999, 10, seq=1)),
            # The first reading re-sent within the group: already stored, not twice.
            _checked(app, first),
            # A register going back against seq 2 (stored in this group).
            _checked(app, meter.reading(k - 3, 120, 15, seq=3)),
            _checked(app, meter.reading(k - 3, 160, 16, seq=3)),
        ],
    )
    kinds = [
        outcome.slug
        if isinstance(outcome, ReadingRejectedError)
        else ("created" if outcome.created else "resent")
        for outcome in outcomes
    ]
    assert kinds == [
        "created",
        "created",
        "conflicting-reading",
        "resent",
        "register-decreased",
        "created",
    ]
    resent = outcomes[3]
    assert isinstance(resent, Ingested)
    assert isinstance(outcomes[0], Ingested)
    assert resent.stored.id == outcomes[0].stored.id
    meter_hex = "0x" + meter.meter_id.hex()
    assert _stored(app) == [(meter_hex, 1, 100), (meter_hex, 2, 150), (meter_hex, 3, 160)]
    # The meter's first reading recorded its key and owner in the meter index, once.
    with Session(app.state.engine) as session:
        indexed = session.exec(select(MeterIndexRow)).all()
    assert [row.meter_id for row in indexed] == [meter_hex]


def test_a_group_of_refusals_only_stores_nothing(app: FastAPI, clock: Clock, meter: Meter) -> None:
    k = interval_at(clock)
    store_readings(app.state.engine, [_checked(app, meter.reading(k - 5, 100, 10, seq=4))])
    outcomes = store_readings(
        app.state.engine,
        [
            _checked(app, meter.reading(k - 6, 200, 10, seq=5)),  # interval not increasing
            _checked(app, meter.reading(k - 4, 200, 10, seq=3)),  # seq not increasing
        ],
    )
    assert [getattr(outcome, "slug", None) for outcome in outcomes] == [
        "interval-not-increasing",
        "seq-not-increasing",
    ]
    assert _stored(app) == [("0x" + meter.meter_id.hex(), 4, 100)]


def test_requests_of_one_loop_turn_share_a_commit_and_get_their_own_answers(
    app: FastAPI, clock: Clock, meter: Meter
) -> None:
    k = interval_at(clock)
    group = GroupCommit(app.state.engine)
    commits: list[int] = []
    engine = app.state.engine

    def counted(_connection: object) -> None:
        commits.append(1)

    event.listen(engine, "commit", counted)
    try:
        bodies = [meter.reading(k - 9 + n, 100 + n, 10, seq=n + 1) for n in range(4)]
        conflicting = meter.reading(k - 9, 555, 10, seq=1)

        async def post_together() -> list[object]:
            return await asyncio.gather(
                *(group.store(_checked(app, body)) for body in [*bodies, conflicting]),
                return_exceptions=True,
            )

        answers = asyncio.run(post_together())
    finally:
        event.remove(engine, "commit", counted)
    assert [isinstance(answer, Ingested) and answer.created for answer in answers[:4]] == [True] * 4
    refusal = answers[4]
    assert isinstance(refusal, ReadingRejectedError)
    assert refusal.slug == "conflicting-reading"
    assert len(commits) == 1  # the five requests were one transaction
    meter_hex = "0x" + meter.meter_id.hex()
    assert _stored(app) == [(meter_hex, n + 1, 100 + n) for n in range(4)]


def test_a_failing_group_answers_each_reading_alone(
    app: FastAPI, clock: Clock, meter: Meter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure that is no reading's refusal (here: the group's first attempt) does not
    take the group's readings down with it: each is retried alone."""
    k = interval_at(clock)
    attempts: list[int] = []
    real = store_readings

    def failing_once(engine: object, items: list[Checked], **kwargs: bool) -> object:
        attempts.append(len(items))
        if len(attempts) == 1:
            raise RuntimeError("the database went away for a moment")
        return real(engine, items, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(group_commit, "store_readings", failing_once)
    group = GroupCommit(app.state.engine)
    bodies = [meter.reading(k - 9 + n, 100 + n, 10, seq=n + 1) for n in range(3)]

    async def post_together() -> list[Ingested]:
        return await asyncio.gather(*(group.store(_checked(app, body)) for body in bodies))

    answers = asyncio.run(post_together())
    assert [answer.stored.seq for answer in answers] == [1, 2, 3]
    assert attempts == [3, 1, 1, 1]
    assert len(_stored(app)) == 3

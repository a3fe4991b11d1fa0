"""One worker pass: clear what is due, commit, relay readings, settle.

All progress is in the DB (`IntervalRow`, order and reading statuses) and every on-chain
step checks the chain before acting, so passes are idempotent and a killed worker resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.ledger_gateway import LedgerGateway
from api.settings import Settings
from api.worker.chain_steps import commit_interval, settle_interval, submit_readings
from api.worker.clearing import clear_interval, intervals_to_clear
from api.worker.models import IntervalRow, IntervalStatus


@dataclass(frozen=True)
class WorkerContext:
    """What a worker pass needs: settings, the DB, the chain and a clock (unix seconds)."""

    settings: Settings
    engine: Engine
    ledger: LedgerGateway
    clock: Callable[[], int]


@dataclass(frozen=True)
class PassReport:
    """What one pass did (for logs and tests)."""

    cleared: tuple[int, ...]
    committed: tuple[int, ...]
    readings_submitted: int
    settled: tuple[int, ...]


def _with_status(session: Session, status: IntervalStatus) -> list[IntervalRow]:
    return list(
        session.exec(
            select(IntervalRow)
            .where(IntervalRow.status == status)
            .order_by(col(IntervalRow.interval_id))
        ).all()
    )


def run_pass(context: WorkerContext) -> PassReport:
    """Run every step that is due now, oldest interval first."""
    ledger, settings = context.ledger, context.settings
    with Session(context.engine, expire_on_commit=False) as session:
        now = context.clock()
        cleared = []
        for interval_id in intervals_to_clear(session, ledger, now):
            clear_interval(session, ledger, settings, interval_id, now)
            cleared.append(interval_id)
        committed = []
        for interval in _with_status(session, IntervalStatus.CLEARED):
            commit_interval(session, ledger, interval, now)
            if interval.status == IntervalStatus.COMMITTED:
                committed.append(interval.interval_id)
        submitted = 0
        while batch := submit_readings(session, ledger):
            submitted += batch
        settled = []
        for interval in _with_status(session, IntervalStatus.COMMITTED):
            settle_interval(session, ledger, interval, now, settings.grace_seconds)
            if interval.status == IntervalStatus.SETTLED:
                settled.append(interval.interval_id)
    return PassReport(tuple(cleared), tuple(committed), submitted, tuple(settled))

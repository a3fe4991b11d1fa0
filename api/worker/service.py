"""The worker's steps for each interval: clear, commit, submit readings, settle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from api.ledger_gateway import LedgerGateway
from api.settings import Settings


@dataclass(frozen=True)
class WorkerContext:
    """What a worker pass needs: settings, the DB, the chain and a clock (unix seconds)."""

    settings: Settings
    engine: Engine
    ledger: LedgerGateway
    clock: Callable[[], int]


def run_pass(context: WorkerContext) -> None:
    """One pass over every interval with work left (steps land in the following commits)."""

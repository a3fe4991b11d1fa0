"""The relayer's pass: post pending schedules, then settle every period that is due.

`Relayer.run_once(now)` is the whole of it (tests call it directly); `api.relayer.runner`
loops it. All state is in the DB and on the chain, so a pass can be killed anywhere and the
next one picks up: postings are reconciled with the chain before anything is sent, and a
period is settled only after `isSettled` says it is not; one the chain settled already (a
kill after the transaction, before the DB knew) has its outcome read back from the chain.
A period that fails is logged with its error's name, recorded (`v2_period`), and retried at
the next pass; the other periods go on. `now` defaults to the chain's latest block
timestamp, never the wall clock. Before anything, a pass compares the chain with the identity
recorded at start (`api.chain_identity`): on another chain it raises ChainReplacedError, and
the loop (`api.relayer.runner`) stops rather than post the community's schedules there.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine, Table, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from web3 import Web3

from api.readings.store import write_transaction
from api.relayer.context import V2Chain
from api.relayer.models import PeriodRow, PeriodStatus
from api.relayer.posting import PostingReport, post_pending, posting_periods
from api.relayer.settling import Settled, Waiting, posted_periods, settle_one
from api.settlement import SettlementError
from ledger.errors import LedgerError

log = logging.getLogger("quartier.relayer")

PERIOD: Table = PeriodRow.__table__  # type: ignore[attr-defined]


@dataclass
class PassReport:
    """What one pass did."""

    now: int
    posting: PostingReport = field(default_factory=PostingReport)
    settled: list[int] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    posting_error: str | None = None
    #: False when the chain lacks the deployment (no code at the exchange): nothing was done.
    deployment_present: bool = True


def _record(engine: Engine, period_id: int, now: int, **values: object) -> None:
    with engine.connect() as connection, write_transaction(connection, "v2-relayer", wait=True):
        existing = connection.execute(
            select(PERIOD.c.attempts).where(PERIOD.c.period_id == period_id)
        ).first()
        attempts = (0 if existing is None else int(existing[0])) + 1
        row = {"status": PeriodStatus.FAILING, **values, "attempts": attempts, "updated_at": now}
        if existing is None:
            connection.execute(insert(PERIOD).values(period_id=period_id, **row))
        else:
            connection.execute(update(PERIOD).where(PERIOD.c.period_id == period_id).values(**row))
        connection.commit()


def settled_periods(engine: Engine) -> set[int]:
    """Periods the DB knows settled with their outcome. A row settled without its delivered
    energy (written before outcomes were rebuilt from the chain) is not done: the next pass
    reads its outcome back."""
    with engine.connect() as connection:
        found = connection.execute(
            select(PERIOD.c.period_id).where(
                PERIOD.c.status == PeriodStatus.SETTLED, PERIOD.c.delivered_wh.is_not(None)
            )
        )
        return {int(period_id) for (period_id,) in found}


class Relayer:
    """Posts and settles for one v2 community; one pass at a time."""

    def __init__(self, engine: Engine, chain: V2Chain) -> None:
        self.engine = engine
        self.chain = chain
        self._lock = threading.Lock()
        #: Periods anyone posted for (SchedulePosted events), scanned up to `_scanned`.
        self._chain_periods: set[int] = set()
        self._scanned: int | None = None
        self._deployment_missing = False

    def chain_now(self) -> int:
        """The latest block's timestamp (read fresh)."""
        self.chain.forget_head()
        return self.chain.head().timestamp

    def run_once(self, now: int | None = None) -> PassReport:
        """One pass: step 1 (post pending schedules), step 2 (settle due periods)."""
        with self._lock:
            self.chain.check_identity()  # ChainReplacedError: nothing is sent to another chain
            report = PassReport(self.chain_now() if now is None else now)
            if not self._deployment_on_chain():
                report.deployment_present = False
                return report
            try:
                report.posting = post_pending(self.engine, self.chain, report.now)
            except (LedgerError, SQLAlchemyError) as error:
                # Nothing is lost: pending rows stay pending and are retried.
                report.posting_error = f"{type(error).__name__}: {error}"
                log.warning("relayer: posting failed: %s", report.posting_error)
            self._settle_due(report)
            return report

    def _deployment_on_chain(self) -> bool:
        """Whether the exchange has code on this chain. A node restarted without its state
        (same chain id, empty chain) would take every transaction to the bare address and
        revert nothing: the relayer acts on nothing then, and says so once (one log line per
        loss, another when the deployment is back)."""
        exchange = self.chain.exchange.address
        present = len(self.chain.sender.w3.eth.get_code(Web3.to_checksum_address(exchange))) > 0
        if not present and not self._deployment_missing:
            log.error(
                "relayer: the chain lacks the deployment (no code at QuartierExchange %s):"
                " nothing is posted or settled until it is back",
                exchange,
            )
        elif present and self._deployment_missing:
            log.warning(
                "relayer: the deployment is on the chain again (QuartierExchange %s)", exchange
            )
        self._deployment_missing = not present
        return present

    def _periods_posted_on_chain(self) -> set[int]:
        # Households may post their own schedules (forced inclusion): their periods must be
        # settled too, or their locks would stay. Scanned incrementally (from the deployment
        # block after a restart).
        latest = self.chain.head().number
        start = self.chain.deployment.deploy_block if self._scanned is None else self._scanned + 1
        if start <= latest:
            self._chain_periods |= posting_periods(self.chain, start, latest)
            self._scanned = latest
        return self._chain_periods

    def _settle_due(self, report: PassReport) -> None:
        grid = self.chain.grid
        done = settled_periods(self.engine)
        try:
            candidates = set(posted_periods(self.engine)) | self._periods_posted_on_chain()
        except LedgerError as error:
            log.warning("relayer: cannot list the periods to settle: %s", error)
            return
        for period_id in sorted(candidates):
            if period_id in done or grid.period_end(period_id) > report.now:
                continue
            try:
                outcome = settle_one(self.engine, self.chain, period_id, report.now)
            except (LedgerError, SettlementError, SQLAlchemyError) as error:
                name = type(error).__name__
                report.failed[period_id] = name
                log.warning("relayer: period %d settlement failed: %s: %s", period_id, name, error)
                _record(self.engine, period_id, report.now, last_error=f"{name}: {error}")
                continue
            if isinstance(outcome, Waiting):
                report.waiting.append(outcome)
                log.info(
                    "relayer: period %d waits for meter %s (deadline %d)",
                    period_id,
                    outcome.meter_id,
                    outcome.deadline,
                )
                continue
            self._record_settled(outcome, report.now)
            report.settled.append(period_id)

    def _record_settled(self, outcome: Settled, now: int) -> None:
        result = outcome.result
        _record(
            self.engine,
            outcome.period_id,
            now,
            status=PeriodStatus.SETTLED,
            last_error=None,
            delivered_wh=result.settled.delivered_wh,
            gas_used=result.gas_used,
        )
        if outcome.by_this_pass:
            log.info("relayer: period %d settled", outcome.period_id)
        else:
            log.info(
                "relayer: period %d was settled on chain already; its outcome is read back"
                " (delivered %d Wh, gas %d)",
                outcome.period_id,
                result.settled.delivered_wh,
                result.gas_used,
            )

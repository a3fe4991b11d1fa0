"""The audit as one call over a History (`audit_history`, pure) or over a node
(`run_audit`: read the chain, then the same)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from web3 import Web3

from ledger.audit.batches import Batch, MeterChains
from ledger.audit.history import BatchCall, Call, History, Logged
from ledger.audit.model import (
    AuditReport,
    HouseholdLine,
    IntervalLine,
    Kind,
    PeriodSummary,
    Problem,
)
from ledger.audit.money import Escrow, check_end
from ledger.audit.postings import PostingChecker
from ledger.audit.rule import SettlementRule
from ledger.audit.settlement import SettlementChecker
from ledger.audit.source import Progress, read_history
from ledger.audit.timeline import RulesTimeline, replay_community
from ledger.audit.versions import Recompute, check_versions, read_versions
from ledger.deployment import Deployment
from ledger.events_v2 import (
    HouseholdSettled,
    MeterBatchAccepted,
    PeriodCleared,
    PeriodSettled,
    SchedulePosted,
)

_SETTLEMENT_EVENTS = (PeriodCleared, HouseholdSettled, PeriodSettled)


def _by_transaction(events: Sequence[Logged[Any]]) -> list[list[Logged[Any]]]:
    groups: dict[bytes, list[Logged[Any]]] = {}
    for logged in events:
        groups.setdefault(logged.tx_hash, []).append(logged)
    return sorted(groups.values(), key=lambda group: group[0].position)


def audit_history(history: History, rule: SettlementRule) -> AuditReport:
    """Check everything `history` holds; problems before `history.from_block` are dropped
    (the replay itself always starts at the deployment: rules, registry, books and escrow
    are cumulative)."""
    started = time.perf_counter()
    registry, rules = replay_community(history)
    postings = PostingChecker(
        history.chain_id,
        history.exchange,
        history.grid,
        registry,
        rules,
        history.max_postings_per_period,
        history.max_households_per_period,
    )
    meters = MeterChains(history.chain_id, history.exchange, history.grid, registry)
    settlements = SettlementChecker(history.grid, registry, rules, postings.book, meters, rule)
    escrow = Escrow()
    for group in _by_transaction(history.exchange_events):
        call = history.calls.get(group[0].tx_hash)
        posted = [e for e in group if isinstance(e.event, SchedulePosted)]
        if posted:
            postings.check(posted, call)
            meters.posting_periods.update(e.event.period_id for e in posted)
        if any(isinstance(e.event, _SETTLEMENT_EVENTS) for e in group):
            settlements.check(group, call)
        elif any(isinstance(e.event, MeterBatchAccepted) for e in group):
            _check_batches(meters, group, call)
        for logged in group:
            escrow.apply(logged, call)
    settlements.check_unsettled(history.last_block_time)
    problems: list[Problem] = [
        *registry.problems,
        *rules.problems,
        *postings.problems,
        *meters.problems,
        *settlements.problems,
        *escrow.problems,
        *check_end(history, escrow),
    ]
    # Chain order (stable: within a block, the order the checks found them); the end
    # state's problems last.
    kept = tuple(
        sorted(
            (p for p in problems if p.block_number is None or p.block_number >= history.from_block),
            key=lambda p: (p.block_number is None, p.block_number or 0),
        )
    )
    return AuditReport(
        history.from_block,
        history.to_block,
        _periods(postings.book.posted, settlements, rules),
        tuple(
            HouseholdLine(
                e.period_id,
                e.household,
                e.delivered_wh,
                e.received_wh,
                e.change_units,
                e.released_units,
            )
            for period_id in sorted(settlements.settled)
            for e in settlements.settled[period_id].households
        ),
        postings.book.signatures_checked,
        meters.signatures_checked,
        kept,
        escrow.escrow(),
        time.perf_counter() - started,
    )


def _check_batches(meters: MeterChains, group: list[Logged[Any]], call: Call | None) -> None:
    events = [e for e in group if isinstance(e.event, MeterBatchAccepted)]
    first = events[0]
    if not isinstance(call, BatchCall):
        meters.problems.append(
            Problem(
                Kind.CALLDATA_UNAVAILABLE,
                f"meter batches of 0x{first.tx_hash.hex()} cannot be read back",
                first.event.period_id,
                block_number=first.block_number,
            )
        )
        for logged in events:  # follow the chain the contract keeps, unchecked
            event = logged.event
            meters.last[event.meter_id] = (
                event.period_id,
                event.end_import_wh,
                event.end_export_wh,
            )
            meters.unverified[(event.meter_id, event.period_id)] = logged.position
        return
    if len(call.batches) != len(events):
        meters.problems.append(
            Problem(
                Kind.BATCH_EVENT_MISMATCH,
                f"{len(call.batches)} batches posted, {len(events)} MeterBatchAccepted",
                first.event.period_id,
                block_number=first.block_number,
            )
        )
    for index, raw in enumerate(call.batches):
        event = events[index] if index < len(events) else None
        batch = Batch(
            raw.meter_id,
            raw.period_id,
            raw.start_import_wh,
            raw.start_export_wh,
            raw.deltas,
            raw.signature,
        )
        at = event.position if event is not None else first.position
        meters.accept(batch, at, first.block_number, event, posted_call=True)


def _periods(
    posted: dict[int, dict[str, list[Logged[SchedulePosted]]]],
    settlements: SettlementChecker,
    rules: RulesTimeline,
) -> tuple[PeriodSummary, ...]:
    summaries = []
    grid = settlements.grid
    for period_id in sorted(set(posted) | set(settlements.settled)):
        by_household = posted.get(period_id, {})
        settled = settlements.settled.get(period_id)
        period_rules = rules.rules_at(period_id)
        lines: tuple[IntervalLine, ...] = ()
        if settled is not None and settled.cleared is not None:
            lines = tuple(
                IntervalLine(k, c.price_per_kwh, c.traded_wh, c.delivered_wh)
                for k, c in zip(grid.intervals(period_id), settled.cleared.cleared(), strict=False)
            )
        summaries.append(
            PeriodSummary(
                period_id,
                period_rules.mechanism.name.lower() if period_rules else "unknown",
                len(by_household),
                sum(len(events) for events in by_household.values()),
                settled is not None,
                sum(line.traded_wh for line in lines),
                settled.settled.delivered_wh if settled else 0,
                settled.settled.rounding_units if settled else 0,
                lines,
            )
        )
    return tuple(summaries)


def run_audit(
    w3: Web3,
    deployment: Deployment,
    rule: SettlementRule,
    from_block: int | None = None,
    to_block: int | None = None,
    progress: Progress | None = None,
    workbook: tuple[bytes, Recompute] | None = None,
) -> AuditReport:
    """Audit the v2 community of `deployment` on `w3`, blocks `from_block`..`to_block`
    (default: the deployment block to the latest), with its settlement versions; `workbook`
    (the file's keccak, its recomputation) checks the versions that reference it.
    AuditError when it cannot run."""
    started = time.perf_counter()
    history = read_history(w3, deployment, from_block, to_block, progress)
    report = audit_history(history, rule)
    recorded = read_versions(w3, deployment, history.to_block)
    versions = check_versions(recorded, history, *(workbook or (None, None)))
    return AuditReport(
        report.from_block,
        report.to_block,
        report.periods,
        report.settlements,
        report.schedule_signatures,
        report.batch_signatures,
        report.problems + tuple(p for p in versions if (p.block_number or 0) >= history.from_block),
        report.escrow_units,
        time.perf_counter() - started,
    )

"""Every settlement re-checked (IQuartierExchange, "Settlement of period P"): who was
supplied, with which postings and meter data, then the clearing and netting recomputed by
the injected rule and compared with PeriodCleared, HouseholdSettled and PeriodSettled.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.audit.batches import Batch, MeterChains
from ledger.audit.history import (
    Call,
    Logged,
    Position,
    RawHousehold,
    RawPosting,
    SettleCall,
)
from ledger.audit.model import Kind, Problem, RuleRefusedError
from ledger.audit.postings import Book, struct_hash
from ledger.audit.rule import RuleHousehold, RuleMeter, RuleOutcome, SettlementRule
from ledger.audit.timeline import Registry, RulesTimeline
from ledger.events_v2 import (
    HouseholdSettled,
    MeterBatchAccepted,
    PeriodCleared,
    PeriodSettled,
    SchedulePosted,
    only,
)
from ledger.exchange import MeterData, MeterSource
from ledger.rules import TimeGrid

#: Records one problem of the settlement being checked (kind, detail, interval id).
_Add = Callable[..., None]


@dataclass(frozen=True)
class Settled:
    """A settled period as the chain recorded it (for the report)."""

    period_id: int
    block_number: int
    cleared: PeriodCleared | None
    households: tuple[HouseholdSettled, ...]
    settled: PeriodSettled


@dataclass
class SettlementChecker:
    """Checks each settlement transaction in chain order."""

    grid: TimeGrid
    registry: Registry
    rules: RulesTimeline
    book: Book
    meters: MeterChains
    rule: SettlementRule
    settled: dict[int, Settled] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def check(self, events: Sequence[Logged[Any]], call: Call | None) -> None:
        """The events of one settlement transaction, with its decoded call."""
        first = events[0]
        at, block = first.position, first.block_number
        settled_events = only((e.event for e in events), PeriodSettled)
        period_id = settled_events[0].period_id if settled_events else None

        def add(kind: Kind, detail: str, interval_id: int | None = None) -> None:
            self.problems.append(Problem(kind, detail, period_id, interval_id, block))

        if period_id is None:
            return
        cleared = only((e.event for e in events), PeriodCleared)
        households = tuple(only((e.event for e in events), HouseholdSettled))
        if period_id in self.settled:
            add(Kind.SETTLEMENT_DUPLICATE, f"period {period_id} is settled a second time")
        else:
            self.meters.settled_periods.add(period_id)
            self.settled[period_id] = Settled(
                period_id, block, cleared[0] if cleared else None, households, settled_events[0]
            )
        ends_at = self.grid.period_end(period_id)
        if first.block_time < ends_at:
            add(Kind.SETTLEMENT_TOO_EARLY, f"settled at {first.block_time}, it ends at {ends_at}")
        if not isinstance(call, SettleCall) or call.period_id != period_id:
            add(
                Kind.CALLDATA_UNAVAILABLE,
                f"the settlement 0x{first.tx_hash.hex()} is not a readable settlePeriod call",
            )
            for logged in events:  # its inline batches still extend the meters' chains
                if isinstance(logged.event, MeterBatchAccepted):
                    accepted = logged.event
                    self.meters.last[accepted.meter_id] = (
                        accepted.period_id,
                        accepted.end_import_wh,
                        accepted.end_export_wh,
                    )
            return
        rules = self.rules.rules_at(period_id, at)
        if rules is None:
            add(Kind.RULES_MISSING, f"no rules for period {period_id}")
            return
        posted = self.book.postings_at(period_id, at)
        supplied = [h.household for h in call.households]
        if any(int(a, 16) >= int(b, 16) for a, b in itertools.pairwise(supplied)):
            add(Kind.SETTLEMENT_HOUSEHOLDS_MISMATCH, "households are not in increasing order")
        if set(supplied) != set(posted):
            add(
                Kind.SETTLEMENT_HOUSEHOLDS_MISMATCH,
                f"supplied {sorted(set(supplied) - set(posted))} that did not post, left out "
                f"{sorted(set(posted) - set(supplied))} that did",
            )
        batch_events = [e for e in events if isinstance(e.event, MeterBatchAccepted)]
        inputs: dict[str, RuleHousehold] = {}
        deadline = self.grid.settlement_deadline(period_id, rules)
        for household in call.households:
            meters = self._meters(
                household, period_id, at, first.block_time, deadline, batch_events, add
            )
            postings = self._postings(
                household, period_id, posted.get(household.household, []), add
            )
            if postings is not None and meters is not None:
                membership = self.registry.membership_at(household.household, at)
                inputs[household.household] = RuleHousehold(
                    household.household, membership, postings, meters
                )
        if batch_events:
            add(Kind.BATCH_EVENT_MISMATCH, f"{len(batch_events)} MeterBatchAccepted too many")
        for address, events_of in posted.items():
            released = sum(event.locked_units for event in events_of)
            for settled in households:
                if settled.household == address and settled.released_units != released:
                    add(
                        Kind.HOUSEHOLD_SETTLED_MISMATCH,
                        f"{address} released {settled.released_units} units, its postings "
                        f"locked {released}",
                    )
        if set(inputs) != set(posted):
            return  # the input is not the chain's: what was settled cannot be recomputed
        try:
            outcome = self.rule(rules, self.grid, period_id, list(inputs.values()))
        except RuleRefusedError as error:
            add(Kind.SETTLEMENT_RULE_REFUSED, f"the rule refuses the period's input: {error}")
            return
        if call.hints != outcome.hints:
            add(Kind.HINTS_MISMATCH, "the hints are not the rule's marginal claims")
        self._compare(period_id, outcome, cleared, households, settled_events[0], add)

    def _postings(
        self, household: RawHousehold, period_id: int, events: list[SchedulePosted], add: _Add
    ) -> tuple[RawPosting, ...] | None:
        """The household's postings as the chain committed them (None: unknown)."""
        address = household.household
        supplied = [
            struct_hash(address, period_id, p.version, p.first_interval_id, p.entries)
            for p in household.postings
        ]
        committed = [event.schedule_hash for event in events]
        if supplied != committed:
            add(
                Kind.SETTLEMENT_POSTINGS_MISMATCH,
                f"{address}: {len(supplied)} postings supplied do not chain to the "
                f"{len(committed)} posted",
            )
            known = [self.book.schedules.get(h) for h in committed]
            if not events or any(s is None for s in known):
                return None
            return tuple(RawPosting(s.version, s.first_interval_id, s.entries) for s in known if s)
        return household.postings

    def _meters(
        self,
        household: RawHousehold,
        period_id: int,
        at: Position,
        now: int,
        deadline: int,
        batch_events: list[Logged[Any]],
        add: _Add,
    ) -> tuple[RuleMeter, ...] | None:
        address = household.household
        meter_ids = self.registry.meters_of_at(address, at)
        if len(meter_ids) != len(household.meters):
            add(
                Kind.SETTLEMENT_METERS_MISMATCH,
                f"{address}: {len(household.meters)} meter data for {len(meter_ids)} meters",
            )
            return None
        result = []
        for meter_id, data in zip(meter_ids, household.meters, strict=True):
            window = self.registry.meter_window_at(meter_id, at)
            deltas = self._meter_deltas(
                meter_id, data, period_id, at, now, deadline, batch_events, add
            )
            result.append(RuleMeter(window, deltas))
        return tuple(result)

    def _meter_deltas(
        self,
        meter_id: bytes,
        data: MeterData,
        period_id: int,
        at: Position,
        now: int,
        deadline: int,
        batch_events: list[Logged[Any]],
        add: _Add,
    ) -> bytes | None:
        meter = f"meter 0x{meter_id.hex()}"
        supplied = Batch(
            meter_id, period_id, data.start_import_wh, data.start_export_wh, data.deltas, None
        )
        posted = self.meters.posted_before(meter_id, period_id, at)
        if posted is not None:
            if data.source != MeterSource.POSTED or not posted.same_fields(supplied):
                add(Kind.SETTLEMENT_POSTED_BATCH_UNUSED, f"{meter}: its posted batch is not used")
            return posted.deltas
        unverified = self.meters.unverified.get((meter_id, period_id))
        if data.source == MeterSource.POSTED and unverified is not None and unverified < at:
            return data.deltas  # posted unreadably (already named): take the settler's copy
        if data.source == MeterSource.POSTED:
            add(Kind.SETTLEMENT_POSTED_BATCH_UNUSED, f"{meter}: claims a batch never posted")
            return None
        if data.source == MeterSource.INLINE:
            event = batch_events.pop(0) if batch_events else None
            inline = Batch(
                meter_id,
                period_id,
                data.start_import_wh,
                data.start_export_wh,
                data.deltas,
                data.signature,
            )
            self.meters.accept(inline, at, at[0], event, posted_call=False)
            return data.deltas
        if data.deltas or data.signature or data.start_import_wh or data.start_export_wh:
            add(Kind.BATCH_BAD_DELTAS, f"{meter}: data of source none must be empty")
        window = self.registry.meter_window_at(meter_id, at)
        counts = any(
            window.counts_for(self.grid.interval_start(k), self.grid.interval_end(k))
            for k in self.grid.intervals(period_id)
        )
        if counts and now < deadline:
            add(
                Kind.SETTLEMENT_METER_DATA_MISSING,
                f"{meter} has no data at {now}, before the deadline {deadline}",
            )
        return None

    def _compare(
        self,
        period_id: int,
        outcome: RuleOutcome,
        cleared: list[PeriodCleared],
        households: tuple[HouseholdSettled, ...],
        settled: PeriodSettled,
        add: _Add,
    ) -> None:
        chain = cleared[0].cleared() if cleared else ()
        if len(chain) != len(outcome.intervals):
            add(
                Kind.CLEARED_MISMATCH,
                f"PeriodCleared has {len(chain)} intervals, the period {len(outcome.intervals)}",
            )
        for k, mine, theirs in zip(
            self.grid.intervals(period_id), outcome.intervals, chain, strict=False
        ):
            if mine != theirs:
                add(
                    Kind.CLEARED_MISMATCH,
                    f"interval {k}: chain (price, traded, delivered) = "
                    f"{(theirs.price_per_kwh, theirs.traded_wh, theirs.delivered_wh)}, "
                    f"rule {(mine.price_per_kwh, mine.traded_wh, mine.delivered_wh)}",
                    k,
                )
        chain_rows = [
            (e.household.lower(), e.delivered_wh, e.received_wh, e.change_units, e.released_units)
            for e in households
        ]
        rule_rows = [
            (f.address.lower(), f.delivered_wh, f.received_wh, f.change_units, f.released_units)
            for f in outcome.households
        ]
        if len(chain_rows) != len(rule_rows):
            add(
                Kind.HOUSEHOLD_SETTLED_MISMATCH,
                f"{len(chain_rows)} HouseholdSettled events for {len(rule_rows)} households",
            )
        for theirs_row, mine_row in zip(chain_rows, rule_rows, strict=False):
            if theirs_row != mine_row:
                add(
                    Kind.HOUSEHOLD_SETTLED_MISMATCH,
                    f"HouseholdSettled (household, delivered, received, change, released) = "
                    f"{theirs_row}, rule {mine_row}",
                )
        chain_totals = (settled.household_count, settled.delivered_wh, settled.rounding_units)
        rule_totals = (len(rule_rows), outcome.delivered_wh, outcome.rounding_units)
        if chain_totals != rule_totals:
            add(
                Kind.PERIOD_SETTLED_MISMATCH,
                f"PeriodSettled (households, delivered, rounding) = {chain_totals}, "
                f"rule {rule_totals}",
            )

    def check_unsettled(self, last_block_time: int) -> None:
        """A period with postings, past its deadline and not settled, is a problem."""
        for period_id in sorted(self.book.posted):
            if period_id in self.settled:
                continue
            rules = self.rules.rules_at(period_id)
            if rules is None:
                continue
            deadline = self.grid.settlement_deadline(period_id, rules)
            if deadline < last_block_time:
                self.problems.append(
                    Problem(
                        Kind.PERIOD_UNSETTLED,
                        f"period {period_id} has postings and is not settled; its deadline "
                        f"{deadline} passed (last block at {last_block_time})",
                        period_id,
                    )
                )

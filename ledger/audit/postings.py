"""Every posting re-checked (IQuartierExchange, "Schedules"): the events of one
`postSchedules` transaction against its calldata, signature, membership, time and book.
A posting made through another contract is rebuilt from its event (which carries the
entries) and checked the same way, its signature excepted (only calldata holds it).

`Book` keeps what settlement needs afterwards: per (period, household) the SchedulePosted
events in posting order, and the posted schedules by struct hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak

from ledger.audit.history import Call, Logged, PostCall, RawSchedule
from ledger.audit.model import Kind, Problem
from ledger.audit.timeline import Registry, RulesTimeline
from ledger.events_v2 import SchedulePosted
from ledger.rules import TimeGrid
from ledger.schedules import (
    SCHEDULE_TYPEHASH,
    EntriesFormatError,
    decode_entries,
    first_small_entry,
    lock_units,
)
from ledger.signatures import SignatureRuleError, check_signature
from metering.period import domain_separator_v2


def struct_hash(
    household: str, period_id: int, version: int, first_interval_id: int, entries: bytes
) -> bytes:
    """The Schedule hashStruct from raw fields (entries need not decode)."""
    return keccak(
        abi_encode(
            ["bytes32", "address", "uint64", "uint32", "uint64", "bytes32"],
            [
                SCHEDULE_TYPEHASH,
                to_canonical_address(household),
                period_id,
                version,
                first_interval_id,
                keccak(entries),
            ],
        )
    )


def _hash_of(schedule: RawSchedule) -> bytes:
    return struct_hash(
        schedule.household,
        schedule.period_id,
        schedule.version,
        schedule.first_interval_id,
        schedule.entries,
    )


def _from_event(event: SchedulePosted) -> RawSchedule:
    """The posting a SchedulePosted records (no signature: the event has none)."""
    return RawSchedule(
        event.household, event.period_id, event.version, event.first_interval_id, event.entries, b""
    )


@dataclass
class Book:
    """The postings the chain accepted, as settlement must re-supply them."""

    posted: dict[int, dict[str, list[Logged[SchedulePosted]]]] = field(default_factory=dict)
    schedules: dict[bytes, RawSchedule] = field(default_factory=dict)
    signatures_checked: int = 0

    def postings_at(self, period_id: int, at: tuple[int, int]) -> dict[str, list[SchedulePosted]]:
        """Per household, its SchedulePosted events for the period before `at`."""
        found: dict[str, list[SchedulePosted]] = {}
        for household, logged in self.posted.get(period_id, {}).items():
            events = [item.event for item in logged if item.position < at]
            if events:
                found[household] = events
        return found


@dataclass
class PostingChecker:
    """Checks the postings of each transaction in chain order."""

    chain_id: int
    exchange: str
    grid: TimeGrid
    registry: Registry
    rules: RulesTimeline
    max_postings: int
    #: MAX_HOUSEHOLDS_PER_PERIOD: what keeps PeriodCleared's uint32 volumes exact.
    max_households: int = 255
    book: Book = field(default_factory=Book)
    problems: list[Problem] = field(default_factory=list)

    def check(self, events: Sequence[Logged[SchedulePosted]], call: Call | None) -> None:
        """The SchedulePosted events of one transaction, with its decoded call."""
        first = events[0]
        schedules: Sequence[RawSchedule | None]
        if isinstance(call, PostCall):
            schedules = call.schedules
            if len(schedules) != len(events):
                self._add(
                    Kind.POSTING_EVENT_MISMATCH,
                    first,
                    f"the call posts {len(schedules)} schedules, {len(events)} events record",
                )
                schedules = [None] * len(events)
        else:
            # Posted through another contract: each event carries its entries (the contract
            # checked the signature, which only the calldata holds: not re-checked here).
            for logged in events:
                self._check_one(logged, _from_event(logged.event), signed=False)
            return
        for logged, schedule in zip(events, schedules, strict=True):
            self._check_one(logged, schedule)

    def _add(self, kind: Kind, logged: Logged[SchedulePosted], detail: str) -> None:
        event = logged.event
        self.problems.append(
            Problem(
                kind,
                detail,
                period_id=event.period_id,
                interval_id=event.first_interval_id,
                block_number=logged.block_number,
            )
        )

    def _check_one(
        self, logged: Logged[SchedulePosted], schedule: RawSchedule | None, signed: bool = True
    ) -> None:
        event = logged.event
        who = f"{event.household} v{event.version} of period {event.period_id}"
        self._check_record(logged, who)
        self.book.posted.setdefault(event.period_id, {}).setdefault(event.household, []).append(
            logged
        )
        if schedule is None:
            return
        if _hash_of(schedule) != event.schedule_hash or (
            schedule.household,
            schedule.period_id,
            schedule.version,
            schedule.first_interval_id,
            schedule.entries,
        ) != (
            event.household,
            event.period_id,
            event.version,
            event.first_interval_id,
            event.entries,
        ):
            source = "the calldata" if signed else "its own schedule_hash"
            self._add(
                Kind.POSTING_EVENT_MISMATCH, logged, f"{who}: the event differs from {source}"
            )
            return
        self.book.schedules[event.schedule_hash] = schedule
        if signed:
            self._check_signature(logged, schedule, who)
        self._check_timing(logged, schedule, who)
        self._check_entries(logged, schedule, who)

    def _check_record(self, logged: Logged[SchedulePosted], who: str) -> None:
        # Version and count from the events alone: they hold even without calldata.
        event = logged.event
        earlier = self.book.posted.get(event.period_id, {}).get(event.household, [])
        if earlier and event.version <= earlier[-1].event.version:
            self._add(
                Kind.POSTING_STALE_VERSION,
                logged,
                f"{who} follows version {earlier[-1].event.version}",
            )
        households = self.book.posted.get(event.period_id, {})
        if not earlier and len(households) >= self.max_households:
            self._add(
                Kind.POSTING_TOO_MANY_HOUSEHOLDS,
                logged,
                f"{who} is household {len(households) + 1} of at most {self.max_households}",
            )
        if len(earlier) >= self.max_postings:
            self._add(
                Kind.POSTING_TOO_MANY,
                logged,
                f"{who} is posting {len(earlier) + 1} of at most {self.max_postings}",
            )
        if not self.registry.is_member_at(event.household, logged.position):
            self._add(Kind.POSTING_NOT_MEMBER, logged, f"{who}: not a member when posted")

    def _check_signature(
        self, logged: Logged[SchedulePosted], schedule: RawSchedule, who: str
    ) -> None:
        self.book.signatures_checked += 1
        digest = keccak(
            b"\x19\x01"
            + domain_separator_v2(self.chain_id, self.exchange)
            + logged.event.schedule_hash
        )
        try:
            signature = check_signature(schedule.signature)
            signer = str(Account._recover_hash(digest, vrs=(signature.v, signature.r, signature.s)))
        except SignatureRuleError as error:
            self._add(Kind.POSTING_SIGNATURE, logged, f"{who}: {error}")
            return
        if signer != schedule.household:
            self._add(Kind.POSTING_SIGNATURE, logged, f"{who} is signed by {signer}")

    def _check_timing(
        self, logged: Logged[SchedulePosted], schedule: RawSchedule, who: str
    ) -> None:
        grid, period_id, first = self.grid, schedule.period_id, schedule.first_interval_id
        now = logged.block_time
        horizon = grid.period_at(now) + 1
        if period_id > horizon:
            self._add(
                Kind.POSTING_BEYOND_HORIZON,
                logged,
                f"{who} posted when {horizon} was the last open",
            )
        count = len(schedule.entries) // 8
        inside = grid.intervals(period_id)
        if first not in inside or first + count > inside.stop:
            self._add(
                Kind.POSTING_OUTSIDE_PERIOD,
                logged,
                f"{who}: intervals {first}..{first + count - 1} leave the period",
            )
        rules = self.rules.rules_at(period_id, logged.position)
        if rules is None:
            self._add(Kind.RULES_MISSING, logged, f"{who}: no rules for period {period_id}")
            return
        gate = grid.gate(first, rules)
        if now >= gate:
            self._add(
                Kind.POSTING_GATE_CLOSED,
                logged,
                f"{who} posted at {now}, the gate of interval {first} closed at {gate}",
            )

    def _check_entries(
        self, logged: Logged[SchedulePosted], schedule: RawSchedule, who: str
    ) -> None:
        rules = self.rules.rules_at(schedule.period_id, logged.position)
        try:
            entries = decode_entries(schedule.entries)
        except EntriesFormatError as error:
            self._add(Kind.POSTING_BAD_ENTRIES, logged, f"{who}: {error}")
            return
        small = first_small_entry(entries, rules.min_entry_wh) if rules else None
        if small is not None:
            self._add(
                Kind.POSTING_BAD_ENTRIES, logged, f"{who}: entry {small} is below the minimum"
            )
        lock = lock_units(entries)
        if lock != logged.event.locked_units:
            self._add(
                Kind.POSTING_LOCK_MISMATCH,
                logged,
                f"{who} locked {logged.event.locked_units} units, its buy entries need {lock}",
            )

"""The community's history replayed from its events: registry and rules, as of any position.

`Registry` answers what QuartierCommunity's views answered at a given (block, log index):
memberships, meters and metersOf, from the admission, removal and revocation events.
`RulesTimeline` answers rulesAt(P) likewise from RulesScheduled. Both check the history
they replay (IQuartierCommunity, "Registry" and "Rules") and collect the problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.audit.history import History, Logged, Position
from ledger.audit.model import Kind, Problem
from ledger.community import Window
from ledger.events_v2 import (
    HouseholdAdmitted,
    HouseholdRemoved,
    MeterAdmitted,
    MeterRevoked,
    RulesScheduled,
)
from ledger.rules import Rules, TimeGrid
from metering.reading import PublicKey, meter_id_of

#: IQuartierCommunity: a household has at most 8 meters ever.
MAX_METERS_PER_HOUSEHOLD = 8
#: A position after every audited event.
END: Position = (2**63, 0)


@dataclass
class _Stamp:
    """A time (block time) and the position of the event that set it."""

    position: Position
    time: int


@dataclass
class _Member:
    admitted: _Stamp
    removed: _Stamp | None = None


@dataclass
class MeterState:
    """One meter: owner, key, admission and (maybe) revocation."""

    meter_id: bytes
    household: str
    public_key: PublicKey
    admitted: _Stamp
    revoked: _Stamp | None = None


def _window(admitted: _Stamp | None, ended: _Stamp | None, at: Position) -> Window:
    if admitted is None or admitted.position >= at:
        return Window(0)
    return Window(admitted.time, ended.time if ended and ended.position < at else 0)


@dataclass
class Registry:
    """Memberships and meters replayed from the community's events."""

    members: dict[str, _Member] = field(default_factory=dict)
    meters: dict[bytes, MeterState] = field(default_factory=dict)
    household_meters: dict[str, list[bytes]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def membership_at(self, household: str, at: Position) -> Window:
        """membership(household) as answered at `at` (admitted_at 0: not admitted yet)."""
        member = self.members.get(household)
        if member is None:
            return Window(0)
        return _window(member.admitted, member.removed, at)

    def is_member_at(self, household: str, at: Position) -> bool:
        """A member now: admitted and not removed (the exchange's posting condition)."""
        window = self.membership_at(household, at)
        return window.admitted_at != 0 and window.removed_at == 0

    def meters_of_at(self, household: str, at: Position) -> list[bytes]:
        """metersOf(household) at `at`: admission order, revoked meters included."""
        return [
            meter_id
            for meter_id in self.household_meters.get(household, [])
            if self.meters[meter_id].admitted.position < at
        ]

    def meter_at(self, meter_id: bytes, at: Position) -> MeterState | None:
        """The meter as known at `at` (None: not admitted yet)."""
        meter = self.meters.get(meter_id)
        return meter if meter is not None and meter.admitted.position < at else None

    def meter_window_at(self, meter_id: bytes, at: Position) -> Window:
        meter = self.meters.get(meter_id)
        if meter is None:
            return Window(0)
        return _window(meter.admitted, meter.revoked, at)

    # ------------------------------------------------------------ replay

    def _problem(self, kind: Kind, logged: Logged[object], detail: str) -> None:
        self.problems.append(Problem(kind, detail, block_number=logged.block_number))

    def _stamp(self, logged: Logged[object], time: int, what: str) -> _Stamp:
        if time != logged.block_time:
            self._problem(
                Kind.REGISTRY_TIME_MISMATCH,
                logged,
                f"{what} carries time {time} but its block's time is {logged.block_time}",
            )
        return _Stamp(logged.position, time)

    def apply(self, logged: Logged[object]) -> None:
        """Replay one community event (others are ignored)."""
        event = logged.event
        if isinstance(event, HouseholdAdmitted):
            self._admit(logged, event)
        elif isinstance(event, HouseholdRemoved):
            self._remove(logged, event)
        elif isinstance(event, MeterAdmitted):
            self._admit_meter(logged, event)
        elif isinstance(event, MeterRevoked):
            self._revoke(logged, event)

    def _admit(self, logged: Logged[object], event: HouseholdAdmitted) -> None:
        stamp = self._stamp(logged, event.admitted_at, f"the admission of {event.household}")
        if event.household in self.members:
            self._problem(
                Kind.REGISTRY_VIOLATION, logged, f"{event.household} is admitted a second time"
            )
            return
        self.members[event.household] = _Member(stamp)

    def _remove(self, logged: Logged[object], event: HouseholdRemoved) -> None:
        stamp = self._stamp(logged, event.removed_at, f"the removal of {event.household}")
        member = self.members.get(event.household)
        if member is None or member.removed is not None:
            self._problem(
                Kind.REGISTRY_VIOLATION, logged, f"{event.household} is removed but not a member"
            )
            return
        member.removed = stamp
        active = [
            meter_id
            for meter_id in self.household_meters.get(event.household, [])
            if self.meters[meter_id].revoked is None
        ]
        if active:
            self._problem(
                Kind.REGISTRY_VIOLATION,
                logged,
                f"{event.household} is removed with {len(active)} meter(s) still active",
            )

    def _admit_meter(self, logged: Logged[object], event: MeterAdmitted) -> None:
        meter = "0x" + event.meter_id.hex()
        stamp = self._stamp(logged, event.admitted_at, f"the admission of meter {meter}")
        key = PublicKey(event.public_key_x, event.public_key_y)
        if event.meter_id in self.meters:
            self._problem(Kind.REGISTRY_VIOLATION, logged, f"meter {meter} is admitted twice")
            return
        if meter_id_of(key) != event.meter_id:
            self._problem(
                Kind.REGISTRY_VIOLATION, logged, f"meter {meter} is not the id of its key"
            )
        if not self.is_member_at(event.household, logged.position):
            self._problem(
                Kind.REGISTRY_VIOLATION,
                logged,
                f"meter {meter} is admitted for {event.household}, who is not a member",
            )
        owned = self.household_meters.setdefault(event.household, [])
        if len(owned) >= MAX_METERS_PER_HOUSEHOLD:
            self._problem(
                Kind.REGISTRY_VIOLATION,
                logged,
                f"{event.household} gets a meter beyond the {MAX_METERS_PER_HOUSEHOLD} allowed",
            )
        owned.append(event.meter_id)
        self.meters[event.meter_id] = MeterState(event.meter_id, event.household, key, stamp)

    def _revoke(self, logged: Logged[object], event: MeterRevoked) -> None:
        meter_hex = "0x" + event.meter_id.hex()
        stamp = self._stamp(logged, event.revoked_at, f"the revocation of meter {meter_hex}")
        meter = self.meters.get(event.meter_id)
        if meter is None or meter.revoked is not None or meter.household != event.household:
            self._problem(
                Kind.REGISTRY_VIOLATION,
                logged,
                f"meter {meter_hex} of {event.household} is revoked but not an active meter of it",
            )
            return
        meter.revoked = stamp

    def check_state(self, history: History) -> None:
        """The replay against the community's views at the last block."""
        state = history.state
        for household, window in state.memberships.items():
            replayed = self.membership_at(household, END)
            if replayed != window:
                self.problems.append(
                    Problem(
                        Kind.REGISTRY_STATE_MISMATCH,
                        f"membership of {household} is {window} but its events give {replayed}",
                    )
                )
        for household, meter_ids in state.meters_of.items():
            if self.meters_of_at(household, END) != meter_ids:
                self.problems.append(
                    Problem(
                        Kind.REGISTRY_STATE_MISMATCH,
                        f"metersOf({household}) differs from the meters its events admitted",
                    )
                )
        for meter_id, record in state.meters.items():
            meter = self.meters.get(meter_id)
            window = self.meter_window_at(meter_id, END)
            if meter is None or (
                meter.household,
                window,
                meter.public_key.x,
                meter.public_key.y,
            ) != (record.household, record.window, record.public_key_x, record.public_key_y):
                self.problems.append(
                    Problem(
                        Kind.REGISTRY_STATE_MISMATCH,
                        f"meter 0x{meter_id.hex()} is recorded as {record} but its events differ",
                    )
                )


@dataclass
class RulesTimeline:
    """rulesAt(P) as of any position, from RulesScheduled (a later entry for the same or an
    earlier effective period replaces an earlier one)."""

    grid: TimeGrid
    delay_periods: int
    entries: list[tuple[Position, int, Rules]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def rules_at(self, period_id: int, at: Position = END) -> Rules | None:
        """rulesAt(period_id) as answered at `at`; None if no rules applied yet."""
        found = None
        for position, effective, rules in self.entries:
            if position < at and effective <= period_id:
                found = rules
        return found

    def apply(self, logged: Logged[object]) -> None:
        event = logged.event
        if not isinstance(event, RulesScheduled):
            return
        effective = event.effective_from_period_id
        if self.entries:
            earliest = self.grid.period_at(logged.block_time) + self.delay_periods
            if effective < earliest:
                self.problems.append(
                    Problem(
                        Kind.RULES_CHANGE_TOO_EARLY,
                        f"rules scheduled at {logged.block_time} for period {effective}; "
                        f"the delay of {self.delay_periods} periods allows {earliest} at the "
                        "earliest",
                        period_id=effective,
                        block_number=logged.block_number,
                    )
                )
        elif effective != 0:
            self.problems.append(
                Problem(
                    Kind.RULES_MISSING,
                    f"the first rules take effect from period {effective}, not period 0",
                    period_id=effective,
                    block_number=logged.block_number,
                )
            )
        self.entries.append((logged.position, effective, event.rules))

    def check_state(self, history: History) -> None:
        """The replay against rulesHistory() and rulesAt(P) at the last block."""
        replayed = [(effective, rules) for _, effective, rules in self.entries]
        if history.state.rules_history != replayed:
            self.problems.append(
                Problem(
                    Kind.RULES_HISTORY_MISMATCH,
                    f"rulesHistory() lists {len(history.state.rules_history)} changes, "
                    f"the RulesScheduled events {len(replayed)} (or they differ)",
                )
            )
        for period_id, rules in sorted(history.state.rules_at.items()):
            if self.rules_at(period_id) != rules:
                self.problems.append(
                    Problem(
                        Kind.RULES_HISTORY_MISMATCH,
                        f"rulesAt({period_id}) is {rules}, the RulesScheduled events give "
                        f"{self.rules_at(period_id)}",
                        period_id,
                    )
                )


def replay_community(history: History) -> tuple[Registry, RulesTimeline]:
    """Registry and rules from the community's events, checked against its end state."""
    registry = Registry()
    rules = RulesTimeline(history.grid, history.rule_change_delay_periods)
    for logged in history.community_events:
        registry.apply(logged)
        rules.apply(logged)
    registry.check_state(history)
    rules.check_state(history)
    return registry, rules

"""A synthetic v2 history, built event by event as an exchange that follows its own events
would record it: each transaction in its own block, end state = what the events imply.

`honest()` is a small period that audits clean (three households, a replacing version, a
posted and two inline meter batches, a later rules change, deposits and a withdrawal). Its
knobs and hooks let a test plant one defect at build time; `resync` recomputes the end
state after a test edited events, as a contract whose views agree with its events would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from api.audit_cli import settlement_rule
from ledger.audit.history import (
    BatchCall,
    Call,
    History,
    Logged,
    MeterRecord,
    PostCall,
    RawBatch,
    RawHousehold,
    RawPosting,
    RawSchedule,
    SettleCall,
)
from ledger.audit.postings import struct_hash
from ledger.audit.rule import RuleHousehold, RuleMeter
from ledger.community import Window
from ledger.events import Transfer
from ledger.events_v2 import (
    ExchangeDeposited,
    ExchangeWithdrawn,
    HouseholdAdmitted,
    HouseholdRemoved,
    HouseholdSettled,
    MeterAdmitted,
    MeterBatchAccepted,
    MeterRevoked,
    PeriodCleared,
    PeriodSettled,
    RulesScheduled,
    SchedulePosted,
)
from ledger.exchange import MeterData
from ledger.rules import Mechanism, Rules, TimeGrid
from ledger.schedules import NO_ENTRY, Entry, EntrySide
from metering.period import MeterPeriod, SignedMeterPeriod, domain_separator_v2, sign_meter_period
from metering.reading import PublicKey, meter_id_of

GRID = TimeGrid(interval_seconds=60, period_intervals=4)
RULES = Rules(
    mechanism=Mechanism.PAY_AS_CLEAR,
    gate_lead_seconds=0,
    settlement_deadline_seconds=600,
    min_entry_wh=1,
    price_floor_per_kwh=50_000,
    price_ceiling_per_kwh=350_000,
    community_price_per_kwh=150_000,
)
#: The honest rules change: a longer deadline, from period current + DELAY on.
LATER_RULES = replace(RULES, settlement_deadline_seconds=1_200)
CHAIN_ID = 31337
EXCHANGE = to_checksum_address("0x" + "e1" * 20)
TOKEN = to_checksum_address("0x" + "70" * 20)
RELAYER = to_checksum_address("0x" + "5e" * 20)
DELAY = 2
#: The period the honest scenario trades in (the deployment is in the one before).
PERIOD = 1001


@dataclass
class Meter:
    key: ec.EllipticCurvePrivateKey
    meter_id: bytes
    public_key: PublicKey


@dataclass
class Household:
    account: LocalAccount
    meters: list[Meter] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.account.address)


def raw_lock(entries: bytes) -> int:
    milli = sum(
        int.from_bytes(entries[at + 1 : at + 4], "big")
        * int.from_bytes(entries[at + 4 : at + 8], "big")
        for at in range(0, len(entries) - 7, 8)
        if entries[at] == 2
    )
    return -(-milli // 1000)


def sign_raw(account: LocalAccount, schedule: RawSchedule) -> RawSchedule:
    digest = keccak(
        b"\x19\x01"
        + domain_separator_v2(CHAIN_ID, EXCHANGE)
        + struct_hash(
            schedule.household,
            schedule.period_id,
            schedule.version,
            schedule.first_interval_id,
            schedule.entries,
        )
    )
    signed = Account.unsafe_sign_hash(digest, account.key)
    return replace(schedule, signature=bytes(signed.signature))


def entries(*items: Entry) -> bytes:
    return b"".join(e.to_bytes() for e in items)


class Builder:
    """Emits events and calls; keeps what the contract would keep to emit the next ones."""

    def __init__(self, start_time: int) -> None:
        self.history = History(CHAIN_ID, EXCHANGE, TOKEN, GRID, DELAY, 1, 0, 0)
        self.block = 0
        self.time = start_time
        self._log_index = 0
        self._tx = b""
        self.members: dict[str, Window] = {}
        self.meters: dict[bytes, tuple[str, Window, PublicKey]] = {}
        self.meters_of: dict[str, list[bytes]] = {}
        self.posted: dict[int, dict[str, list[RawSchedule]]] = {}
        self.posted_batches: dict[tuple[bytes, int], SignedMeterPeriod] = {}
        self.rules: list[tuple[int, Rules]] = []

    # ------------------------------------------------------------ plumbing

    def new_tx(self, at: int | None = None, call: Call | None = None) -> bytes:
        self.block += 1
        self.time = max(self.time + 1, at or 0)
        self._log_index = 0
        self._tx = keccak(self.block.to_bytes(8, "big"))
        if call is not None:
            self.history.calls[self._tx] = call
        return self._tx

    def log(self, target: list[Logged[Any]], event: Any) -> None:
        target.append(Logged(event, self.block, self.time, self._tx, self._log_index))
        self._log_index += 1

    def community(self, event: Any) -> None:
        self.log(self.history.community_events, event)

    def exchange(self, event: Any) -> None:
        self.log(self.history.exchange_events, event)

    def transfer(self, sender: str, receiver: str, amount: int) -> None:
        self.log(self.history.transfers, Transfer(sender, receiver, amount))

    def warp(self, unix_seconds: int) -> None:
        self.time = max(self.time, unix_seconds - 1)

    # ------------------------------------------------------------ community

    def deploy(self) -> None:
        self.new_tx()
        self.community(RulesScheduled(0, RULES))
        self.rules.append((0, RULES))

    def schedule_rules(self, rules: Rules, effective: int | None = None) -> None:
        self.new_tx()
        period = GRID.period_at(self.time) + DELAY if effective is None else effective
        self.community(RulesScheduled(period, rules))
        self.rules.append((period, rules))

    def admit(self, meters: int = 1, account: LocalAccount | None = None) -> Household:
        household = Household(account or Account.create())
        self.new_tx()
        self.community(HouseholdAdmitted(household.address, self.time))
        self.members[household.address] = Window(self.time)
        for _ in range(meters):
            self.admit_meter(household)
        return household

    def admit_meter(self, household: Household) -> Meter:
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = PublicKey.from_cryptography(key.public_key())
        meter = Meter(key, meter_id_of(public_key), public_key)
        self.new_tx()
        self.community(
            MeterAdmitted(meter.meter_id, household.address, public_key.x, public_key.y, self.time)
        )
        self.meters[meter.meter_id] = (household.address, Window(self.time), public_key)
        self.meters_of.setdefault(household.address, []).append(meter.meter_id)
        household.meters.append(meter)
        return meter

    def remove(self, household: Household) -> None:
        self.new_tx()
        for meter_id in self.meters_of.get(household.address, []):
            owner, window, key = self.meters[meter_id]
            if window.removed_at == 0:
                self.community(MeterRevoked(meter_id, owner, self.time))
                self.meters[meter_id] = (owner, Window(window.admitted_at, self.time), key)
        self.community(HouseholdRemoved(household.address, self.time))
        self.members[household.address] = Window(
            self.members[household.address].admitted_at, self.time
        )

    # ------------------------------------------------------------ exchange

    def deposit(self, household: Household, amount: int) -> None:
        self.new_tx()
        self.transfer(household.address, EXCHANGE, amount)
        self.exchange(ExchangeDeposited(household.address, amount))

    def withdraw(self, household: Household, amount: int) -> None:
        self.new_tx()
        self.exchange(ExchangeWithdrawn(household.address, amount))
        self.transfer(EXCHANGE, household.address, amount)

    def post(
        self,
        items: list[tuple[Household, int, int, int, bytes]],
        at: int | None = None,
        lock_delta: int = 0,
    ) -> None:
        """Post (household, period, version, first interval offset, entries) in one call."""
        schedules = tuple(
            sign_raw(
                h.account,
                RawSchedule(h.address, p, v, GRID.first_interval(p) + offset, e, b""),
            )
            for h, p, v, offset, e in items
        )
        self.new_tx(at, PostCall(RELAYER, schedules))
        for schedule in schedules:
            self.exchange(
                SchedulePosted(
                    schedule.period_id,
                    schedule.household,
                    schedule.version,
                    schedule.first_interval_id,
                    struct_hash(
                        schedule.household,
                        schedule.period_id,
                        schedule.version,
                        schedule.first_interval_id,
                        schedule.entries,
                    ),
                    raw_lock(schedule.entries) + lock_delta,
                    schedule.entries,
                )
            )
            by_household = self.posted.setdefault(schedule.period_id, {})
            by_household.setdefault(schedule.household, []).append(schedule)

    def batch(
        self, meter: Meter, period_id: int, start: tuple[int, int], deltas: list[tuple[int, int]]
    ) -> SignedMeterPeriod:
        period = MeterPeriod(meter.meter_id, period_id, start[0], start[1], tuple(deltas))
        return sign_meter_period(meter.key, period, CHAIN_ID, EXCHANGE)

    def post_batches(self, batches: list[SignedMeterPeriod], at: int | None = None) -> None:
        raws = tuple(RawBatch(*signed.as_abi()) for signed in batches)
        self.new_tx(at, BatchCall(RELAYER, raws))
        for signed in batches:
            p = signed.period
            self.exchange(
                MeterBatchAccepted(p.meter_id, p.period_id, p.end_import_wh, p.end_export_wh)
            )
            self.posted_batches[(p.meter_id, p.period_id)] = signed

    def settle(
        self,
        period_id: int,
        batches: dict[bytes, SignedMeterPeriod],
        settler: str = RELAYER,
        at: int | None = None,
    ) -> None:
        """Settle with the real rule: posted batches used, `batches` inline, others none."""
        posted = self.posted.get(period_id, {})
        ordered = sorted(posted, key=lambda a: int(a, 16))
        raw_households = []
        inputs = []
        inline = []
        for address in ordered:
            postings = tuple(
                RawPosting(s.version, s.first_interval_id, s.entries) for s in posted[address]
            )
            data = []
            meters = []
            for meter_id in self.meters_of.get(address, []):
                _, window, _ = self.meters[meter_id]
                signed = self.posted_batches.get((meter_id, period_id))
                if signed is not None:
                    data.append(MeterData.posted(signed.period))
                elif meter_id in batches:
                    signed = batches[meter_id]
                    data.append(MeterData.inline(signed))
                    inline.append(signed)
                else:
                    data.append(MeterData.none())
                meters.append(RuleMeter(window, signed.period.deltas_bytes if signed else None))
            raw_households.append(RawHousehold(address, postings, tuple(data)))
            inputs.append(RuleHousehold(address, self.members[address], postings, tuple(meters)))
        rules = max((r for r in self.rules if r[0] <= period_id), key=lambda r: r[0])[1]
        outcome = settlement_rule(rules, GRID, period_id, inputs)
        self.new_tx(at, SettleCall(settler, period_id, tuple(raw_households), outcome.hints))
        for signed in inline:
            p = signed.period
            self.exchange(
                MeterBatchAccepted(p.meter_id, p.period_id, p.end_import_wh, p.end_export_wh)
            )
        packed = b"".join(
            i.price_per_kwh.to_bytes(8, "big")
            + i.traded_wh.to_bytes(4, "big")
            + i.delivered_wh.to_bytes(4, "big")
            for i in outcome.intervals
        )
        self.exchange(PeriodCleared(period_id, packed))
        for f in outcome.households:
            self.exchange(
                HouseholdSettled(
                    period_id,
                    f.address,
                    f.delivered_wh,
                    f.received_wh,
                    f.change_units,
                    f.released_units,
                )
            )
        self.exchange(
            PeriodSettled(
                period_id, len(outcome.households), outcome.delivered_wh, outcome.rounding_units
            )
        )

    def finish(self) -> History:
        history = self.history
        history.to_block = self.block
        history.last_block_time = self.time
        state = history.state
        state.rules_history = list(self.rules)
        state.memberships = dict(self.members)
        state.meters = {
            meter_id: MeterRecord(owner, window, key.x, key.y)
            for meter_id, (owner, window, key) in self.meters.items()
        }
        state.meters_of = {h: list(ids) for h, ids in self.meters_of.items()}
        resync(history)
        return history


def resync(history: History) -> History:
    """Recompute the money and rules views from the events (a contract consistent with
    what it emitted), after a test edited the events."""
    free: Counter[str] = Counter()
    locked: Counter[str] = Counter()
    for logged in history.exchange_events:
        e = logged.event
        if isinstance(e, ExchangeDeposited):
            free[e.household] += e.amount_units
        elif isinstance(e, ExchangeWithdrawn):
            free[e.household] -= e.amount_units
        elif isinstance(e, SchedulePosted):
            free[e.household] -= e.locked_units
            locked[e.household] += e.locked_units
        elif isinstance(e, HouseholdSettled):
            locked[e.household] -= e.released_units
            free[e.household] += e.released_units + e.change_units
        elif isinstance(e, PeriodSettled):
            free[history.calls[logged.tx_hash].sender] += e.rounding_units
    history.state.escrow = {h: (free[h], locked[h]) for h in set(free) | set(locked)}
    units = 0
    for logged in history.transfers:
        t = logged.event
        units += t.amount_units if t.receiver == EXCHANGE else 0
        units -= t.amount_units if t.sender == EXCHANGE else 0
    history.state.exchange_token_units = units
    history.state.rules_history = [
        (e.event.effective_from_period_id, e.event.rules)
        for e in history.community_events
        if isinstance(e.event, RulesScheduled)
    ]
    periods = {
        e.event.period_id
        for e in history.exchange_events
        if isinstance(e.event, SchedulePosted | PeriodSettled)
    }
    history.state.rules_at = {}
    for period_id in periods:
        effective = [r for p, r in history.state.rules_history if p <= period_id]
        if effective:
            history.state.rules_at[period_id] = effective[-1]
    return history


@dataclass
class Scenario:
    """The honest world's actors, for tests that plant a defect."""

    builder: Builder
    seller: Household
    buyer: Household
    idle: Household


Hook = Callable[[Scenario], None]


def honest(
    after_posting: Hook | None = None,
    before_settlement: Hook | None = None,
    after_settlement: Hook | None = None,
    omit_inline: tuple[str, ...] = (),
    settle: bool = True,
) -> History:
    """Period PERIOD traded and settled; hooks and knobs plant defects at build time.

    Seller S sells 1000 Wh at >= 100_000 in intervals 0-1; buyer B bids 200_000 for 600 Wh
    in interval 0 and, in version 2 from interval 1, 300_000 for 500 Wh; household C bids
    for 100 Wh in interval 2 where nobody sells. B's meter batch is posted, S's and C's are
    inline at settlement. `omit_inline` ("seller", "idle") leaves those meters without data.
    """
    b = Builder(GRID.period_start(PERIOD - 1))
    b.deploy()
    seller, buyer, idle = b.admit(), b.admit(), b.admit()
    world = Scenario(b, seller, buyer, idle)
    b.deposit(buyer, 1_000_000)
    b.deposit(seller, 10)
    b.deposit(idle, 100_000)
    b.schedule_rules(LATER_RULES)
    b.post(
        [
            (seller, PERIOD, 1, 0, entries(*[Entry(EntrySide.SELL, 1_000, 100_000)] * 2)),
            (buyer, PERIOD, 1, 0, entries(Entry(EntrySide.BUY, 600, 200_000))),
            (idle, PERIOD, 1, 0, entries(NO_ENTRY, NO_ENTRY, Entry(EntrySide.BUY, 100, 120_000))),
        ]
    )
    b.post([(buyer, PERIOD, 2, 1, entries(Entry(EntrySide.BUY, 500, 300_000)))])
    if after_posting is not None:
        after_posting(world)
    b.warp(GRID.period_end(PERIOD) + 5)
    start = (10_000, 20_000)
    b.post_batches([b.batch(buyer.meters[0], PERIOD, start, [(600, 0), (450, 0), (0, 0), (7, 1)])])
    inline = {
        "seller": b.batch(seller.meters[0], PERIOD, start, [(0, 900), (0, 700), (0, 0), (3, 0)]),
        "idle": b.batch(idle.meters[0], PERIOD, start, [(5, 0), (5, 0), (90, 0), (5, 0)]),
    }
    owners = {"seller": seller, "idle": idle}
    if before_settlement is not None:
        before_settlement(world)
    if settle:
        b.settle(
            PERIOD,
            {
                owners[name].meters[0].meter_id: signed
                for name, signed in inline.items()
                if name not in omit_inline
            },
        )
        b.withdraw(seller, 5)
    else:
        b.warp(GRID.settlement_deadline(PERIOD, RULES) + 10)
        b.new_tx()  # a later block: the deadline has passed at the last block
    if after_settlement is not None:
        after_settlement(world)
    return b.finish()


# ---------------------------------------------------------------- editing a history


def find(
    history: History, cls: type[Any], where: Callable[[Any], bool] = lambda e: True
) -> tuple[list[Logged[Any]], int]:
    """The list and index of the first logged event of `cls` satisfying `where`."""
    for target in (history.community_events, history.exchange_events, history.transfers):
        for index, logged in enumerate(target):
            if isinstance(logged.event, cls) and where(logged.event):
                return target, index
    raise LookupError(cls.__name__)


def edit(
    history: History, cls: type[Any], where: Callable[[Any], bool] = lambda e: True, **changes: Any
) -> Logged[Any]:
    """Replace fields of the first matching event (the chain a faulty contract wrote)."""
    target, index = find(history, cls, where)
    target[index] = replace(target[index], event=replace(target[index].event, **changes))
    return target[index]


def tx_of(history: History, cls: type[Any], where: Callable[[Any], bool] = lambda e: True) -> bytes:
    target, index = find(history, cls, where)
    return target[index].tx_hash

"""What every attack needs: one period of one community, the honest settler's input (postings
read back from the chain, hints from `api.settlement`), the chain state an attack must leave
unchanged, and the audit's verdict.

Hints are only ever built by `api.settlement.settle_period` (on the honest input, or on an
input the attacker tampered with): never by hand, so the tier follows the hint format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from eth_account import Account
from v2_support import Member, World

from api import settlement as engine
from api.audit_cli import settlement_rule
from ledger.audit import AuditReport, run_audit
from ledger.chain import Sender
from ledger.community import Window
from ledger.errors import ContractRevertError, revert_class
from ledger.exchange import (
    Escrow,
    HouseholdPeriod,
    MeterChainState,
    MeterData,
    MeterSource,
    ScheduleRecord,
    SettlePeriodResult,
)
from ledger.postings import read_postings
from ledger.rules import Rules
from ledger.schedules import Entry, Schedule, SignedSchedule, sign_schedule
from ledger.token import TokenClient
from metering.period import SignedMeterPeriod

FUNDS_UNITS = 10**9
#: Every meter's registers at the start of the attacked period.
START = (10_000, 20_000)


def engine_inputs(
    world: World,
    households: Sequence[HouseholdPeriod],
    windows: Mapping[str | bytes, Window] | None = None,
) -> list[engine.HouseholdInput]:
    """The engine's view of a settlement input, windows read from the community (or, for a
    settler who lies about them, from `windows`, by household address or meter id)."""
    chosen = windows or {}
    inputs = []
    for household in households:
        membership = chosen.get(household.household) or world.community.membership(
            household.household
        )
        meters = []
        for meter_id, data in zip(
            world.community.meters_of(household.household), household.meters, strict=True
        ):
            window = chosen.get(meter_id) or world.community.meter(meter_id).window
            meters.append(
                engine.MeterInput(
                    engine.Window(window.admitted_at, window.removed_at),
                    None if data.source is MeterSource.NONE else data.deltas,
                )
            )
        inputs.append(
            engine.HouseholdInput(
                household.household,
                engine.Window(membership.admitted_at, membership.removed_at),
                [engine.Posting(*posting.as_posting()) for posting in household.postings],
                meters,
            )
        )
    return inputs


def engine_outcome(
    world: World,
    period_id: int,
    households: Sequence[HouseholdPeriod],
    rules: Rules | None = None,
    windows: Mapping[str | bytes, Window] | None = None,
) -> engine.PeriodSettlement:
    """api.settlement's verdict (and hints) on a settlement input, under `rules` (default:
    the chain's rulesAt(period_id)) and the community's windows (or `windows`)."""
    chosen = world.community.rules_at(period_id) if rules is None else rules
    grid = world.grid
    return engine.settle_period(
        engine.Rules.of(chosen),
        engine.TimeGrid(grid.interval_seconds, grid.period_intervals),
        period_id,
        engine_inputs(world, households, windows),
    )


@dataclass(frozen=True)
class ChainState:
    """Everything an attack on period P could move; a refused attack leaves it equal."""

    block_number: int
    escrows: dict[str, Escrow]
    records: dict[str, ScheduleRecord]
    posting_households: int
    settled: bool
    meters: dict[bytes, tuple[MeterChainState, bytes]]
    exchange_tokens: int


@dataclass
class Period:
    """One period of `world` under attack: who takes part, what was posted and signed."""

    world: World
    period_id: int
    members: list[Member] = field(default_factory=list)
    batches: dict[bytes, SignedMeterPeriod] = field(default_factory=dict)
    posted_batches: set[bytes] = field(default_factory=set)

    @classmethod
    def open(cls, world: World, households: int = 0, funds_units: int = FUNDS_UNITS) -> Period:
        members = [world.member(funds_units=funds_units) for _ in range(households)]
        return cls(world, world.open_period(), members)

    def member(self, funds_units: int = 0, meters: int = 1) -> Member:
        """One more account of the period (a household, an outsider's escrow to watch)."""
        member = self.world.member(funds_units=funds_units, meters=meters)
        self.members.append(member)
        return member

    def outsider(self) -> Member:
        """An account the community never admitted: ether for gas, no escrow, no meter."""
        account = Account.create()
        w3 = self.world.manager.w3
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
        sender = Sender(w3, account)
        member = Member(
            account,
            sender,
            self.world.exchange.as_sender(sender),
            TokenClient(sender, self.world.token.address),
        )
        self.members.append(member)
        return member

    # ------------------------------------------------------------ the book

    def schedule(
        self, member: Member, entries: Sequence[Entry], offset: int = 0, version: int | None = None
    ) -> SignedSchedule:
        """`member`'s signed schedule from interval `offset` of the period (next version)."""
        if version is None:
            version = (
                self.world.exchange.schedule_record(member.address, self.period_id).last_version + 1
            )
        first = self.world.grid.first_interval(self.period_id) + offset
        schedule = Schedule(member.address, self.period_id, version, first, tuple(entries))
        return sign_schedule(
            member.account.key, schedule, self.world.chain_id, self.world.exchange.address
        )

    def post(
        self, member: Member, entries: Sequence[Entry], offset: int = 0, by: Member | None = None
    ) -> SignedSchedule:
        """Sign and post (by the manager's relayer account, or by `by`)."""
        signed = self.schedule(member, entries, offset)
        exchange = self.world.exchange if by is None else by.exchange
        exchange.post_schedules([signed])
        return signed

    # ------------------------------------------------------------ meters

    def sign(
        self,
        member: Member,
        deltas: Sequence[tuple[int, int]],
        meter: int = 0,
        start: tuple[int, int] = START,
    ) -> SignedMeterPeriod:
        signed = self.world.batch(member.meters[meter], self.period_id, start, list(deltas))
        self.batches[signed.period.meter_id] = signed
        return signed

    def post_batch(self, member: Member, meter: int = 0) -> None:
        signed = self.batches[member.meters[meter].meter_id]
        self.world.exchange.post_meter_batches([signed])
        self.posted_batches.add(signed.period.meter_id)

    def meter_data(self, meter_id: bytes) -> MeterData:
        """Posted if posted, inline if signed, else none."""
        signed = self.batches.get(meter_id)
        if signed is None:
            return MeterData.none()
        if meter_id in self.posted_batches:
            return MeterData.posted(signed.period)
        return MeterData.inline(signed)

    # ------------------------------------------------------------ settlement

    def households(self) -> list[HouseholdPeriod]:
        """The honest settler's input: the chain's postings (read from their events), by
        increasing address, each with one MeterData per entry of metersOf."""
        postings = read_postings(
            self.world.exchange, self.period_id, self.world.deployment.deploy_block
        )
        return [
            HouseholdPeriod(
                address,
                tuple(postings[address]),
                tuple(self.meter_data(m) for m in self.world.community.meters_of(address)),
            )
            for address in sorted(postings, key=lambda a: int(a, 16))
        ]

    def expected(
        self, households: Sequence[HouseholdPeriod] | None = None
    ) -> engine.PeriodSettlement:
        return engine_outcome(
            self.world, self.period_id, self.households() if households is None else households
        )

    def settle(
        self, settler: Member | None = None
    ) -> tuple[SettlePeriodResult, engine.PeriodSettlement]:
        """Settle honestly (as `settler`, default the manager) and check the contract's
        outcome is the engine's, field for field."""
        households = self.households()
        expected = self.expected(households)
        exchange = self.world.exchange if settler is None else settler.exchange
        result = exchange.settle_period(self.period_id, households, expected.hints)
        assert_parity(result, expected)
        return result, expected

    # ------------------------------------------------------------ what must not change

    def state(self, extra_meters: Iterable[bytes] = ()) -> ChainState:
        exchange = self.world.exchange
        meters = {m.meter_id for member in self.members for m in member.meters} | set(extra_meters)
        accounts = [m.address for m in self.members] + [self.world.manager.address]
        return ChainState(
            int(self.world.manager.w3.eth.block_number),
            {a: exchange.escrow_of(a) for a in accounts},
            {a: exchange.schedule_record(a, self.period_id) for a in accounts},
            exchange.posting_households(self.period_id),
            exchange.is_settled(self.period_id),
            {
                m: (exchange.meter_chain(m), exchange.posted_batch_hash(m, self.period_id))
                for m in sorted(meters)
            },
            self.world.token.balance_of(exchange.address),
        )

    def refused(self, error: str, attack: Callable[[], object]) -> ContractRevertError:
        """Run `attack`: it must revert with the custom error `error` and change nothing
        (no block mined, every escrow, record, meter chain and balance as before)."""
        before = self.state()
        with pytest.raises(revert_class(error)) as refusal:
            attack()
        assert self.state() == before
        return refusal.value

    def refuses_hints(self, households: Sequence[HouseholdPeriod], hints: bytes) -> bool:
        """Hints a settler built for another book, other rules or other households: unless
        they are the honest hints byte for byte (then they are harmless), settlePeriod
        refuses them with ExchangeBadHint, naming an interval of P (or the first after it),
        and nothing changes. Returns whether they differed (and so were refused).

        Format-agnostic on purpose: whatever the hints encode, the valid hints of a book are
        unique (IQuartierExchange, "Hints"), so any other bytes must be refused."""
        if hints == self.expected(households).hints:
            return False
        refusal = self.refused(
            "ExchangeBadHint",
            lambda: self.world.exchange.settle_period(self.period_id, households, hints),
        )
        grid = self.world.grid
        first = grid.first_interval(self.period_id)
        assert first <= refusal.arguments["intervalId"] <= first + grid.period_intervals
        return True

    def assert_conserved(self, settlers: Sequence[str] = ()) -> None:
        """Σ free + Σ locked over every escrow holder == the exchange's token balance."""
        exchange = self.world.exchange
        holders = {m.address for m in self.members} | {self.world.manager.address, *settlers}
        total = sum(e.free_units + e.locked_units for e in (exchange.escrow_of(a) for a in holders))
        assert total == self.world.token.balance_of(exchange.address)


def assert_parity(result: SettlePeriodResult, expected: engine.PeriodSettlement) -> None:
    """The contract's events are api.settlement's outcome."""
    assert result.cleared.intervals == expected.cleared_intervals
    chain = [
        (e.household.lower(), e.delivered_wh, e.received_wh, e.change_units, e.released_units)
        for e in result.households
    ]
    python = [
        (h.address.lower(), h.delivered_wh, h.received_wh, h.change_units, h.released_units)
        for h in expected.households
    ]
    assert chain == python
    assert result.settled.delivered_wh == expected.delivered_wh
    assert result.settled.rounding_units == expected.rounding_units


def audit(world: World) -> AuditReport:
    """The v2 audit of the whole community, from the chain alone."""
    return run_audit(world.manager.w3, world.deployment, settlement_rule)


def assert_audit_clean(world: World) -> AuditReport:
    report = audit(world)
    assert report.ok, [p.as_json() for p in report.problems]
    return report

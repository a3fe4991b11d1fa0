"""A protocol v2 community on a real Anvil node, for tests/integration/test_v2_*.py.

A short time grid (60-second intervals, 4 per period) keeps a whole period within a few
minutes of chain time; the clock only moves forward (`warp`), so every test deploys its own
contracts and works in periods after the current one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain import Sender
from ledger.community import CommunityClient
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment
from ledger.exchange import ExchangeClient
from ledger.rules import Mechanism, Rules, TimeGrid
from ledger.schedules import Entry, Schedule, SignedSchedule, sign_schedule
from ledger.token import TokenClient
from metering.period import MeterPeriod, SignedMeterPeriod, sign_meter_period
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


@dataclass
class Meter:
    key: ec.EllipticCurvePrivateKey
    meter_id: bytes
    public_key: PublicKey


@dataclass
class Member:
    account: LocalAccount
    sender: Sender
    exchange: ExchangeClient
    token: TokenClient
    meters: list[Meter] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class World:
    """One deployed v2 community and the manager who runs it."""

    manager: Sender
    deployment: Deployment
    grid: TimeGrid
    community: CommunityClient
    exchange: ExchangeClient
    token: TokenClient

    @classmethod
    def deploy(cls, manager: Sender, rules: Rules = RULES, grid: TimeGrid = GRID) -> World:
        deployment = deploy_community_v2(manager, rules=rules, grid=grid)
        return cls(
            manager,
            deployment,
            grid,
            CommunityClient(manager, deployment.address("QuartierCommunity")),
            ExchangeClient(manager, deployment.address("QuartierExchange")),
            TokenClient(manager, deployment.address("QuartierToken")),
        )

    @property
    def chain_id(self) -> int:
        return self.manager.chain_id

    def now(self) -> int:
        return int(self.manager.w3.eth.get_block("latest")["timestamp"])

    def warp(self, unix_seconds: int) -> None:
        """Mine a block at `unix_seconds` (if it is later than now)."""
        if unix_seconds > self.now():
            w3 = self.manager.w3
            w3.provider.make_request("evm_setNextBlockTimestamp", [unix_seconds])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def member(self, funds_units: int = 0, meters: int = 1) -> Member:
        """A new household admitted with `meters` fresh P-256 meters and funds deposited."""
        account = Account.create()
        w3 = self.manager.w3
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**20)])  # type: ignore[arg-type]
        sender = Sender(w3, account)
        member = Member(
            account,
            sender,
            self.exchange.as_sender(sender),
            TokenClient(sender, self.token.address),
        )
        self.community.admit_household(member.address)
        member.meters.extend(self.admit_meter(member) for _ in range(meters))
        if funds_units:
            self.token.mint(member.address, funds_units)
            member.token.approve(self.exchange.address, funds_units)
            member.exchange.deposit(funds_units)
        return member

    def admit_meter(self, member: Member) -> Meter:
        """A fresh P-256 meter admitted for `member` now."""
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = PublicKey.from_cryptography(key.public_key())
        admitted = self.community.admit_meter(member.address, public_key.x, public_key.y)
        assert admitted.meter_id == meter_id_of(public_key)
        return Meter(key, admitted.meter_id, public_key)

    def open_period(self) -> int:
        """A period whose every gate stays open for a whole period of chain time.

        The clock moves to the start of the next period, and the one after it is returned
        (schedules may be posted for the current period + 1).
        """
        upcoming = self.grid.period_at(self.now()) + 1
        self.warp(self.grid.period_start(upcoming))
        return upcoming + 1

    def schedule(
        self, member: Member, period_id: int, entries: list[Entry], version: int = 1
    ) -> SignedSchedule:
        first = self.grid.first_interval(period_id)
        schedule = Schedule(member.address, period_id, version, first, tuple(entries))
        return sign_schedule(member.account.key, schedule, self.chain_id, self.exchange.address)

    def batch(
        self, meter: Meter, period_id: int, start: tuple[int, int], deltas: list[tuple[int, int]]
    ) -> SignedMeterPeriod:
        period = MeterPeriod(meter.meter_id, period_id, start[0], start[1], tuple(deltas))
        return sign_meter_period(meter.key, period, self.chain_id, self.exchange.address)

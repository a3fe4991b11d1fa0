"""The audit on a real Anvil chain: an honest period audits clean (library and command),
and histories a real chain can hold give exactly the expected problems: a period left
unsettled past its deadline, tokens sent to the exchange outside a deposit; a meter admitted
late and a rules change audit clean, with what the contract did."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner
from v2_support import GRID, RULES, Member, Meter, World
from web3.contract import Contract

from api.audit_cli import audit as audit_command
from api.audit_cli import settlement_rule
from ledger.audit import AuditReport, RuleHousehold, RuleMeter, run_audit
from ledger.audit.history import RawPosting
from ledger.chain import Sender, encode_call
from ledger.compiler import compile_contracts
from ledger.deployment import save_deployment
from ledger.exchange import HouseholdPeriod, MeterData, SettlePeriodResult
from ledger.paths import CACHE_DIR
from ledger.rules import Mechanism
from ledger.schedules import NO_ENTRY, Entry, EntrySide, Schedule, sign_schedule
from metering.period import SignedMeterPeriod
from metering.reading import PublicKey

pytestmark = pytest.mark.integration

FUNDS_UNITS = 10**9
START = (10_000, 20_000)


@dataclass
class Trading:
    """One period of one deployed community: what was posted and signed, to settle it."""

    world: World
    period_id: int
    posted: dict[str, list[Schedule]] = field(default_factory=dict)
    batches: dict[bytes, SignedMeterPeriod] = field(default_factory=dict)
    posted_batches: set[bytes] = field(default_factory=set)

    def post(self, member: Member, first_offset: int, entries: list[Entry]) -> None:
        versions = self.posted.setdefault(member.address, [])
        first = GRID.first_interval(self.period_id) + first_offset
        schedule = Schedule(
            member.address, self.period_id, len(versions) + 1, first, tuple(entries)
        )
        signed = sign_schedule(
            member.account.key, schedule, self.world.chain_id, self.world.exchange.address
        )
        self.world.exchange.post_schedules([signed])
        versions.append(schedule)

    def sign(self, member: Member, deltas: list[tuple[int, int]], meter: int = 0) -> None:
        signed = self.world.batch(member.meters[meter], self.period_id, START, deltas)
        self.batches[signed.period.meter_id] = signed

    def post_batch(self, member: Member) -> None:
        signed = self.batches[member.meters[0].meter_id]
        self.world.exchange.post_meter_batches([signed])
        self.posted_batches.add(signed.period.meter_id)

    def settle(self, settler: Member) -> SettlePeriodResult:
        """Settle with the hints of api.settlement; meters posted, inline or none."""
        households, hints = self.settlement()
        return settler.exchange.settle_period(self.period_id, households, hints)

    def settlement(self) -> tuple[list[HouseholdPeriod], bytes]:
        """settlePeriod's households and the hints api.settlement gives for them."""
        community = self.world.community
        households, inputs = [], []
        for address in sorted(self.posted, key=lambda a: int(a, 16)):
            data, meters = [], []
            for meter_id in community.meters_of(address):
                signed = self.batches.get(meter_id)
                if signed is None:
                    data.append(MeterData.none())
                elif meter_id in self.posted_batches:
                    data.append(MeterData.posted(signed.period))
                else:
                    data.append(MeterData.inline(signed))
                deltas = signed.period.deltas_bytes if signed else None
                meters.append(RuleMeter(community.meter(meter_id).window, deltas))
            postings = tuple(self.posted[address])
            households.append(HouseholdPeriod(address, postings, tuple(data)))
            inputs.append(
                RuleHousehold(
                    address,
                    community.membership(address),
                    tuple(RawPosting(*s.as_posting()) for s in postings),
                    tuple(meters),
                )
            )
        rules = community.rules_at(self.period_id)
        outcome = settlement_rule(rules, GRID, self.period_id, inputs)
        return households, outcome.hints


def audit(world: World) -> AuditReport:
    return run_audit(world.manager.w3, world.deployment, settlement_rule)


def _trade(world: World, period_id: int | None = None) -> tuple[Trading, Member, Member, Member]:
    """Seller, buyer (two versions) and an idle bidder post for one period."""
    seller, buyer, idle = (world.member(funds_units=FUNDS_UNITS) for _ in range(3))
    trading = Trading(world, world.open_period() if period_id is None else period_id)
    trading.post(seller, 0, [Entry(EntrySide.SELL, 1_000, 100_000)] * 2)
    trading.post(buyer, 0, [Entry(EntrySide.BUY, 600, 200_000)])
    trading.post(buyer, 1, [Entry(EntrySide.BUY, 500, 300_000)])
    trading.post(idle, 0, [NO_ENTRY, NO_ENTRY, Entry(EntrySide.BUY, 100, 120_000)])
    return trading, seller, buyer, idle


def _meters(trading: Trading, seller: Member, buyer: Member, idle: Member) -> None:
    trading.world.warp(GRID.period_end(trading.period_id) + 1)
    trading.sign(seller, [(0, 900), (0, 700), (0, 0), (3, 0)])
    trading.sign(buyer, [(600, 0), (450, 0), (0, 0), (7, 1)])
    trading.sign(idle, [(5, 0), (5, 0), (90, 0), (5, 0)])
    trading.post_batch(buyer)


def _cli(tmp_path: Path, world: World, *args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    app.command()(audit_command)
    path = save_deployment(world.deployment, tmp_path)
    rpc = world.manager.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    result = CliRunner().invoke(app, ["--rpc", rpc, "--deployment", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_honest_period_audits_clean_and_agrees_with_the_contract(
    manager: Sender, tmp_path: Path
) -> None:
    world = World.deploy(manager)
    trading, seller, buyer, idle = _trade(world)
    _meters(trading, seller, buyer, idle)
    result = trading.settle(world.member())
    world.warp(GRID.period_end(trading.period_id) + 2 * RULES.settlement_deadline_seconds)

    report = audit(world)
    assert report.problems == ()
    (period,) = report.periods
    assert (period.households, period.postings, period.settled) == (3, 4, True)
    chain = result.cleared.cleared()
    assert [(i.price_per_kwh, i.traded_wh, i.delivered_wh) for i in period.intervals] == [
        (c.price_per_kwh, c.traded_wh, c.delivered_wh) for c in chain
    ]
    # By hand: 600 Wh at 150_000 and 450 of 500 Wh at 200_000 per kWh.
    assert [i.delivered_wh for i in period.intervals] == [600, 450, 0, 0]
    assert sorted(line.change_units for line in report.settlements) == [-180_000, 0, 180_000]
    assert (report.schedule_signatures, report.batch_signatures) == (4, 3)
    escrow = world.exchange.escrow_of(seller.address)
    assert report.escrow_units[seller.address] == (escrow.free_units, escrow.locked_units)

    code, out, err = _cli(tmp_path, world, "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["ok"] is True
    assert data["periods"][0]["delivered_wh"] == 1_050
    code, _, _ = _cli(tmp_path, world, "--html", str(tmp_path / "a.html"), "--csv", str(tmp_path))
    assert code == 0
    assert "OK: everything checks" in (tmp_path / "a.html").read_text()
    assert (tmp_path / "intervals.csv").read_text().count("\n") == 1 + GRID.period_intervals


def test_period_left_unsettled_past_its_deadline(manager: Sender, tmp_path: Path) -> None:
    world = World.deploy(manager)
    trading, *_ = _trade(world)
    deadline = GRID.settlement_deadline(trading.period_id, RULES)
    world.warp(deadline)
    assert audit(world).problems == ()  # at the deadline, not yet past it
    world.warp(deadline + 1)
    report = audit(world)
    assert report.kinds() == {"period_unsettled"}
    assert report.problems[0].period_id == trading.period_id
    code, out, err = _cli(tmp_path, world, "--json")
    assert (code, err) == (1, "")
    assert [p["kind"] for p in json.loads(out)["problems"]] == ["period_unsettled"]


def test_tokens_sent_to_the_exchange_outside_a_deposit(manager: Sender) -> None:
    world = World.deploy(manager)
    world.token.mint(manager.address, 5)
    world.token.transfer(world.exchange.address, 5)
    assert audit(world).kinds() == {"escrow_conservation"}


def test_a_meter_admitted_late_counts_only_from_its_first_whole_interval(
    manager: Sender,
) -> None:
    world = World.deploy(manager)
    seller = world.member(funds_units=FUNDS_UNITS, meters=0)
    buyer = world.member(funds_units=FUNDS_UNITS)
    trading = Trading(world, world.open_period())
    trading.post(seller, 0, [Entry(EntrySide.SELL, 500, 100_000)] * 4)
    trading.post(buyer, 0, [Entry(EntrySide.BUY, 500, 200_000)] * 4)
    # The seller's only meter is admitted inside interval 1: it counts from interval 2 on.
    first = GRID.first_interval(trading.period_id)
    world.warp(GRID.interval_start(first + 1) + 10)
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = PublicKey.from_cryptography(key.public_key())
    admitted = world.community.admit_meter(seller.address, public_key.x, public_key.y)
    seller.meters.append(Meter(key, admitted.meter_id, public_key))
    world.warp(GRID.period_end(trading.period_id) + 1)
    trading.sign(seller, [(0, 500)] * 4)
    trading.sign(buyer, [(500, 0)] * 4)
    result = trading.settle(world.member())
    report = audit(world)
    assert report.problems == ()
    assert [c.delivered_wh for c in result.cleared.cleared()] == [0, 0, 500, 500]
    assert [i.delivered_wh for i in report.periods[0].intervals] == [0, 0, 500, 500]


def test_a_rules_change_applies_from_its_period_and_audits_clean(manager: Sender) -> None:
    world = World.deploy(manager)
    changed = world.community.schedule_rules(replace(RULES, mechanism=Mechanism.PAY_AS_BID))
    effective = changed.effective_from_period_id
    world.warp(GRID.period_start(effective - 1))
    trading, seller, buyer, idle = _trade(world, effective)
    _meters(trading, seller, buyer, idle)
    trading.settle(world.member())
    report = audit(world)
    assert report.problems == ()
    (period,) = report.periods
    assert (period.period_id, period.mechanism) == (effective, "pay_as_bid")
    # Pay-as-bid: PeriodCleared carries price 0; the buyer pays its bids (600 * 200 + 450 * 300).
    assert [i.price_per_kwh for i in period.intervals] == [0, 0, 0, 0]
    assert min(line.change_units for line in report.settlements) == -(120_000 + 135_000)


def test_the_command_cannot_run_without_a_deployment_or_with_a_bad_range(
    manager: Sender, tmp_path: Path
) -> None:
    world = World.deploy(manager)
    app = typer.Typer()
    app.command()(audit_command)
    rpc = world.manager.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    missing = CliRunner().invoke(app, ["--rpc", rpc, "--deployment", str(tmp_path / "no.json")])
    assert missing.exit_code == 2
    assert missing.stderr.count("\n") == 1
    assert "not found" in missing.stderr
    code, _, err = _cli(tmp_path, world, "--to-block", str(world.deployment.deploy_block - 1))
    assert code == 2
    assert err.startswith("quartier audit: block range")
    # A deployment file naming another token than the exchange's own.
    contracts = {**world.deployment.contracts, "QuartierToken": world.community.address}
    wrong = save_deployment(replace(world.deployment, contracts=contracts), tmp_path / "wrong")
    other = CliRunner().invoke(app, ["--rpc", rpc, "--deployment", str(wrong)])
    assert other.exit_code == 2
    assert "the exchange uses" in other.stderr


_FORWARDER = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// Calls a target with given calldata: a transaction whose input is not the exchange's.
contract AuditForwarder {
    function forward(address target, bytes calldata data) external {
        (bool ok, bytes memory result) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }
}
"""


def _forwarder(manager: Sender) -> Contract:
    directory = CACHE_DIR / "test-v2-audit-forwarder"
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "AuditForwarder.sol"
    if not source.exists() or source.read_text() != _FORWARDER:
        source.write_text(_FORWARDER)
    built = compile_contracts((directory,))["AuditForwarder"]
    w3 = manager.w3
    receipt = manager.transact(
        w3.eth.contract(abi=built.abi, bytecode=built.bytecode).constructor()
    )
    return w3.eth.contract(address=receipt["contractAddress"], abi=built.abi)


def test_schedules_posted_through_another_contract_are_read_from_their_events(
    manager: Sender,
) -> None:
    world = World.deploy(manager)
    forwarder = _forwarder(manager)
    trading, seller, buyer, idle = _trade(world)
    late = Schedule(idle.address, trading.period_id, 2, GRID.first_interval(trading.period_id), ())
    signed = sign_schedule(idle.account.key, late, world.chain_id, world.exchange.address)
    data = encode_call(world.exchange.contract.functions.postSchedules([signed.as_abi()]))
    manager.transact(forwarder.functions.forward(world.exchange.address, data))
    trading.posted[idle.address].append(late)
    _meters(trading, seller, buyer, idle)
    trading.settle(world.member())
    report = audit(world)
    # SchedulePosted carries the entries: the posting is rebuilt and checked from its event
    # (the settlement re-supplied it); only its signature, in no calldata, is not re-checked.
    assert report.kinds() == set()
    assert report.schedule_signatures == 4


def test_a_settlement_through_another_contract_cannot_be_recomputed(manager: Sender) -> None:
    world = World.deploy(manager)
    forwarder = _forwarder(manager)
    trading, seller, buyer, idle = _trade(world)
    _meters(trading, seller, buyer, idle)
    households, hints = trading.settlement()
    settle = world.exchange.contract.functions.settlePeriod(
        trading.period_id, [h.as_abi() for h in households], hints
    )
    manager.transact(forwarder.functions.forward(world.exchange.address, encode_call(settle)))
    report = audit(world)
    assert report.kinds() == {"calldata_unavailable"}
    # Its events still count: the period is settled and the money replays.
    assert report.periods[0].settled


PRICE = st.integers(0, 400_000)
ENTRY = st.one_of(
    st.just(NO_ENTRY),
    st.builds(
        Entry, st.sampled_from([EntrySide.SELL, EntrySide.BUY]), st.integers(1, 2_000), PRICE
    ),
)


@dataclass(frozen=True)
class Planned:
    """One random household: its postings (first interval offset, entries), its meter's
    deltas, and where the meter's data comes from ("inline", "posted" or "none")."""

    postings: tuple[tuple[int, tuple[Entry, ...]], ...]
    deltas: tuple[tuple[int, int], ...]
    source: str


@st.composite
def random_periods(draw: st.DrawFn) -> tuple[Mechanism, list[Planned]]:
    mechanism = draw(st.sampled_from(list(Mechanism)))
    households = []
    for _ in range(draw(st.integers(2, 4))):
        postings = [(0, tuple(draw(st.lists(ENTRY, max_size=4))))]
        if draw(st.booleans()):
            offset = draw(st.integers(0, 3))
            postings.append((offset, tuple(draw(st.lists(ENTRY, max_size=4 - offset)))))
        pair = st.tuples(st.integers(0, 2_500), st.integers(0, 2_500))
        deltas = tuple(draw(st.lists(pair, min_size=4, max_size=4)))
        source = draw(st.sampled_from(["inline", "posted", "none"]))
        households.append(Planned(tuple(postings), deltas, source))
    return mechanism, households


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=random_periods())
def test_random_honest_periods_audit_clean(
    manager: Sender, plan: tuple[Mechanism, list[Planned]]
) -> None:
    """Any book, any mechanism, meters posted, inline or missing (settled past the deadline):
    the contract's settlement audits clean and the report carries the contract's figures."""
    mechanism, households = plan
    world = World.deploy(manager, rules=replace(RULES, mechanism=mechanism))
    members = [world.member(funds_units=FUNDS_UNITS) for _ in households]
    trading = Trading(world, world.open_period())
    for member, planned in zip(members, households, strict=True):
        for offset, entries in planned.postings:
            trading.post(member, offset, list(entries))
    world.warp(GRID.period_end(trading.period_id) + 1)
    if any(h.source == "none" for h in households):
        world.warp(GRID.settlement_deadline(trading.period_id, RULES))
    for member, planned in zip(members, households, strict=True):
        if planned.source != "none":
            trading.sign(member, list(planned.deltas))
        if planned.source == "posted":
            trading.post_batch(member)
    result = trading.settle(world.member())
    report = audit(world)
    assert report.problems == ()
    (period,) = report.periods
    assert period.mechanism == mechanism.name.lower()
    assert [(i.price_per_kwh, i.traded_wh, i.delivered_wh) for i in period.intervals] == [
        (c.price_per_kwh, c.traded_wh, c.delivered_wh) for c in result.cleared.cleared()
    ]
    assert period.rounding_units == result.settled.rounding_units

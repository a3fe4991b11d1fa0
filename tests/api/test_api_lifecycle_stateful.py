"""Stateful property: order → clear → read → settle through the API and worker, on Anvil.

Hypothesis drives a small community (two sellers, two buyers, one meter each) through random
orders and metered energy, interval after interval. After each interval settles:
  - the market still holds exactly the households' escrow (free + locked) — nothing created
    or destroyed; no escrow stays locked;
  - what sellers gained equals what buyers paid, equals the interval's paid units;
  - delivered energy never exceeds the traded volume;
and the API's budget check refuses exactly the buys the escrow cannot cover.
Depth follows the Hypothesis profile of tests/conftest.py (a tenth of its examples).
"""

from __future__ import annotations

import json

from conftest import Household, Meter, make_household, warp_chain
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlmodel import Session

from api.app import create_app
from api.ledger_gateway import LedgerGateway
from api.settings import Settings
from api.worker.models import IntervalRow, IntervalStatus
from api.worker.service import WorkerContext, run_pass
from ledger.chain import Sender
from ledger.deploy import deploy_community
from ledger.orders import lock_units
from ledger.registry import RegistryClient
from ledger.token import TokenClient
from metering.reading import INTERVAL_SECONDS

DEPOSIT_UNITS = 2_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Lifecycle(RuleBasedStateMachine):
    manager: Sender
    base_settings: Settings

    def __init__(self) -> None:
        super().__init__()
        self.community = deploy_community(self.manager)
        registry = RegistryClient(self.manager, self.community.address("CommunityRegistry"))
        self.clock = Clock(int(self.manager.w3.eth.get_block("latest")["timestamp"]))
        ledger = LedgerGateway(self.base_settings, self.community)
        app = create_app(self.base_settings, ledger=ledger, clock=self.clock)
        self.client = TestClient(app)
        self.engine = app.state.engine
        self.sellers = [make_household(self.manager, self.community, 0) for _ in range(2)]
        self.buyers = [
            make_household(self.manager, self.community, DEPOSIT_UNITS) for _ in range(2)
        ]
        self.meters: dict[str, Meter] = {}
        self.registers: dict[str, tuple[int, int, int]] = {}  # import, export, seq
        for household in self.sellers + self.buyers:
            meter = Meter(
                ec.generate_private_key(ec.SECP256R1()),
                self.community.chain_id,
                self.community.address("QuartierMarket"),
            )
            registry.admit_meter(household.address, meter.public.x, meter.public.y)
            self.meters[household.address] = meter
            self.registers[household.address] = (0, 0, 0)
        self.k = self.clock.now // INTERVAL_SECONDS + 1
        self.nonce = 0
        self.open_locks: dict[str, int] = {b.address: 0 for b in self.buyers}
        self.token = TokenClient(self.manager, self.community.address("QuartierToken"))
        self.context = WorkerContext(self.base_settings, self.engine, ledger, self.clock)

    def _escrow(self, household: Household) -> tuple[int, int]:
        escrow = household.market.escrow_of(household.address)
        return escrow.free_units, escrow.locked_units

    @rule(
        index=st.integers(0, 1),
        energy_wh=st.integers(1, 3_000),
        price=st.integers(0, 400),
    )
    def sell(self, index: int, energy_wh: int, price: int) -> None:
        self.nonce += 1
        order = self.sellers[index].order("sell", self.k, energy_wh, price, self.nonce)
        assert self.client.post("/orders", json=order).status_code == 201

    @rule(
        index=st.integers(0, 1),
        energy_wh=st.integers(1, 6_000),
        price=st.integers(0, 400),
    )
    def buy(self, index: int, energy_wh: int, price: int) -> None:
        buyer = self.buyers[index]
        self.nonce += 1
        need = lock_units([(energy_wh, price)])
        free, _ = self._escrow(buyer)
        response = self.client.post(
            "/orders", json=buyer.order("buy", self.k, energy_wh, price, self.nonce)
        )
        if self.open_locks[buyer.address] + need <= free:
            assert response.status_code == 201, response.text
            self.open_locks[buyer.address] += need
        else:
            assert response.status_code == 409
            assert response.json()["type"] == "urn:quartier:problem:insufficient-escrow"

    @rule(
        exported=st.lists(st.integers(0, 4_000), min_size=2, max_size=2),
        imported=st.lists(st.integers(0, 4_000), min_size=2, max_size=2),
        crossing=st.tuples(
            st.integers(0, 1),
            st.integers(1, 2_000),
            st.integers(0, 150),
            st.integers(0, 1),
            st.integers(1, 2_000),
            st.integers(150, 400),
        ),
    )
    def close_interval(
        self,
        exported: list[int],
        imported: list[int],
        crossing: tuple[int, int, int, int, int, int],
    ) -> None:
        # A crossing pair first, so most intervals trade whatever else the book holds.
        seller, sell_wh, ask, buyer, buy_wh, bid = crossing
        self.sell(seller, sell_wh, ask)
        self.buy(buyer, buy_wh, bid)
        k = self.k
        before = {h.address: sum(self._escrow(h)) for h in self.sellers + self.buyers}
        self.clock.now = (k + 1) * INTERVAL_SECONDS + 1
        warp_chain(self.manager, self.clock.now)
        deltas = {s.address: (0, e) for s, e in zip(self.sellers, exported, strict=True)}
        deltas |= {b.address: (i, 0) for b, i in zip(self.buyers, imported, strict=True)}
        for address, (d_import, d_export) in deltas.items():
            imp, exp, seq = self.registers[address]
            meter = self.meters[address]
            for interval_id, (a, b) in ((k - 1, (0, 0)), (k, (d_import, d_export))):
                imp, exp, seq = imp + a, exp + b, seq + 1
                reading = meter.reading(interval_id, imp, exp, seq)
                assert self.client.post("/readings", json=reading).status_code == 201
            self.registers[address] = (imp, exp, seq)
        run_pass(self.context)
        with Session(self.engine) as session:
            interval = session.get(IntervalRow, k)
        if interval is not None:  # None: no order at all in k
            assert interval.status in (IntervalStatus.SETTLED, IntervalStatus.EMPTY)
            if interval.status == IntervalStatus.SETTLED:
                trades = json.loads(interval.trades_json)
                assert interval.delivered_wh is not None
                assert interval.delivered_wh <= sum(t["energy_wh"] for t in trades)
                after = {h.address: sum(self._escrow(h)) for h in self.sellers + self.buyers}
                gained = sum(after[s.address] - before[s.address] for s in self.sellers)
                paid = sum(before[b.address] - after[b.address] for b in self.buyers)
                assert gained == paid == interval.paid_units
        self.open_locks = {b.address: 0 for b in self.buyers}
        self.k += 2  # the next book opens after this interval's readings

    @invariant()
    def money_is_conserved(self) -> None:
        held = self.token.balance_of(self.community.address("QuartierMarket"))
        escrow = [self._escrow(h) for h in self.sellers + self.buyers]
        assert held == sum(free + locked for free, locked in escrow) == 2 * DEPOSIT_UNITS
        assert all(locked == 0 for _, locked in escrow)


def test_order_clear_read_settle(manager: Sender, settings: Settings) -> None:
    Lifecycle.manager = manager
    Lifecycle.base_settings = settings
    profile = settings_for_depth()
    run_state_machine_as_test(Lifecycle, settings=profile)


def settings_for_depth() -> settings:
    """A tenth of the active profile's examples (each example deploys a community)."""
    active = settings()
    return settings(
        active,
        max_examples=max(3, active.max_examples // 10),
        stateful_step_count=10,
        deadline=None,
    )

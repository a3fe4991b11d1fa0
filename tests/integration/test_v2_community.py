"""QuartierCommunity (protocol v2) on a real Anvil node, through ledger.community."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from v2_support import GRID, RULES

from ledger.chain import Sender
from ledger.community import CommunityClient, Window
from ledger.deploy_v2 import deploy_community_contract
from ledger.errors import revert_class
from ledger.rules import Mechanism
from metering.reading import PublicKey, meter_id_of

pytestmark = pytest.mark.integration


@dataclass
class World:
    """The community contract alone (the exchange is not needed here)."""

    manager: Sender
    community: CommunityClient

    def now(self) -> int:
        return int(self.manager.w3.eth.get_block("latest")["timestamp"])

    def warp(self, unix_seconds: int) -> None:
        w3 = self.manager.w3
        w3.provider.make_request("evm_setNextBlockTimestamp", [unix_seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.fixture
def world(manager: Sender) -> World:
    address, _ = deploy_community_contract(manager, manager.address, RULES, GRID)
    return World(manager, CommunityClient(manager, address))


def _key() -> PublicKey:
    return PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256R1()).public_key())


def test_deployment_sets_grid_rules_and_manager(world: World, manager: Sender) -> None:
    community = world.community
    assert community.time_grid() == GRID
    assert community.rules_at(0) == RULES
    assert community.rules_at(2**64 - 1) == RULES
    assert community.rules_history() == [(0, RULES)]
    assert community.rule_change_delay_periods() == 2
    assert community.manager() == manager.address
    assert community.current_period() == GRID.period_at(world.now())


def test_membership_and_meters_carry_block_times(world: World) -> None:
    community = world.community
    household = Account.create().address
    admitted = community.admit_household(household)
    assert admitted.household == household
    assert admitted.admitted_at == world.now()
    assert community.membership(household) == Window(admitted.admitted_at, 0)

    keys = [_key(), _key()]
    meters = [community.admit_meter(household, k.x, k.y) for k in keys]
    assert [m.meter_id for m in meters] == [meter_id_of(k) for k in keys]
    assert community.meters_of(household) == [meter_id_of(k) for k in keys]
    assert community.meter_id_of(keys[0].x, keys[0].y) == meter_id_of(keys[0])
    info = community.meter(meters[0].meter_id)
    assert (info.household, info.public_key_x, info.public_key_y) == (
        household,
        keys[0].x,
        keys[0].y,
    )
    assert info.window == Window(meters[0].admitted_at, 0)

    world.warp(world.now() + 30)
    revoked = community.revoke_meter(meters[0].meter_id)
    assert revoked.revoked_at == world.now()
    assert community.meter(meters[0].meter_id).window.removed_at == revoked.revoked_at
    # Revoked meters stay listed: settlement must prove it was given all of them.
    assert community.meters_of(household) == [m.meter_id for m in meters]

    removed = community.remove_household(household)
    assert community.membership(household) == Window(admitted.admitted_at, removed.removed_at)
    # Removal revoked the remaining meter too.
    assert community.meter(meters[1].meter_id).window.removed_at == removed.removed_at


def test_rule_changes_take_effect_after_the_delay(world: World) -> None:
    community = world.community
    changed = replace(RULES, mechanism=Mechanism.PAY_AS_BID, price_ceiling_per_kwh=400_000)
    scheduled = community.schedule_rules(changed)
    current = community.current_period()
    assert scheduled.effective_from_period_id == current + 2
    assert scheduled.rules == changed
    assert community.rules_at(current + 1) == RULES
    assert community.rules_at(current + 2) == changed
    assert community.rules_history() == [(0, RULES), (current + 2, changed)]


def test_errors_come_back_named_with_their_facts(world: World) -> None:
    community = world.community
    household = Account.create().address
    admitted = community.admit_household(household)
    with pytest.raises(revert_class("CommunityAlreadyAdmitted")) as again:
        community.admit_household(household)
    assert again.value.arguments == {"household": household, "admittedAt": admitted.admitted_at}

    key = _key()
    with pytest.raises(revert_class("CommunityInvalidMeterKey")) as off_curve:
        community.admit_meter(household, key.x, key.y + 1)
    assert off_curve.value.arguments == {"publicKeyX": key.x, "publicKeyY": key.y + 1}
    outsider = Account.create().address
    with pytest.raises(revert_class("CommunityNotMember")):
        community.admit_meter(outsider, key.x, key.y)
    with pytest.raises(revert_class("CommunityUnknownMeter")):
        community.revoke_meter(bytes(32))
    with pytest.raises(revert_class("CommunityInvalidRules")) as bad:
        community.schedule_rules(
            replace(RULES, price_floor_per_kwh=RULES.price_ceiling_per_kwh + 1)
        )
    assert bad.value.arguments == {"reason": "price bounds"}


def test_only_the_manager_may_write(world: World, manager: Sender) -> None:
    outsider = Account.create()
    manager.w3.provider.make_request("anvil_setBalance", [outsider.address, hex(10**18)])  # type: ignore[arg-type]
    as_outsider = CommunityClient(Sender(manager.w3, outsider), world.community.address)
    with pytest.raises(revert_class("CommunityNotManager")) as refused:
        as_outsider.admit_household(outsider.address)
    assert refused.value.arguments == {"caller": outsider.address}
    assert world.community.membership(outsider.address) == Window(0, 0)

"""The member and meter registry on a real Anvil node, through ledger/."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_utils import keccak

from ledger.chain import Sender
from ledger.deployment import Deployment
from ledger.errors import ContractRevertError, revert_class
from ledger.registry import MeterStatus, RegistryClient

HOUSEHOLD = "0x000000000000000000000000000000000000bEEF"


def _meter_key() -> tuple[int, int]:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return numbers.x, numbers.y


@pytest.fixture
def registry(manager: Sender, community: Deployment) -> RegistryClient:
    return RegistryClient(manager, community.address("CommunityRegistry"))


def test_admit_household_and_meter(registry: RegistryClient) -> None:
    registry.admit_household(HOUSEHOLD)
    x, y = _meter_key()
    meter_id = registry.admit_meter(HOUSEHOLD, x, y)
    assert meter_id == keccak(x.to_bytes(32, "big") + y.to_bytes(32, "big"))
    info = registry.meter(meter_id)
    assert (info.household, info.status) == (HOUSEHOLD, MeterStatus.ACTIVE)
    assert (info.public_key_x, info.public_key_y) == (x, y)
    assert registry.is_member(HOUSEHOLD)


def test_revoke_then_remove(registry: RegistryClient) -> None:
    registry.admit_household(HOUSEHOLD)
    meter_id = registry.admit_meter(HOUSEHOLD, *_meter_key())
    with pytest.raises(revert_class("RegistryHouseholdHasActiveMeters")) as refused:
        registry.remove_household(HOUSEHOLD)
    assert refused.value.arguments == {"household": HOUSEHOLD, "activeMeters": 1}
    registry.revoke_meter(meter_id)
    assert registry.meter(meter_id).status is MeterStatus.REVOKED
    registry.remove_household(HOUSEHOLD)
    assert not registry.is_member(HOUSEHOLD)


def test_errors_come_back_named_with_their_facts(registry: RegistryClient) -> None:
    registry.admit_household(HOUSEHOLD)
    with pytest.raises(revert_class("RegistryAlreadyMember")) as again:
        registry.admit_household(HOUSEHOLD)
    assert again.value.arguments == {"household": HOUSEHOLD}
    assert "RegistryAlreadyMember(household=0x" in str(again.value)

    x, y = _meter_key()
    with pytest.raises(revert_class("RegistryInvalidMeterKey")) as off_curve:
        registry.admit_meter(HOUSEHOLD, x, y + 1)
    assert off_curve.value.arguments == {"publicKeyX": x, "publicKeyY": y + 1}

    unknown = bytes(32)
    with pytest.raises(revert_class("RegistryUnknownMeter")):
        registry.revoke_meter(unknown)


def test_only_the_manager_may_admit(manager: Sender, registry: RegistryClient) -> None:
    outsider = Account.create()
    manager.w3.provider.make_request("anvil_setBalance", [outsider.address, hex(10**18)])
    as_outsider = RegistryClient(Sender(manager.w3, outsider), registry.contract.address)
    with pytest.raises(ContractRevertError) as refused:
        as_outsider.admit_household(HOUSEHOLD)
    assert refused.value.name == "RegistryNotManager"
    assert refused.value.arguments == {"caller": outsider.address}
    assert not registry.is_member(HOUSEHOLD)

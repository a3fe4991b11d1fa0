"""Set up a neighbourhood on a chain: a community, its households and their meters.

Each household gets an Ethereum key (to sign orders) and a P-256 meter key (its meter signs
readings); the community manager admits both on-chain.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain import Sender
from ledger.deployment import Deployment
from ledger.registry import RegistryClient
from metering.keys import MeterIdentity


@dataclass(frozen=True)
class Household:
    """A demo household: its account and its meter."""

    name: str
    account: LocalAccount
    meter_key: ec.EllipticCurvePrivateKey
    meter: MeterIdentity


def make_households(count: int, seed: int) -> list[Household]:
    """`count` households with keys derived from `seed` (the same seed, the same neighbourhood)."""
    rng = random.Random(seed)
    households = []
    for index in range(count):
        account = Account.from_key(rng.randbytes(32))
        # P-256 private scalars must lie in [1, n-1]: derive one from the seed, reduce it.
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        scalar = 1 + int.from_bytes(rng.randbytes(32), "big") % (order - 1)
        meter_key = ec.derive_private_key(scalar, ec.SECP256R1())
        households.append(
            Household(f"household-{index + 1:03d}", account, meter_key, MeterIdentity.of(meter_key))
        )
    return households


def admit_households(
    manager: Sender, deployment: Deployment, households: list[Household]
) -> list[bytes]:
    """Admit every household and its meter on-chain; returns the meter ids the chain assigned."""
    registry = RegistryClient(manager, deployment.address("CommunityRegistry"))
    meter_ids = []
    for household in households:
        registry.admit_household(household.account.address)
        key = household.meter.public_key
        meter_ids.append(registry.admit_meter(household.account.address, key.x, key.y))
    return meter_ids

"""Set up a neighbourhood on a chain: a community, its households and their meters.

Each household gets an Ethereum key (to sign orders) and a P-256 meter key (its meter signs
readings); the community manager admits both on-chain and mints each household its starting
credits, which the household deposits into the market's escrow.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import Wei

from ledger.chain import Sender
from ledger.deployment import Deployment
from ledger.market import MarketClient
from ledger.registry import RegistryClient
from ledger.token import TokenClient
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


#: Gas money for a household's approve + deposit (Anvil's dev accounts hold 10,000 ETH).
GAS_MONEY_WEI = 10**18


def fund_households(
    manager: Sender,
    deployment: Deployment,
    households: list[Household],
    minted_units: int,
    deposit_units: int,
) -> None:
    """Mint `minted_units` to each household, which approves and deposits `deposit_units`.

    Households pay their own gas: the manager first sends each of them some ether, as the
    community's onboarding would.
    """
    token = TokenClient(manager, deployment.address("QuartierToken"))
    market_address = deployment.address("QuartierMarket")
    for household in households:
        manager.send_signed(
            {
                "to": household.account.address,
                "value": Wei(GAS_MONEY_WEI),
                "gas": 21_000,
                "gasPrice": manager.w3.eth.gas_price,
                "nonce": manager.w3.eth.get_transaction_count(manager.account.address, "pending"),
                "chainId": deployment.chain_id,
            }
        )
        token.mint(household.account.address, minted_units)
        sender = Sender(manager.w3, household.account)
        TokenClient(sender, token.address).approve(market_address, deposit_units)
        MarketClient(sender, market_address, deployment.deploy_block).deposit(deposit_units)

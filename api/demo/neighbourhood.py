"""Set up a neighbourhood on a v2 community: its households, their meters, the relayer.

Each household gets an Ethereum key (to sign schedules) and a P-256 meter key (its meter signs
period batches); the community manager admits both on QuartierCommunity and mints each
household its starting credits, which the household deposits into QuartierExchange's escrow.
The relayer (posts schedules, settles periods) gets gas money. Everything is pre-signed and
sent in bulk: onboarding is not part of the trading day's gas.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.types import Nonce, TxParams, Wei

from api.demo.errors import DemoError
from api.economics.tariff import Member
from ledger.chain import Sender, encode_call
from ledger.compiler import artifact
from ledger.deployment import Deployment
from metering.keys import MeterIdentity


@dataclass(frozen=True)
class Household:
    """A demo household: its account (signs schedules) and its meter (signs batches)."""

    name: str
    account: LocalAccount
    meter_key: ec.EllipticCurvePrivateKey
    meter: MeterIdentity


def make_relayer_account(seed: int) -> LocalAccount:
    """The service's relayer key, derived from the seed (never a household's)."""
    account: LocalAccount = Account.from_key(random.Random(f"relayer:{seed}").randbytes(32))
    return account


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


#: The demo's tariff region (the simulated site is in Wallonia) and its members' DSO: a
#: Walloon energy community shares inside one DSO's network.
REGION = "wallonia"
TIMEZONE = ZoneInfo("Europe/Brussels")
DSO = "ORES"
#: Contracts drawn per household (weights in percent). assumed: about half of Walloon homes
#: keep a single-rate meter, most of the rest bi-hourly; the optional Impact tariff (2026)
#: is for the few with shiftable loads. Injection: variable offers dominate.
SUPPLY_WEIGHTS = {"variable-single": 55, "variable-day-night": 40, "variable-impact": 5}
INJECTION_WEIGHTS = {"variable-monthly": 70, "fixed": 30}


def member_contracts(count: int, seed: int) -> tuple[Member, ...]:
    """What each of `count` households signed with its supplier (the same seed, the same)."""
    rng = random.Random(f"contracts:{seed}")
    supplies = rng.choices(list(SUPPLY_WEIGHTS), weights=list(SUPPLY_WEIGHTS.values()), k=count)
    injections = rng.choices(
        list(INJECTION_WEIGHTS), weights=list(INJECTION_WEIGHTS.values()), k=count
    )
    return tuple(Member(DSO, s, i) for s, i in zip(supplies, injections, strict=True))


#: Gas money for a household's approve + deposit (Anvil's dev accounts hold 10,000 ETH).
GAS_MONEY_WEI = 10**18
#: The relayer pays for every posting and settlement of the day.
RELAYER_GAS_MONEY_WEI = 100 * 10**18
#: Gas limit of each onboarding transaction (only the gas used is paid).
ONBOARDING_GAS = 400_000
#: Fee cap, far above Anvil's base fee.
MAX_FEE_PER_GAS_WEI = 100 * 10**9


def _transaction(nonce: int, chain_id: int, to: str, data: bytes = b"", value: int = 0) -> TxParams:
    return {
        "to": Web3.to_checksum_address(to),
        "data": HexStr("0x" + data.hex()),
        "value": Wei(value),
        "gas": ONBOARDING_GAS,
        "maxFeePerGas": Wei(MAX_FEE_PER_GAS_WEI),
        "maxPriorityFeePerGas": Wei(0),
        "nonce": Nonce(nonce),
        "chainId": chain_id,
        "type": 2,
    }


def _send_all(w3: Web3, signed: list[tuple[str, Sender, TxParams]]) -> None:
    """Send pre-signed transactions back to back, then check every receipt.

    One at a time with a receipt each is ~100 transactions/s on Anvil; pre-signed and sent in
    bulk, ~330/s (TOOLCHAIN.md). Each sender's nonces are consecutive, so order holds.
    """
    hashes = []
    for what, sender, transaction in signed:
        raw = sender.account.sign_transaction(transaction).raw_transaction  # type: ignore[arg-type]
        hashes.append((what, w3.eth.send_raw_transaction(raw)))
    for what, tx_hash in hashes:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
        if receipt["status"] != 1:
            raise DemoError(f"onboarding failed: {what} reverted (gas used {receipt['gasUsed']})")


def onboard_households(
    manager: Sender,
    deployment: Deployment,
    households: list[Household],
    minted_units: int,
    deposit_units: int,
    relayer: str,
) -> None:
    """Admit every household and its meter, give it gas money and `minted_units` credits;
    each household then approves the exchange and deposits `deposit_units` into escrow.
    The relayer gets gas money too.

    The manager's transactions come first (admission before funding), then the households'.
    Nonces are the accounts' pending ones, so a node that has seen these keys before (the
    same seed on `--rpc`) onboards them again in a new community.
    """
    w3, chain_id = manager.w3, deployment.chain_id
    community = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("QuartierCommunity")),
        abi=artifact("QuartierCommunity").abi,
    )
    token = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("QuartierToken")),
        abi=artifact("QuartierToken").abi,
    )
    exchange = w3.eth.contract(
        address=Web3.to_checksum_address(deployment.address("QuartierExchange")),
        abi=artifact("QuartierExchange").abi,
    )
    nonce = int(w3.eth.get_transaction_count(manager.account.address, "pending"))
    by_manager: list[tuple[str, Sender, TxParams]] = []
    for household in households:
        address, key = household.account.address, household.meter.public_key
        calls = [
            ("admitHousehold", community, community.functions.admitHousehold(address)),
            ("admitMeter", community, community.functions.admitMeter(address, key.x, key.y)),
            ("mint", token, token.functions.mint(address, minted_units)),
        ]
        for what, contract, call in calls:
            transaction = _transaction(nonce, chain_id, contract.address, encode_call(call))
            by_manager.append((f"{what} of {household.name}", manager, transaction))
            nonce += 1
        gas_money = _transaction(nonce, chain_id, address, value=GAS_MONEY_WEI)
        by_manager.append((f"gas money of {household.name}", manager, gas_money))
        nonce += 1
    relayer_money = _transaction(nonce, chain_id, relayer, value=RELAYER_GAS_MONEY_WEI)
    by_manager.append(("gas money of the relayer", manager, relayer_money))
    _send_all(w3, by_manager)
    approve = encode_call(token.functions.approve(exchange.address, deposit_units))
    deposit = encode_call(exchange.functions.deposit(deposit_units))
    by_households: list[tuple[str, Sender, TxParams]] = []
    for household in households:
        sender = Sender(w3, household.account)
        first = int(w3.eth.get_transaction_count(household.account.address, "pending"))
        approving = _transaction(first, chain_id, token.address, approve)
        depositing = _transaction(first + 1, chain_id, exchange.address, deposit)
        by_households.append((f"approve by {household.name}", sender, approving))
        by_households.append((f"deposit by {household.name}", sender, depositing))
    _send_all(w3, by_households)

"""Accounts for local development.

Anvil's first account is funded on every fresh node; its key is public (Anvil prints it at
start) and is only ever used on chain id 31337.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.errors import LedgerError

ANVIL_CHAIN_ID = 31337
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def account_from_key(private_key: str) -> LocalAccount:
    """A signing account from a hex private key; a malformed key raises LedgerError."""
    try:
        account: LocalAccount = Account.from_key(private_key.strip())
    except (ValueError, TypeError) as error:
        raise LedgerError("the private key is not a 32-byte hex string") from error
    return account


def default_deployer(chain_id: int, private_key: str | None) -> LocalAccount:
    """The given key, or Anvil's public development key on a local Anvil chain."""
    if private_key:
        return account_from_key(private_key)
    if chain_id != ANVIL_CHAIN_ID:
        raise LedgerError(
            f"chain {chain_id} is not a local Anvil: give a deployer key (QUARTIER_DEPLOYER_KEY)"
        )
    return account_from_key(ANVIL_DEV_KEY)

"""The key that signs a manager's transactions.

On a local Anvil (chain 31337) it defaults to Anvil's public development key; elsewhere it is
an encrypted JSON keystore (eth-account's format, as geth and MetaMask export it), whose
password comes from QUARTIER_KEYSTORE_PASSWORD or, when that is unset, from `ask`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.accounts import ANVIL_CHAIN_ID, ANVIL_DEV_KEY, account_from_key
from ledger.community_config.errors import SignerError

PASSWORD_VARIABLE = "QUARTIER_KEYSTORE_PASSWORD"
#: Anvil's public development mnemonic: account i is m/44'/60'/0'/0/i (0 is ANVIL_DEV_KEY).
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_account(chain_id: int, index: int) -> LocalAccount:
    """Anvil's public development account `index` (chain 31337 only)."""
    if chain_id != ANVIL_CHAIN_ID:
        raise SignerError(f"chain {chain_id} is not a local Anvil: give --key KEYSTORE")
    if not 0 <= index <= 9:
        raise SignerError(f"Anvil funds development accounts 0-9, not {index}")
    Account.enable_unaudited_hdwallet_features()
    account: LocalAccount = Account.from_mnemonic(
        ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


def load_signer(chain_id: int, keystore: Path | None, ask: Callable[[], str]) -> LocalAccount:
    """The keystore's account, or Anvil's dev key on chain 31337 when no keystore is given."""
    if keystore is None:
        if chain_id != ANVIL_CHAIN_ID:
            raise SignerError(
                f"chain {chain_id} is not a local Anvil: give --key KEYSTORE (encrypted JSON)"
            )
        return account_from_key(ANVIL_DEV_KEY)
    try:
        encrypted = json.loads(keystore.read_text())
    except (OSError, ValueError) as error:
        raise SignerError(f"keystore {keystore} is unreadable ({error})") from None
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None:
        password = ask()
    try:
        private_key = Account.decrypt(encrypted, password)
    except (ValueError, KeyError, TypeError) as error:
        raise SignerError(f"keystore {keystore}: {error}") from None
    return account_from_key("0x" + bytes(private_key).hex())

"""The manager's key: Anvil's dev key on 31337 only; a keystore elsewhere, never a guess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from ledger.accounts import ANVIL_DEV_KEY, account_from_key
from ledger.community_config.errors import SignerError
from ledger.community_config.keys import PASSWORD_VARIABLE, anvil_account, load_signer


def never_asked() -> str:
    raise AssertionError("the password was asked although the variable is set")


def test_anvil_dev_key_only_on_anvil() -> None:
    assert load_signer(31337, None, never_asked).address == account_from_key(ANVIL_DEV_KEY).address
    with pytest.raises(SignerError, match="--key KEYSTORE"):
        load_signer(1, None, never_asked)
    with pytest.raises(SignerError):
        anvil_account(100, 1)


def test_keystore_password_from_the_variable_then_the_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = Account.create()
    keystore = tmp_path / "key.json"
    # A cheap KDF keeps the test fast; the format is the one wallets write with scrypt.
    keystore.write_text(
        json.dumps(Account.encrypt(account.key, "s3cret", kdf="pbkdf2", iterations=1000))
    )
    monkeypatch.setenv(PASSWORD_VARIABLE, "s3cret")
    assert load_signer(100, keystore, never_asked).address == account.address
    monkeypatch.delenv(PASSWORD_VARIABLE)
    assert load_signer(100, keystore, lambda: "s3cret").address == account.address
    with pytest.raises(SignerError, match=str(keystore)):
        load_signer(100, keystore, lambda: "wrong")

"""ledger.signatures: the contracts' rule for household signatures, on the vectors that used
to pass the API and then stall a commit (v = 0/1, v >= 35, the high-s twin, r = 0, s = 0,
a 64-byte compact form)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_keys.main import KeyAPI
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger.signatures import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    HouseholdSignature,
    SignatureRuleError,
    check_signature,
    check_vrs,
    recover_address,
)

KEY = "0x" + "11" * 32


def _signed() -> HouseholdSignature:
    signed = Account.sign_message(encode_defunct(text="quartier"), private_key=KEY)
    return HouseholdSignature(int(signed.v), int(signed.r), int(signed.s))


def _twin(signature: HouseholdSignature) -> HouseholdSignature:
    # (r, n - s) with the other parity recovers the same key: valid for ecrecover alone.
    return HouseholdSignature(55 - signature.v, signature.r, SECP256K1_N - signature.s)


def _recovers(signature: HouseholdSignature) -> str:
    message = encode_defunct(text="quartier")
    return str(Account.recover_message(message, vrs=(signature.v, signature.r, signature.s)))


def test_a_wallet_signature_passes_in_both_forms() -> None:
    signature = _signed()
    assert check_signature(signature.to_bytes()) == signature
    assert check_vrs(signature.v, signature.r, signature.s) == signature


def test_the_high_s_twin_recovers_the_same_key_but_is_refused() -> None:
    signature = _signed()
    twin = _twin(signature)
    assert _recovers(twin) == _recovers(signature)  # why the rule matters
    with pytest.raises(SignatureRuleError) as refused:
        check_signature(twin.to_bytes())
    assert refused.value.reason == "high-s"


@pytest.mark.parametrize(
    ("v", "reason"), [(0, "v"), (1, "v"), (26, "v"), (29, "v"), (35, "v"), (36, "v"), (255, "v")]
)
def test_v_outside_27_28_is_refused(v: int, reason: str) -> None:
    signature = _signed()
    with pytest.raises(SignatureRuleError) as refused:
        check_vrs(v, signature.r, signature.s)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("r", "s", "reason"),
    [
        (0, 1, "r"),
        (SECP256K1_N, 1, "r"),
        (2**256 - 1, 1, "r"),
        (1, 0, "s"),
        (1, SECP256K1_HALF_N + 1, "high-s"),
        (1, SECP256K1_N - 1, "high-s"),
    ],
)
def test_r_and_s_bounds(r: int, s: int, reason: str) -> None:
    with pytest.raises(SignatureRuleError) as refused:
        check_signature(HouseholdSignature(27, r, s).to_bytes())
    assert refused.value.reason == reason


def test_the_bounds_themselves_pass() -> None:
    assert check_vrs(28, SECP256K1_N - 1, SECP256K1_HALF_N).s == SECP256K1_HALF_N
    assert check_vrs(27, 1, 1).r == 1


@pytest.mark.parametrize("length", [0, 64, 66, 130])
def test_only_65_bytes(length: int) -> None:
    signature = _signed().to_bytes()
    # 64 bytes is the EIP-2098 compact form r || vs, which the contracts do not take.
    candidate = (signature * 3)[:length]
    with pytest.raises(SignatureRuleError) as refused:
        check_signature(candidate)
    assert refused.value.reason == "length"


@given(
    key=st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big")),
    digest=st.binary(min_size=32, max_size=32),
)
def test_recover_address_is_what_eth_account_recovers(key: bytes, digest: bytes) -> None:
    signed = Account.unsafe_sign_hash(digest, key)
    form = check_signature(bytes(signed.signature))
    assert recover_address(digest, form) == to_canonical_address(Account.from_key(key).address)
    # Another digest under the same signature recovers some other key, never this one.
    other = bytes([digest[0] ^ 1]) + digest[1:]
    assert recover_address(other, form) != to_canonical_address(Account.from_key(key).address)


def test_no_key_recovers_from_an_r_that_is_no_point() -> None:
    digest = keccak(text="quartier")
    # r = 5: 5^3 + 7 = 132 is no square mod p, so no point has x = 5 (ecrecover answers 0).
    signature = HouseholdSignature(27, 5, 1)
    assert recover_address(digest, signature) is None
    with pytest.raises(BadSignature):
        KeyAPI().Signature(vrs=(0, 5, 1)).recover_public_key_from_msg_hash(digest)

"""ledger.signatures' refusals name the broken rule in words a caller can act on (the intake
returns them as a problem's detail): the exact reason and message per rule, and the
SignatureRuleError's text is its detail. Written against the survivors of scripts/mutation
(issue 17)."""

from __future__ import annotations

import pytest

from ledger.signatures import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    SignatureRuleError,
    check_signature,
    check_vrs,
)


@pytest.mark.parametrize(
    ("v", "r", "s", "reason", "detail"),
    [
        (29, 1, 1, "v", "v must be 27 or 28, got 29"),
        (0, 1, 1, "v", "v must be 27 or 28, got 0"),
        (27, 0, 1, "r", "r must be in 1..n-1"),
        (28, SECP256K1_N, 1, "r", "r must be in 1..n-1"),
        (27, 1, 0, "s", "s must not be 0"),
        (27, 1, SECP256K1_HALF_N + 1, "high-s", "s must be at most n/2 (use the low-s twin)"),
    ],
)
def test_each_refusal_names_its_rule_and_says_why(
    v: int, r: int, s: int, reason: str, detail: str
) -> None:
    with pytest.raises(SignatureRuleError) as refused:
        check_vrs(v, r, s)
    assert refused.value.reason == reason
    assert str(refused.value) == detail


def test_a_wrong_length_is_refused_with_the_length_it_had() -> None:
    with pytest.raises(SignatureRuleError) as refused:
        check_signature(b"\x01" * 64)
    assert refused.value.reason == "length"
    assert str(refused.value) == "a signature is 65 bytes r||s||v, got 64"


def test_the_bounds_themselves_are_accepted() -> None:
    signature = check_vrs(28, SECP256K1_N - 1, SECP256K1_HALF_N)
    assert (signature.v, signature.r, signature.s) == (28, SECP256K1_N - 1, SECP256K1_HALF_N)
    assert check_signature(signature.to_bytes()) == signature

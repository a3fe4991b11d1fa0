"""The one rule for household (secp256k1) signatures: exactly what the contracts accept.

Households sign with Ethereum keys; the contracts verify with OpenZeppelin's ECDSA (v2) or
the same guards around `ecrecover` (v1 `QuartierMarket._recover`). A signature is accepted
iff it is

- 65 bytes r ‖ s ‖ v (OpenZeppelin 5 no longer takes the 64-byte compact form in `recover`),
- v in {27, 28} (ecrecover answers address(0) for 0/1 or EIP-155 values >= 35),
- 0 < r < n (ecrecover refuses r = 0 and r >= n),
- 0 < s <= n / 2 (the low-s rule, `ECDSAInvalidSignatureS`: of the twins (r, s) and
  (r, n - s) that recover the same key, only the low one counts, so a signature cannot be
  changed into another valid one; ecrecover refuses s = 0).

Whoever accepts a household signature off-chain checks it here first, so the service never
acknowledges what the chain would refuse (and a refused order can no longer stall a commit).
Whether it recovers the expected address is the caller's second check: `recover_address`
(libsecp256k1 through coincurve, as eth-keys itself does, without its wrappers: ~0.1 ms of a
schedule intake's CPU instead of ~0.4 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PublicKey
from eth_utils.crypto import keccak

from ledger.errors import LedgerError

#: Order of the secp256k1 group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: The largest s accepted (OpenZeppelin ECDSA's bound, n // 2).
SECP256K1_HALF_N = SECP256K1_N // 2
SIGNATURE_BYTES = 65


class SignatureRuleError(LedgerError):
    """A household signature the contracts would refuse; `reason` names the broken rule."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class HouseholdSignature:
    """A canonical secp256k1 signature, as the contracts take it."""

    v: int
    r: int
    s: int

    def to_bytes(self) -> bytes:
        """The 65-byte r ‖ s ‖ v form."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.v])


def check_vrs(v: int, r: int, s: int) -> HouseholdSignature:
    """The signature (v, r, s) if the contracts accept its form, else SignatureRuleError."""
    if v not in (27, 28):
        raise SignatureRuleError("v", f"v must be 27 or 28, got {v}")
    if not 0 < r < SECP256K1_N:
        raise SignatureRuleError("r", "r must be in 1..n-1")
    if s == 0:
        raise SignatureRuleError("s", "s must not be 0")
    if not 0 < s <= SECP256K1_HALF_N:
        raise SignatureRuleError("high-s", "s must be at most n/2 (use the low-s twin)")
    return HouseholdSignature(v, r, s)


def check_signature(signature: bytes) -> HouseholdSignature:
    """A 65-byte r ‖ s ‖ v signature if the contracts accept its form, else
    SignatureRuleError."""
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureRuleError(
            "length", f"a signature is {SIGNATURE_BYTES} bytes r||s||v, got {len(signature)}"
        )
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    return check_vrs(signature[64], r, s)


def recover_address(digest: bytes, signature: HouseholdSignature) -> bytes | None:
    """The 20-byte address whose key made `signature` over the 32-byte `digest` (what
    `ecrecover` answers), or None when no key recovers (ecrecover's address(0)).

    The form rules are `check_signature`'s (a HouseholdSignature has passed them): recovery
    itself takes the high-s twin too, which is why the form is checked first.
    """
    r, s = signature.r.to_bytes(32, "big"), signature.s.to_bytes(32, "big")
    recoverable = r + s + bytes([signature.v - 27])  # libsecp256k1's recovery id: 0 or 1
    try:
        public_key = PublicKey.from_signature_and_message(recoverable, digest, hasher=None)
    except ValueError:
        return None
    return keccak(public_key.format(compressed=False)[1:])[12:]

"""Meters' signatures: THE P-256 rule and the EIP-712 domain every meter message is signed in.

One rule for every meter message (per-interval readings, period batches): the digest is
signed as a *prehashed* 32-byte message (P256VERIFY and OpenZeppelin's `P256.verify` take it
as-is), and a signature is (r, s) with 0 < r < n and 0 < s <= n/2 (low s). The signer
normalises s to its low form; the verifier refuses the high-s twin, as OpenZeppelin's P256
(which QuartierExchange uses) does, so a signature the Python side accepts is one the chain
accepts and the reverse.

The domain is protocol v2's: EIP712Domain("Quartier", "2", chainId, QuartierExchange).

Kept light (cryptography, eth_abi, eth_utils): `ledger` imports it through its value types.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from eth_abi.abi import encode as abi_encode
from eth_utils.address import is_address, to_canonical_address
from eth_utils.crypto import keccak

from metering.errors import ReadingFormatError

DOMAIN_NAME = "Quartier"
#: Protocol v2's EIP-712 domain version (schedules, meter batches, per-interval readings).
DOMAIN_VERSION = "2"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
DOMAIN_TYPEHASH = keccak(text=DOMAIN_TYPE)

#: Order of the P-256 group: r and s must lie in [1, n-1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: The largest s OpenZeppelin's P256 accepts (floor(n / 2); n is odd).
P256_HALF_ORDER = P256_ORDER // 2

# The digest is already a 32-byte hash: Prehashed(SHA256) only tells `cryptography` its length.
_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


def _address_bytes(address: str | bytes) -> bytes:
    if isinstance(address, bytes):
        if len(address) != 20:
            raise ReadingFormatError("a verifying contract address must be 20 bytes")
        return address
    if not is_address(address):
        raise ReadingFormatError(f"not an Ethereum address: {address!r}")
    return bytes(to_canonical_address(address))


# A service verifies every message under one domain: recomputing the separator (three keccaks
# and an ABI encoding) was a quarter of the per-reading cost. Errors are not cached.
@lru_cache(maxsize=64, typed=True)
def domain_separator(chain_id: int, verifying_contract: str | bytes) -> bytes:
    """The EIP-712 domain separator of ("Quartier", "2", chain_id, verifying_contract).

    `verifying_contract` is the community's QuartierExchange address.
    """
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or not 0 <= chain_id < 2**256:
        raise ReadingFormatError(f"chain_id must fit in uint256, got {chain_id!r}")
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                DOMAIN_TYPEHASH,
                keccak(text=DOMAIN_NAME),
                keccak(text=DOMAIN_VERSION),
                chain_id,
                _address_bytes(verifying_contract),
            ],
        )
    )


def low_s(s: int) -> int:
    """The low form of s: (r, s) and (r, n - s) both verify; the rule takes s <= n/2."""
    return P256_ORDER - s if s > P256_HALF_ORDER else s


def sign_digest(private_key: ec.EllipticCurvePrivateKey, digest: bytes) -> tuple[int, int]:
    """Sign a 32-byte digest with a P-256 key; returns (r, s) with s in low form."""
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ReadingFormatError(f"meter keys are P-256, got {private_key.curve.name}")
    r, s = decode_dss_signature(private_key.sign(digest, _PREHASHED))
    return r, low_s(s)


@lru_cache(maxsize=65_536)
def _public_key(x: int, y: int) -> ec.EllipticCurvePublicKey | None:
    # Building the key checks the point (~10 % of verifying); meters repeat (bounded).
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        return None


def is_valid_signature(x: int, y: int, digest: bytes, r: int, s: int) -> bool:
    """True when (r, s) is a low-s P-256 signature of `digest` by the key (x, y).

    The exchange's rule: 0 < r < n and 0 < s <= n/2, so the high-s twin of a valid signature
    is refused. Never raises for an off-curve key or out-of-range values.
    """
    if not (0 < r < P256_ORDER and 0 < s <= P256_HALF_ORDER):
        return False
    key = _public_key(x, y)
    if key is None:  # not a point on P-256
        return False
    try:
        key.verify(encode_dss_signature(r, s), digest, _PREHASHED)
    except InvalidSignature:
        return False
    return True

"""The signed meter reading: THE single source of its format (see DESIGN.md, fixed formats).

A `Reading` carries the cumulative registers at the END of interval `interval_id`, i.e. at unix
time `(interval_id + 1) * 900`. It is hashed as the EIP-712 struct

    Reading(bytes32 meterId,uint64 intervalId,uint64 importWhTotal,uint64 exportWhTotal,uint64 seq)

under protocol v2's domain `EIP712Domain(string name,string version,uint256 chainId,address
verifyingContract)` = ("Quartier", "2", chain id, QuartierExchange address) (the domain of
schedules and meter batches, `metering.signing`), and the 32-byte digest
`keccak256(0x1901 || domainSeparator || structHash)` is signed with the meter's P-256 key as a
*prehashed* message, under the one P-256 rule of `metering.signing`: low s (s <= n/2), the
signer normalises and the verifier refuses the high-s twin, as the exchange's OpenZeppelin
P256 does. `meterId = keccak256(x || y)` over the 32-byte big-endian public key coordinates.

This module is imported by `ledger` and `api`: keep it free of heavy dependencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from metering.errors import ReadingFormatError
from metering.signing import DOMAIN_NAME as DOMAIN_NAME  # re-exported
from metering.signing import DOMAIN_TYPE as DOMAIN_TYPE  # re-exported
from metering.signing import DOMAIN_TYPEHASH as DOMAIN_TYPEHASH  # re-exported
from metering.signing import DOMAIN_VERSION as DOMAIN_VERSION  # re-exported
from metering.signing import P256_ORDER as P256_ORDER  # re-exported
from metering.signing import domain_separator as domain_separator  # re-exported
from metering.signing import is_valid_signature, sign_digest

READING_TYPE = (
    "Reading(bytes32 meterId,uint64 intervalId,uint64 importWhTotal,uint64 exportWhTotal,"
    "uint64 seq)"
)
READING_TYPEHASH = keccak(text=READING_TYPE)

#: Seconds per interval; `interval_id = unix_seconds // INTERVAL_SECONDS` (UTC).
INTERVAL_SECONDS = 900

UINT64_MAX = 2**64 - 1

_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_SIGNED_READING_KEYS = frozenset(
    {
        "meter_id",
        "interval_id",
        "import_wh_total",
        "export_wh_total",
        "seq",
        "public_key",
        "signature",
    }
)


def _check_uint(name: str, value: object, bits: int) -> int:
    # bool is an int subclass; True as a register value is always a bug upstream.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReadingFormatError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value < 2**bits:
        raise ReadingFormatError(f"{name} must fit in uint{bits}, got {value}")
    return value


@dataclass(frozen=True)
class Reading:
    """Cumulative registers of one meter at the end of interval `interval_id`."""

    meter_id: bytes
    interval_id: int
    import_wh_total: int
    export_wh_total: int
    seq: int

    def __post_init__(self) -> None:
        if not isinstance(self.meter_id, bytes) or len(self.meter_id) != 32:
            raise ReadingFormatError("meter_id must be exactly 32 bytes")
        _check_uint("interval_id", self.interval_id, 64)
        _check_uint("import_wh_total", self.import_wh_total, 64)
        _check_uint("export_wh_total", self.export_wh_total, 64)
        _check_uint("seq", self.seq, 64)


@dataclass(frozen=True)
class PublicKey:
    """Affine coordinates of a P-256 public key."""

    x: int
    y: int

    def __post_init__(self) -> None:
        _check_uint("public key x", self.x, 256)
        _check_uint("public key y", self.y, 256)

    def to_bytes(self) -> bytes:
        """Return x || y, each 32 bytes big-endian (the contract's encoding)."""
        return self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")

    @classmethod
    def from_cryptography(cls, key: ec.EllipticCurvePublicKey) -> PublicKey:
        """Take the coordinates of a `cryptography` P-256 public key."""
        if not isinstance(key.curve, ec.SECP256R1):
            raise ReadingFormatError(f"meter keys are P-256, got {key.curve.name}")
        numbers = key.public_numbers()
        return cls(numbers.x, numbers.y)


@dataclass(frozen=True)
class SignedReading:
    """A reading with the meter's public key and its P-256 signature (r, s)."""

    reading: Reading
    public_key: PublicKey
    r: int
    s: int

    def __post_init__(self) -> None:
        _check_uint("signature r", self.r, 256)
        _check_uint("signature s", self.s, 256)

    def to_json(self) -> dict[str, Any]:
        """Return the fixed JSON shape a meter agent POSTs to `{api}/readings`."""
        reading = self.reading
        return {
            "meter_id": "0x" + reading.meter_id.hex(),
            "interval_id": reading.interval_id,
            "import_wh_total": reading.import_wh_total,
            "export_wh_total": reading.export_wh_total,
            "seq": reading.seq,
            "public_key": {"x": _hex32(self.public_key.x), "y": _hex32(self.public_key.y)},
            "signature": {"r": _hex32(self.r), "s": _hex32(self.s)},
        }

    @classmethod
    def from_json(cls, data: object) -> SignedReading:
        """Parse the fixed JSON shape strictly (exact keys, integers, 0x + 64 hex digits).

        Does not verify the signature: call `verify_signed_reading` for that.
        """
        if not isinstance(data, dict):
            raise ReadingFormatError("a signed reading must be a JSON object")
        keys = set(data)
        if keys != _SIGNED_READING_KEYS:
            missing = sorted(_SIGNED_READING_KEYS - keys)
            extra = sorted(keys - _SIGNED_READING_KEYS)
            raise ReadingFormatError(f"signed reading keys: missing {missing}, unexpected {extra}")
        public_key = _pair(data["public_key"], "public_key", ("x", "y"))
        signature = _pair(data["signature"], "signature", ("r", "s"))
        reading = Reading(
            meter_id=_parse_hex32(data["meter_id"], "meter_id").to_bytes(32, "big"),
            interval_id=data["interval_id"],
            import_wh_total=data["import_wh_total"],
            export_wh_total=data["export_wh_total"],
            seq=data["seq"],
        )
        return cls(reading, PublicKey(*public_key), *signature)


def _hex32(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _parse_hex32(value: object, name: str) -> int:
    if not isinstance(value, str) or not _HEX32.match(value):
        raise ReadingFormatError(f"{name} must be '0x' followed by 64 hex digits")
    return int(value, 16)


def _pair(value: object, name: str, keys: tuple[str, str]) -> tuple[int, int]:
    if not isinstance(value, dict) or set(value) != set(keys):
        raise ReadingFormatError(f"{name} must be an object with exactly the keys {list(keys)}")
    first, second = keys
    return (
        _parse_hex32(value[first], f"{name}.{first}"),
        _parse_hex32(value[second], f"{name}.{second}"),
    )


def meter_id_of(public_key: PublicKey) -> bytes:
    """Return keccak256(x || y), the meter id the registry derives from the key."""
    return _meter_id(public_key.to_bytes())


@lru_cache(maxsize=65_536)
def _meter_id(key: bytes) -> bytes:
    # Every reading the intake verifies hashes its meter's key again: meters repeat (bounded).
    return keccak(key)


def struct_hash(reading: Reading) -> bytes:
    """Return the EIP-712 hashStruct of a reading.

    Its fields are static and `Reading` checked their widths, so the ABI encoding is each
    one's 32-byte big-endian word (eth_abi's `encode` gives the same bytes, ~6 % of a served
    reading's CPU; `abi_struct_hash` keeps that form for the tests to compare).
    """
    return keccak(
        READING_TYPEHASH
        + reading.meter_id
        + reading.interval_id.to_bytes(32, "big")
        + reading.import_wh_total.to_bytes(32, "big")
        + reading.export_wh_total.to_bytes(32, "big")
        + reading.seq.to_bytes(32, "big")
    )


def abi_struct_hash(reading: Reading) -> bytes:
    """`struct_hash` through eth_abi's encoder (the reference the fast form is tested on)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "uint64", "uint64", "uint64", "uint64"],
            [
                READING_TYPEHASH,
                reading.meter_id,
                reading.interval_id,
                reading.import_wh_total,
                reading.export_wh_total,
                reading.seq,
            ],
        )
    )


def reading_digest(reading: Reading, chain_id: int, verifying_contract: str | bytes) -> bytes:
    """The 32-byte digest the meter signs: keccak256(0x1901 || domain || struct), in the v2
    domain of `verifying_contract` (the QuartierExchange address)."""
    return keccak(
        b"\x19\x01" + domain_separator(chain_id, verifying_contract) + struct_hash(reading)
    )


def sign_reading(
    private_key: ec.EllipticCurvePrivateKey,
    reading: Reading,
    chain_id: int,
    verifying_contract: str | bytes,
) -> SignedReading:
    """Sign a reading with the meter's P-256 key in the v2 domain of `verifying_contract`
    (the QuartierExchange address), s in low form; its meter_id must be that key's id."""
    public_key = PublicKey.from_cryptography(private_key.public_key())
    if meter_id_of(public_key) != reading.meter_id:
        raise ReadingFormatError("reading.meter_id is not the id of the signing key")
    r, s = sign_digest(private_key, reading_digest(reading, chain_id, verifying_contract))
    return SignedReading(reading, public_key, r, s)


def verify_signed_reading(
    signed: SignedReading, chain_id: int, verifying_contract: str | bytes
) -> bool:
    """True when the signature is valid in the v2 domain of `verifying_contract` (the
    QuartierExchange address) and the meter id matches the public key.

    The one P-256 rule (`metering.signing`): a high-s signature is refused, like OpenZeppelin's
    P256 in the exchange. Returns False (never raises) for an off-curve key or r, s out of
    range; replays are stopped by `seq`.
    """
    if meter_id_of(signed.public_key) != signed.reading.meter_id:
        return False
    digest = reading_digest(signed.reading, chain_id, verifying_contract)
    key = signed.public_key
    return is_valid_signature(key.x, key.y, digest, signed.r, signed.s)

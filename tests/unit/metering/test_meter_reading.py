"""The Reading format: EIP-712 digest, P-256 signatures, meter ids and the fixed JSON shape."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from metering.errors import ReadingFormatError
from metering.reading import (
    P256_ORDER,
    PublicKey,
    Reading,
    SignedReading,
    meter_id_of,
    reading_digest,
    sign_reading,
    verify_signed_reading,
)

KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
PUBLIC = PublicKey.from_cryptography(KEY.public_key())
METER_ID = meter_id_of(PUBLIC)
EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)


def _reading(**changes: Any) -> Reading:
    fields: dict[str, Any] = {
        "meter_id": METER_ID,
        "interval_id": 1_960_000,
        "import_wh_total": 661_701,
        "export_wh_total": 1_414_380,
        "seq": 7,
    }
    fields.update(changes)
    return Reading(**fields)


def test_meter_id_is_keccak_of_x_and_y() -> None:
    # An independent keccak implementation (pycryptodome) over the 64-byte x || y.
    digest = pycryptodome_keccak.new(digest_bits=256)
    digest.update(PUBLIC.x.to_bytes(32, "big") + PUBLIC.y.to_bytes(32, "big"))
    assert digest.digest() == METER_ID


@given(interval_id=UINT64, import_wh=UINT64, export_wh=UINT64, seq=UINT64, chain_id=UINT64)
def test_digest_equals_eth_account_eip712(
    interval_id: int, import_wh: int, export_wh: int, seq: int, chain_id: int
) -> None:
    reading = _reading(
        interval_id=interval_id, import_wh_total=import_wh, export_wh_total=export_wh, seq=seq
    )
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Reading": [
                    {"name": "meterId", "type": "bytes32"},
                    {"name": "intervalId", "type": "uint64"},
                    {"name": "importWhTotal", "type": "uint64"},
                    {"name": "exportWhTotal", "type": "uint64"},
                    {"name": "seq", "type": "uint64"},
                ],
            },
            "primaryType": "Reading",
            "domain": {
                "name": "Quartier",
                "version": "2",
                "chainId": chain_id,
                "verifyingContract": EXCHANGE,
            },
            "message": {
                "meterId": METER_ID,
                "intervalId": interval_id,
                "importWhTotal": import_wh,
                "exportWhTotal": export_wh,
                "seq": seq,
            },
        }
    )
    hasher = pycryptodome_keccak.new(digest_bits=256)
    hasher.update(b"\x19" + message.version + message.header + message.body)
    assert reading_digest(reading, chain_id, EXCHANGE) == hasher.digest()


@given(interval_id=UINT64, import_wh=UINT64, export_wh=UINT64, seq=UINT64)
def test_sign_then_verify_round_trips(
    interval_id: int, import_wh: int, export_wh: int, seq: int
) -> None:
    reading = _reading(
        interval_id=interval_id, import_wh_total=import_wh, export_wh_total=export_wh, seq=seq
    )
    signed = sign_reading(KEY, reading, CHAIN_ID, EXCHANGE)
    assert verify_signed_reading(signed, CHAIN_ID, EXCHANGE)
    assert SignedReading.from_json(signed.to_json()) == signed


def _flip(value: int, bit: int, bits: int) -> int:
    return value ^ (1 << (bit % bits))


SIGNED = sign_reading(KEY, _reading(), CHAIN_ID, EXCHANGE)


@given(
    field=st.sampled_from(["interval_id", "import_wh_total", "export_wh_total", "seq"]),
    bit=st.integers(0, 63),
)
def test_any_flipped_bit_of_a_field_fails(field: str, bit: int) -> None:
    changed = _reading(**{field: _flip(getattr(SIGNED.reading, field), bit, 64)})
    tampered = SignedReading(changed, SIGNED.public_key, SIGNED.r, SIGNED.s)
    assert not verify_signed_reading(tampered, CHAIN_ID, EXCHANGE)


@given(byte=st.integers(0, 31), mask=st.integers(1, 255))
def test_any_flipped_byte_of_the_meter_id_fails(byte: int, mask: int) -> None:
    meter_id = bytearray(METER_ID)
    meter_id[byte] ^= mask
    tampered = SignedReading(
        _reading(meter_id=bytes(meter_id)), SIGNED.public_key, SIGNED.r, SIGNED.s
    )
    assert not verify_signed_reading(tampered, CHAIN_ID, EXCHANGE)


@given(part=st.sampled_from(["r", "s"]), byte=st.integers(0, 31), mask=st.integers(1, 255))
def test_any_flipped_byte_of_the_signature_fails(part: str, byte: int, mask: int) -> None:
    raw = bytearray(getattr(SIGNED, part).to_bytes(32, "big"))
    raw[byte] ^= mask
    values = {"r": SIGNED.r, "s": SIGNED.s, part: int.from_bytes(raw, "big")}
    tampered = SignedReading(SIGNED.reading, SIGNED.public_key, values["r"], values["s"])
    assert not verify_signed_reading(tampered, CHAIN_ID, EXCHANGE)


@given(byte=st.integers(0, 31), mask=st.integers(1, 255))
def test_any_flipped_byte_of_the_digest_fails(byte: int, mask: int) -> None:
    digest = bytearray(reading_digest(SIGNED.reading, CHAIN_ID, EXCHANGE))
    digest[byte] ^= mask
    with pytest.raises(InvalidSignature):
        KEY.public_key().verify(
            encode_dss_signature(SIGNED.r, SIGNED.s),
            bytes(digest),
            ec.ECDSA(Prehashed(hashes.SHA256())),
        )


def test_other_domain_fails() -> None:
    assert not verify_signed_reading(SIGNED, CHAIN_ID + 1, EXCHANGE)
    assert not verify_signed_reading(SIGNED, CHAIN_ID, "0x" + "11" * 20)


def test_other_key_with_matching_id_fails() -> None:
    other = PublicKey.from_cryptography(ec.derive_private_key(7, ec.SECP256R1()).public_key())
    forged = SignedReading(_reading(meter_id=meter_id_of(other)), other, SIGNED.r, SIGNED.s)
    assert not verify_signed_reading(forged, CHAIN_ID, EXCHANGE)


def test_signatures_are_low_s_and_the_high_s_twin_is_refused() -> None:
    # The exchange's OpenZeppelin P256 rule, one for every meter message.
    assert 0 < SIGNED.s <= P256_ORDER // 2
    high = SignedReading(SIGNED.reading, SIGNED.public_key, SIGNED.r, P256_ORDER - SIGNED.s)
    assert not verify_signed_reading(high, CHAIN_ID, EXCHANGE)


def test_off_curve_key_and_zero_signature_are_invalid_not_errors() -> None:
    off_curve = PublicKey(1, 2)
    forged = SignedReading(_reading(meter_id=meter_id_of(off_curve)), off_curve, 1, 1)
    assert not verify_signed_reading(forged, CHAIN_ID, EXCHANGE)
    zero = SignedReading(SIGNED.reading, SIGNED.public_key, 0, SIGNED.s)
    assert not verify_signed_reading(zero, CHAIN_ID, EXCHANGE)


def test_signing_for_another_meter_id_is_refused() -> None:
    with pytest.raises(ReadingFormatError, match="meter_id"):
        sign_reading(KEY, _reading(meter_id=b"\x01" * 32), CHAIN_ID, EXCHANGE)


@pytest.mark.parametrize(
    "changes",
    [
        {"interval_id": -1},
        {"seq": 2**64},
        {"import_wh_total": True},
        {"export_wh_total": 1.5},
        {"meter_id": b"\x00" * 31},
    ],
)
def test_reading_fields_are_validated(changes: dict[str, Any]) -> None:
    with pytest.raises(ReadingFormatError):
        _reading(**changes)


def test_json_shape_is_the_fixed_one() -> None:
    data = SIGNED.to_json()
    assert set(data) == {
        "meter_id",
        "interval_id",
        "import_wh_total",
        "export_wh_total",
        "seq",
        "public_key",
        "signature",
    }
    assert data["meter_id"] == "0x" + METER_ID.hex()
    assert data["seq"] == 7
    assert data["import_wh_total"] == 661_701
    assert len(data["public_key"]["x"]) == 66
    assert len(data["signature"]["s"]) == 66


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("seq"),
        lambda d: d.update(extra=1),
        lambda d: d.update(seq="7"),
        lambda d: d.update(seq=True),
        lambda d: d.update(meter_id=d["meter_id"][:-2]),
        lambda d: d["signature"].update(r="0x" + "zz" * 32),
        lambda d: d["public_key"].pop("y"),
        lambda d: d.update(interval_id=-5),
    ],
)
def test_json_parsing_is_strict(mutate: Any) -> None:
    data = copy.deepcopy(SIGNED.to_json())
    mutate(data)
    with pytest.raises(ReadingFormatError):
        SignedReading.from_json(data)


@given(seq=UINT64)
def test_every_signature_comes_out_low_s(seq: int) -> None:
    # About half of raw ECDSA signatures are high-s: the signer must normalise each one.
    signed = sign_reading(KEY, _reading(seq=seq), CHAIN_ID, EXCHANGE)
    assert 0 < signed.s <= P256_ORDER // 2
    assert verify_signed_reading(signed, CHAIN_ID, EXCHANGE)

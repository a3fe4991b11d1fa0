"""The v2 meter period batch: deltas codec, building from registers, EIP-712 digest, low-s."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from metering.errors import (
    BoundaryCountError,
    PeriodFormatError,
    RegistersDecreasedError,
    RegistersWentBackwardsError,
)
from metering.period import (
    P256_HALF_ORDER,
    MeterPeriod,
    SignedMeterPeriod,
    build_meter_period,
    decode_deltas,
    domain_separator_v2,
    encode_deltas,
    meter_period_digest,
    sign_meter_period,
    verify_meter_period,
)
from metering.reading import P256_ORDER, PublicKey, domain_separator, meter_id_of

KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
PUBLIC = PublicKey.from_cryptography(KEY.public_key())
METER_ID = meter_id_of(PUBLIC)
EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337
UINT32 = st.integers(min_value=0, max_value=2**32 - 1)
DELTAS = st.lists(st.tuples(UINT32, UINT32), min_size=1, max_size=100)


def _period(**changes: Any) -> MeterPeriod:
    fields: dict[str, Any] = {
        "meter_id": METER_ID,
        "period_id": 20_420,
        "start_import_wh": 661_701,
        "start_export_wh": 1_414_380,
        "deltas": ((120, 0), (95, 3), (0, 410), (7, 7)),
    }
    fields.update(changes)
    return MeterPeriod(**fields)


def test_deltas_are_uint32_import_then_export_big_endian() -> None:
    encoded = encode_deltas([(1, 2), (0x01020304, 0xA0B0C0D0)])
    assert encoded == bytes.fromhex("000000010000000201020304a0b0c0d0")
    assert decode_deltas(encoded) == ((1, 2), (0x01020304, 0xA0B0C0D0))


@given(DELTAS)
def test_deltas_codec_round_trips(deltas: list[tuple[int, int]]) -> None:
    encoded = encode_deltas(deltas)
    assert len(encoded) == 8 * len(deltas)
    assert decode_deltas(encoded) == tuple(deltas)


def test_deltas_codec_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(PeriodFormatError, match="8 bytes per interval"):
        decode_deltas(bytes(12))
    with pytest.raises(PeriodFormatError, match=r"deltas\[1\] export_wh"):
        encode_deltas([(0, 0), (0, 2**32)])
    with pytest.raises(PeriodFormatError, match="import_wh"):
        encode_deltas([(-1, 0)])


def test_batch_from_boundary_registers() -> None:
    boundaries = [(1000, 50), (1120, 50), (1215, 53), (1215, 463), (1222, 470)]
    period = build_meter_period(METER_ID, 20_420, boundaries, period_intervals=4)
    assert period == _period(start_import_wh=1000, start_export_wh=50)
    assert period.boundaries() == boundaries
    assert (period.end_import_wh, period.end_export_wh) == (1222, 470)
    assert period.interval_count == 4


def test_batch_refuses_decreasing_registers_naming_the_boundary() -> None:
    boundaries = [(10, 10), (12, 10), (11, 10), (13, 10)]
    with pytest.raises(RegistersDecreasedError, match="boundary 2 of period 5") as refused:
        build_meter_period(METER_ID, 5, boundaries, period_intervals=3)
    # Callers that already catch the v1 "registers went backwards" error keep catching it.
    assert isinstance(refused.value, RegistersWentBackwardsError)
    with pytest.raises(RegistersDecreasedError):
        build_meter_period(METER_ID, 5, [(10, 10), (10, 9)], period_intervals=1)


@pytest.mark.parametrize("count", [0, 3, 4, 6, 97])
def test_batch_refuses_a_wrong_boundary_count(count: int) -> None:
    boundaries = [(i, i) for i in range(count)]
    with pytest.raises(BoundaryCountError, match="has 5 boundaries"):
        build_meter_period(METER_ID, 5, boundaries, period_intervals=4)


def test_batch_refuses_bad_fields() -> None:
    with pytest.raises(PeriodFormatError, match="32 bytes"):
        _period(meter_id=bytes(31))
    with pytest.raises(PeriodFormatError, match="at least one interval"):
        _period(deltas=())
    with pytest.raises(PeriodFormatError, match="period_id"):
        _period(period_id=True)
    # The end registers are uint64 on-chain too: a start near the top cannot overflow.
    with pytest.raises(PeriodFormatError, match="end_export_wh"):
        _period(start_export_wh=2**64 - 10, deltas=((0, 10),))


def test_from_deltas_bytes_rebuilds_the_same_batch() -> None:
    period = _period()
    again = MeterPeriod.from_deltas_bytes(
        period.meter_id,
        period.period_id,
        period.start_import_wh,
        period.start_export_wh,
        period.deltas_bytes,
    )
    assert again == period
    assert hash(again) == hash(period)


def test_batches_and_readings_share_the_one_v2_domain() -> None:
    # One domain for every meter message: readings and batches are bound to the exchange.
    assert domain_separator_v2(CHAIN_ID, EXCHANGE) == domain_separator(CHAIN_ID, EXCHANGE)
    assert domain_separator_v2(CHAIN_ID, EXCHANGE) != domain_separator_v2(CHAIN_ID + 1, EXCHANGE)


@given(
    period_id=st.integers(min_value=0, max_value=2**64 - 1),
    start=st.tuples(st.integers(0, 2**63), st.integers(0, 2**63)),
    deltas=DELTAS,
    chain_id=st.integers(min_value=1, max_value=2**64),
)
def test_digest_equals_eth_account_eip712(
    period_id: int, start: tuple[int, int], deltas: list[tuple[int, int]], chain_id: int
) -> None:
    period = _period(
        period_id=period_id,
        start_import_wh=start[0],
        start_export_wh=start[1],
        deltas=tuple(deltas),
    )
    # An independent EIP-712 encoder (eth-account's) over the same typed data.
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "MeterPeriod": [
                    {"name": "meterId", "type": "bytes32"},
                    {"name": "periodId", "type": "uint64"},
                    {"name": "startImportWh", "type": "uint64"},
                    {"name": "startExportWh", "type": "uint64"},
                    {"name": "deltas", "type": "bytes"},
                ],
            },
            "primaryType": "MeterPeriod",
            "domain": {
                "name": "Quartier",
                "version": "2",
                "chainId": chain_id,
                "verifyingContract": EXCHANGE,
            },
            "message": {
                "meterId": period.meter_id,
                "periodId": period_id,
                "startImportWh": start[0],
                "startExportWh": start[1],
                "deltas": period.deltas_bytes,
            },
        }
    )
    expected = keccak(b"\x19" + message.version + message.header + message.body)
    assert meter_period_digest(period, chain_id, EXCHANGE) == expected


def test_every_field_changes_the_digest() -> None:
    base = meter_period_digest(_period(), CHAIN_ID, EXCHANGE)
    other_key = meter_id_of(
        PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    for changed in (
        _period(meter_id=other_key),
        _period(period_id=20_421),
        _period(start_import_wh=661_702),
        _period(start_export_wh=1_414_381),
        _period(deltas=((120, 0), (95, 3), (0, 410), (7, 8))),
        _period(deltas=((120, 0), (95, 3), (0, 410))),
    ):
        assert meter_period_digest(changed, CHAIN_ID, EXCHANGE) != base
    other_exchange = "0x" + "11" * 20
    assert meter_period_digest(_period(), CHAIN_ID, other_exchange) != base


def test_signatures_are_low_s_and_verify() -> None:
    # ECDSA picks s at random: over 64 signatures about half come out high before
    # normalisation, so a signer that skipped it would fail here.
    for period_id in range(64):
        signed = sign_meter_period(KEY, _period(period_id=period_id), CHAIN_ID, EXCHANGE)
        assert 0 < signed.s <= P256_HALF_ORDER
        assert verify_meter_period(signed, PUBLIC, CHAIN_ID, EXCHANGE)
        assert signed.signature == signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big")


def test_high_s_twin_is_mathematically_valid_but_refused() -> None:
    signed = sign_meter_period(KEY, _period(), CHAIN_ID, EXCHANGE)
    twin = SignedMeterPeriod(signed.period, signed.r, P256_ORDER - signed.s)
    # The twin is a valid ECDSA signature (cryptography accepts it)...
    digest = meter_period_digest(signed.period, CHAIN_ID, EXCHANGE)
    KEY.public_key().verify(
        encode_dss_signature(twin.r, twin.s), digest, ec.ECDSA(Prehashed(hashes.SHA256()))
    )
    # ...but the exchange's rule, and ours, refuse it.
    assert not verify_meter_period(twin, PUBLIC, CHAIN_ID, EXCHANGE)


def test_verification_refuses_other_keys_data_and_domains() -> None:
    signed = sign_meter_period(KEY, _period(), CHAIN_ID, EXCHANGE)
    other = PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert not verify_meter_period(signed, other, CHAIN_ID, EXCHANGE)
    tampered = SignedMeterPeriod(
        _period(deltas=((121, 0), (95, 3), (0, 410), (7, 7))), signed.r, signed.s
    )
    assert not verify_meter_period(tampered, PUBLIC, CHAIN_ID, EXCHANGE)
    assert not verify_meter_period(signed, PUBLIC, CHAIN_ID + 1, EXCHANGE)
    assert not verify_meter_period(
        SignedMeterPeriod(signed.period, 0, signed.s), PUBLIC, CHAIN_ID, EXCHANGE
    )
    off_curve = PublicKey(PUBLIC.x, PUBLIC.y + 1)
    forged = SignedMeterPeriod(_period(meter_id=meter_id_of(off_curve)), signed.r, signed.s)
    assert not verify_meter_period(forged, off_curve, CHAIN_ID, EXCHANGE)


def test_signing_with_another_meters_key_is_refused() -> None:
    with pytest.raises(PeriodFormatError, match="not the id of the signing key"):
        sign_meter_period(ec.generate_private_key(ec.SECP256R1()), _period(), CHAIN_ID, EXCHANGE)


def test_abi_and_json_shapes() -> None:
    signed = sign_meter_period(KEY, _period(), CHAIN_ID, EXCHANGE)
    assert signed.as_abi() == (
        METER_ID,
        20_420,
        661_701,
        1_414_380,
        signed.period.deltas_bytes,
        signed.signature,
    )
    shape = signed.to_json()
    assert (
        shape["deltas"] == "0x" + "00000078000000000000005f00000003000000000000019a0000000700000007"
    )
    assert shape["signature"] == "0x" + signed.signature.hex()

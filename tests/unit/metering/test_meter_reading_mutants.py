"""metering.reading: what a refused signed reading says (the readings intake answers it as the
problem's detail; the agent's spool logs it), field by field. Written for scripts/mutation's
survivors (issue 17).
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from metering.errors import PeriodFormatError, ReadingFormatError
from metering.period import build_meter_period
from metering.reading import PublicKey, Reading, SignedReading, meter_id_of, sign_reading

KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
METER_ID = meter_id_of(PublicKey.from_cryptography(KEY.public_key()))
EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SIGNED = sign_reading(KEY, Reading(METER_ID, 1_900_000, 661_701, 1_414_380, 7), 31337, EXCHANGE)


def _body(**changes: Any) -> dict[str, Any]:
    body = SIGNED.to_json()
    body.update(changes)
    return body


def _refused(body: object) -> str:
    with pytest.raises(ReadingFormatError) as refused:
        SignedReading.from_json(body)
    return str(refused.value)


def test_a_body_that_is_not_an_object_is_refused_by_name() -> None:
    assert _refused([1, 2]) == "a signed reading must be a JSON object"


def test_wrong_keys_are_named_missing_and_unexpected() -> None:
    body = _body(sequence=7)
    del body["seq"]
    del body["interval_id"]
    assert _refused(body) == (
        "signed reading keys: missing ['interval_id', 'seq'], unexpected ['sequence']"
    )


def test_a_malformed_key_or_signature_object_is_named() -> None:
    keys = "must be an object with exactly the keys"
    assert _refused(_body(public_key={"x": "0x00"})) == f"public_key {keys} ['x', 'y']"
    assert _refused(_body(signature=[])) == f"signature {keys} ['r', 's']"


def test_a_malformed_hex_field_is_named_with_its_path() -> None:
    digits = "must be '0x' followed by 64 hex digits"
    good = SIGNED.to_json()
    assert _refused(_body(meter_id="0x12")) == f"meter_id {digits}"
    key = {**good["public_key"], "x": "12"}
    assert _refused(_body(public_key=key)) == f"public_key.x {digits}"
    key = {**good["public_key"], "y": 5}
    assert _refused(_body(public_key=key)) == f"public_key.y {digits}"
    signature = {**good["signature"], "r": "0x" + "g" * 64}
    assert _refused(_body(signature=signature)) == f"signature.r {digits}"
    signature = {**good["signature"], "s": ""}
    assert _refused(_body(signature=signature)) == f"signature.s {digits}"
    assert SignedReading.from_json(good) == SIGNED


def test_a_bad_interval_count_names_period_intervals() -> None:
    with pytest.raises(PeriodFormatError, match=r"^period_intervals must lie in \[0, 4294967295\]"):
        build_meter_period(METER_ID, 1, [(0, 0)], -1)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ((b"\x01" * 31, 1, 2, 3, 4), "meter_id must be exactly 32 bytes"),
        ((METER_ID, "1", 2, 3, 4), "interval_id must be an integer, got str"),
        ((METER_ID, 1, 2**64, 3, 4), f"import_wh_total must fit in uint64, got {2**64}"),
        ((METER_ID, 1, 2, True, 4), "export_wh_total must be an integer, got bool"),
        ((METER_ID, 1, 2, 3, -1), "seq must fit in uint64, got -1"),
    ],
)
def test_a_reading_names_the_field_it_refuses(fields: tuple[Any, ...], text: str) -> None:
    with pytest.raises(ReadingFormatError) as refused:
        Reading(*fields)
    assert str(refused.value) == text


@pytest.mark.parametrize("field", ["interval_id", "import_wh_total", "export_wh_total", "seq"])
def test_a_reading_field_holds_exactly_uint64(field: str) -> None:
    values = {"interval_id": 1, "import_wh_total": 2, "export_wh_total": 3, "seq": 4}
    Reading(b"\x01" * 32, **{**values, field: 2**64 - 1})
    with pytest.raises(ReadingFormatError) as raised:
        Reading(b"\x01" * 32, **{**values, field: 2**64})
    assert str(raised.value) == f"{field} must fit in uint64, got {2**64}"


@pytest.mark.parametrize("part", ["r", "s"])
def test_a_signature_part_holds_exactly_uint256_and_is_named(part: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey.from_cryptography(key.public_key())
    reading = Reading(meter_id_of(public), 1, 2, 3, 4)
    values = {"r": 5, "s": 6}
    SignedReading(reading, public, **{**values, part: 2**256 - 1})
    with pytest.raises(ReadingFormatError) as raised:
        SignedReading(reading, public, **{**values, part: 2**256})
    assert str(raised.value) == f"signature {part} must fit in uint256, got {2**256}"


def test_signing_another_meter_s_reading_is_refused_by_name() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ReadingFormatError) as raised:
        sign_reading(key, Reading(b"\x01" * 32, 1, 2, 3, 4), 31337, "0x" + "11" * 20)
    assert str(raised.value) == "reading.meter_id is not the id of the signing key"

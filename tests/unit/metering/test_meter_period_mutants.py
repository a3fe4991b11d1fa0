"""metering.period: the JSON shape agents and relayers exchange, field by field, and the one-line
errors of a spooled batch that is not one. Written for scripts/mutation's survivors (issue 17).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from metering.errors import PeriodFormatError
from metering.period import MeterPeriod, meter_batch_body, meter_batch_of_body, sign_meter_period
from metering.reading import PublicKey, meter_id_of

KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
PUBLIC = PublicKey.from_cryptography(KEY.public_key())
METER_ID = meter_id_of(PUBLIC)
EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PERIOD = MeterPeriod(METER_ID, 20_420, 661_701, 1_414_380, ((120, 0), (95, 3)))
SIGNED = sign_meter_period(KEY, PERIOD, 31337, EXCHANGE)


def test_the_json_shape_names_every_field() -> None:
    assert SIGNED.to_json() == {
        "meter_id": "0x" + METER_ID.hex(),
        "period_id": 20_420,
        "start_import_wh": 661_701,
        "start_export_wh": 1_414_380,
        "deltas": "0x" + "00000078000000000000005f00000003",
        "signature": "0x" + SIGNED.signature.hex(),
    }


def test_a_body_that_is_not_an_object_is_refused_in_one_line() -> None:
    with pytest.raises(PeriodFormatError, match=r"^a meter batch body is a JSON object$"):
        meter_batch_of_body([PERIOD.period_id])


def test_a_body_missing_a_field_names_it() -> None:
    body = meter_batch_body(SIGNED, PUBLIC)
    del body["signature"]
    with pytest.raises(
        PeriodFormatError, match=r"^not a meter batch body: KeyError\('signature'\)$"
    ):
        meter_batch_of_body(body)
    assert meter_batch_of_body(meter_batch_body(SIGNED, PUBLIC)) == (SIGNED, PUBLIC)

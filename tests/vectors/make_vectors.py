"""Write the test vectors of ledger/FORMATS.md (`python tests/vectors/make_vectors.py`).

Run once when a format is introduced; afterwards the JSON files are the frozen reference and
tests/unit/test_format_vectors.py checks the code (and the contracts, on Anvil) against them.
A format change that makes that test fail is a change every wallet and meter firmware has
to follow: regenerate only on purpose, and say so in the commit.

Every key here is a public test key (Anvil's development accounts, a P-256 scalar derived
from a fixed phrase): never use them for anything but tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct
from eth_utils.crypto import keccak

from api.auth import issue_token
from api.households.schemas import ean_check_digit_ok
from api.security import manager_message
from ledger.schedules import (
    SCHEDULE_TYPE,
    SCHEDULE_TYPEHASH,
    Entry,
    EntrySide,
    Schedule,
    posting_chain_head,
    schedule_digest,
    schedule_struct_hash,
    schedule_typed_data,
    sign_schedule,
)
from metering.period import (
    METER_PERIOD_TYPE,
    METER_PERIOD_TYPEHASH,
    MeterPeriod,
    SignedMeterPeriod,
    meter_batch_body,
    meter_period_digest,
)
from metering.period import struct_hash as batch_struct_hash
from metering.reading import (
    READING_TYPE,
    READING_TYPEHASH,
    PublicKey,
    Reading,
    SignedReading,
    meter_id_of,
    reading_digest,
)
from metering.reading import struct_hash as reading_struct_hash
from metering.signing import DOMAIN_TYPE, DOMAIN_TYPEHASH, domain_separator, low_s

HERE = Path(__file__).parent

CHAIN_ID = 31337
#: No deployer reaches this address (keccak256("quartier test exchange")[12:]): the on-chain
#: test copies the exchange's code there to compute the vector's digests in the contract.
EXCHANGE = "0xf0E38dBF027442ba3002a90E210f8EC65a291E89"
#: Anvil's development accounts 0 (the manager) and 1 (a household).
MANAGER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HOUSEHOLD_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
#: The test meter's P-256 scalar: sha256("quartier test meter 1").
METER_SCALAR = int.from_bytes(hashlib.sha256(b"quartier test meter 1").digest(), "big")
#: 2026-06-21 (UTC): period 20625 of the daily grid (96 quarter-hours).
PERIOD_ID = 20625
PERIOD_INTERVALS = 96
FIRST_INTERVAL = PERIOD_ID * PERIOD_INTERVALS


def h(data: bytes) -> str:
    return "0x" + data.hex()


def h32(value: int) -> str:
    return f"0x{value:064x}"


def write(name: str, vector: dict[str, Any]) -> None:
    (HERE / name).write_text(json.dumps(vector, indent=2) + "\n")


def domain() -> dict[str, Any]:
    return {
        "type": DOMAIN_TYPE,
        "typehash": h(DOMAIN_TYPEHASH),
        "name": "Quartier",
        "version": "2",
        "chain_id": CHAIN_ID,
        "verifying_contract": EXCHANGE,
        "name_hash": h(keccak(text="Quartier")),
        "version_hash": h(keccak(text="2")),
        "separator": h(domain_separator(CHAIN_ID, EXCHANGE)),
    }


def schedule() -> dict[str, Any]:
    household = Account.from_key(HOUSEHOLD_KEY).address
    entries = (
        Entry(EntrySide.SELL, 1_200, 180_000),
        Entry(EntrySide.NONE, 0, 0),
        Entry(EntrySide.BUY, 800, 260_000),
        Entry(EntrySide.BUY, 1_500, 250_000),
    )
    value = Schedule(household, PERIOD_ID, 1, FIRST_INTERVAL + 40, entries)
    signed = sign_schedule(HOUSEHOLD_KEY, value, CHAIN_ID, EXCHANGE)
    sig = signed.signature
    return {
        "domain": {"chain_id": CHAIN_ID, "verifying_contract": EXCHANGE},
        "private_key": HOUSEHOLD_KEY,
        "type": SCHEDULE_TYPE,
        "typehash": h(SCHEDULE_TYPEHASH),
        "schedule": {
            "household": household,
            "period_id": value.period_id,
            "version": value.version,
            "first_interval_id": value.first_interval_id,
            "entries": [
                {"side": int(e.side), "energy_wh": e.energy_wh, "price_per_kwh": e.price_per_kwh}
                for e in entries
            ],
        },
        "entries_bytes": h(value.entries_bytes),
        "entries_hash": h(keccak(value.entries_bytes)),
        "struct_hash": h(schedule_struct_hash(value)),
        "digest": h(schedule_digest(value, CHAIN_ID, EXCHANGE)),
        "signature": {
            "r": h(sig[:32]),
            "s": h(sig[32:64]),
            "v": sig[64],
            "bytes": h(sig),
        },
        "typed_data": schedule_typed_data(value, CHAIN_ID, EXCHANGE),
        "api_body": {
            "household": household,
            "period_id": value.period_id,
            "version": value.version,
            "first_interval_id": value.first_interval_id,
            "entries": [
                {
                    "side": e.side.name.lower(),
                    "energy_wh": e.energy_wh,
                    "price_per_kwh": e.price_per_kwh,
                }
                for e in entries
            ],
            "signature": h(sig),
        },
        "lock_units": value.lock_units,
        "posting_chain_head_after_one": h(posting_chain_head([value])),
    }


def _meter_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(METER_SCALAR, ec.SECP256R1())


def _sign_p256(digest: bytes) -> tuple[int, int]:
    # Deterministic (RFC 6979) so that the vector is reproducible; the meter agent's own
    # signatures are randomised, and either kind verifies.
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True)
    r, s = decode_dss_signature(_meter_key().sign(digest, algorithm))
    return r, low_s(s)


def meter_key() -> dict[str, Any]:
    public = PublicKey.from_cryptography(_meter_key().public_key())
    return {
        "private_scalar": h32(METER_SCALAR),
        "public_key": {"x": h32(public.x), "y": h32(public.y)},
        "public_key_bytes": h(public.to_bytes()),
        "meter_id": h(meter_id_of(public)),
    }


def _deltas() -> list[tuple[int, int]]:
    # A sunny day: import at night, export around noon (Wh per quarter-hour).
    deltas = []
    for k in range(PERIOD_INTERVALS):
        export_wh = max(0, 400 - abs(k - 52) * 16)
        import_wh = 0 if export_wh > 150 else 90 + (k * 7) % 40
        deltas.append((import_wh, export_wh))
    return deltas


def meter_batch() -> dict[str, Any]:
    public = PublicKey.from_cryptography(_meter_key().public_key())
    period = MeterPeriod(meter_id_of(public), PERIOD_ID, 1_234_567, 456_789, tuple(_deltas()))
    digest = meter_period_digest(period, CHAIN_ID, EXCHANGE)
    r, s = _sign_p256(digest)
    signed = SignedMeterPeriod(period, r, s)
    return {
        "domain": {"chain_id": CHAIN_ID, "verifying_contract": EXCHANGE},
        "type": METER_PERIOD_TYPE,
        "typehash": h(METER_PERIOD_TYPEHASH),
        "batch": {
            "meter_id": h(period.meter_id),
            "period_id": period.period_id,
            "start_import_wh": period.start_import_wh,
            "start_export_wh": period.start_export_wh,
            "deltas": [list(pair) for pair in period.deltas],
        },
        "deltas_bytes": h(period.deltas_bytes),
        "deltas_hash": h(keccak(period.deltas_bytes)),
        "end_import_wh": period.end_import_wh,
        "end_export_wh": period.end_export_wh,
        "struct_hash": h(batch_struct_hash(period)),
        "digest": h(digest),
        "signature": {"r": h32(r), "s": h32(s), "bytes": h(signed.signature)},
        "api_body": meter_batch_body(signed, public),
    }


def reading() -> dict[str, Any]:
    public = PublicKey.from_cryptography(_meter_key().public_key())
    value = Reading(meter_id_of(public), FIRST_INTERVAL + 41, 1_236_020, 460_211, 42)
    digest = reading_digest(value, CHAIN_ID, EXCHANGE)
    r, s = _sign_p256(digest)
    return {
        "domain": {"chain_id": CHAIN_ID, "verifying_contract": EXCHANGE},
        "type": READING_TYPE,
        "typehash": h(READING_TYPEHASH),
        "reading": {
            "meter_id": h(value.meter_id),
            "interval_id": value.interval_id,
            "import_wh_total": value.import_wh_total,
            "export_wh_total": value.export_wh_total,
            "seq": value.seq,
        },
        "struct_hash": h(reading_struct_hash(value)),
        "digest": h(digest),
        "signature": {"r": h32(r), "s": h32(s)},
        "api_body": SignedReading(value, public, r, s).to_json(),
    }


SIGN_IN_TEMPLATE = (
    "quartier wants you to sign in with your Ethereum account:\n{address}\n\n"
    "Sign in to read your own Quartier data.\n\n"
    "URI: quartier:api\nVersion: 1\nChain ID: {chain_id}\n"
    "Nonce: {nonce}\nIssued At: {issued_at}\nExpiration Time: {expiration_time}"
)


def _personal(key: str, message: str) -> dict[str, Any]:
    signable = encode_defunct(text=message)
    signed = Account.sign_message(signable, private_key=key)
    return {
        "eip191_hash": h(_hash_eip191_message(signable)),
        "signature": h(bytes(signed.signature)),
    }


def sign_in() -> dict[str, Any]:
    address = Account.from_key(HOUSEHOLD_KEY).address
    fields = {
        "address": address,
        "chain_id": CHAIN_ID,
        "nonce": "5f1c2a9b8e7d6c5b4a39281f",
        "issued_at": "2026-06-20T18:00:00Z",
        "expiration_time": "2026-06-20T18:05:00Z",
    }
    message = SIGN_IN_TEMPLATE.format(**fields)
    secret = b"quartier test secret"
    expires_at = 1_781_979_300
    return {
        "private_key": HOUSEHOLD_KEY,
        "template": SIGN_IN_TEMPLATE,
        "fields": fields,
        "message": message,
        **_personal(HOUSEHOLD_KEY, message),
        "token": {
            "secret_utf8": secret.decode(),
            "address": address,
            "expires_at": expires_at,
            "token": issue_token(secret, address, expires_at),
        },
    }


def manager_request() -> dict[str, Any]:
    body = json.dumps(
        {
            "address": Account.from_key(HOUSEHOLD_KEY).address,
            "name": "Maison Dupont",
            "ean": "541449000000000010",
            "contact": "dupont@example.org",
        },
        separators=(",", ":"),
    ).encode()
    timestamp = 1_781_978_400
    message = manager_message("POST", "/households", body, timestamp)
    return {
        "private_key": MANAGER_KEY,
        "manager": Account.from_key(MANAGER_KEY).address,
        "method": "POST",
        "path": "/households",
        "body_utf8": body.decode(),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "timestamp": timestamp,
        "message": message,
        **_personal(MANAGER_KEY, message),
    }


def ean() -> dict[str, Any]:
    valid = ["541449000000000010", "541448820000000015", "541456700000123459"]
    invalid = ["541449000000000014", "541448820000000010"]
    for code in valid:
        assert ean_check_digit_ok(code), code
    for code in invalid:
        assert not ean_check_digit_ok(code), code
    return {"valid": valid, "invalid": invalid}


def units() -> dict[str, Any]:
    return {
        "token_decimals": 6,
        "units_per_euro": 1_000_000,
        "interval_seconds": 900,
        "period_intervals": PERIOD_INTERVALS,
        "lock_examples": [
            {"buys": [[1_500, 250_000]], "lock_units": 375_000},
            {"buys": [[800, 260_000], [1_500, 250_000]], "lock_units": 583_000},
            {"buys": [[1, 1]], "lock_units": 1},
            {"buys": [[333, 7], [333, 7]], "lock_units": 5},
        ],
        "intervals": [
            {"unix_seconds": 1_782_036_000, "interval_id": 1_980_040, "period_id": PERIOD_ID},
            {"unix_seconds": 1_782_000_000, "interval_id": FIRST_INTERVAL, "period_id": PERIOD_ID},
            {"unix_seconds": 1_781_999_999, "interval_id": FIRST_INTERVAL - 1, "period_id": 20624},
        ],
    }


def main() -> None:
    write("domain.json", domain())
    write("schedule.json", schedule())
    write("meter_key.json", meter_key())
    write("meter_batch.json", meter_batch())
    write("reading.json", reading())
    write("sign_in.json", sign_in())
    write("manager_request.json", manager_request())
    write("ean.json", ean())
    write("units.json", units())


if __name__ == "__main__":
    main()

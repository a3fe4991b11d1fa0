"""The signed formats of ledger/FORMATS.md against their frozen test vectors (tests/vectors).

Each vector is checked twice: against the project's code (what the API, the relayer and the
meter agent compute) and against a second derivation written here from the document's byte
layouts alone (hashlib/keccak over hand-built bytes, eth-account's typed-data encoder,
`cryptography`'s verifier), as a third party's wallet or meter firmware would. A change to a
signed format fails here and names the vector it broke; the same vectors are checked against
the contracts on Anvil in tests/integration/test_format_vectors_on_chain.py.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct, encode_typed_data
from eth_utils.crypto import keccak

from api.auth import check_token, issue_token, recover_personal, sign_personal
from api.households.schemas import ean_check_digit_ok
from api.schedules.schemas import SIDE_VALUE, ScheduleIn
from api.security import manager_message
from ledger.community_config.ean import ean_problem, gs1_check_digit
from ledger.rules import TimeGrid
from ledger.schedules import (
    SCHEDULE_TYPE,
    SCHEDULE_TYPEHASH,
    Entry,
    EntrySide,
    Schedule,
    SignedSchedule,
    decode_entries,
    encode_entries,
    lock_units,
    posting_chain_head,
    schedule_digest,
    schedule_signer,
    schedule_struct_hash,
    schedule_typed_data,
    sign_schedule,
)
from metering.period import (
    METER_PERIOD_TYPE,
    MeterPeriod,
    SignedMeterPeriod,
    decode_deltas,
    encode_deltas,
    meter_batch_body,
    meter_batch_of_body,
    meter_period_digest,
    verify_meter_period,
)
from metering.period import struct_hash as batch_struct_hash
from metering.reading import (
    READING_TYPE,
    PublicKey,
    Reading,
    SignedReading,
    meter_id_of,
    reading_digest,
    verify_signed_reading,
)
from metering.reading import struct_hash as reading_struct_hash
from metering.signing import DOMAIN_TYPE, P256_ORDER, domain_separator

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@cache
def vector(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return loaded


def b(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.removeprefix("0x"))


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def eip712(domain_sep: bytes, struct: bytes) -> bytes:
    return keccak(b"\x19\x01" + domain_sep + struct)


def test_domain_separator_from_its_definition() -> None:
    v = vector("domain")
    assert v["type"] == DOMAIN_TYPE
    assert b(v["typehash"]) == keccak(text=v["type"])
    assert b(v["name_hash"]) == keccak(text=v["name"])
    assert v["name"] == "Quartier"
    assert b(v["version_hash"]) == keccak(text=v["version"])
    assert v["version"] == "2"
    by_hand = keccak(
        keccak(text=v["type"])
        + keccak(text=v["name"])
        + keccak(text=v["version"])
        + word(v["chain_id"])
        + bytes(12)
        + b(v["verifying_contract"])
    )
    assert b(v["separator"]) == by_hand
    assert domain_separator(v["chain_id"], v["verifying_contract"]) == by_hand


def _schedule(v: dict[str, Any]) -> Schedule:
    s = v["schedule"]
    entries = tuple(
        Entry(EntrySide(e["side"]), e["energy_wh"], e["price_per_kwh"]) for e in s["entries"]
    )
    return Schedule(s["household"], s["period_id"], s["version"], s["first_interval_id"], entries)


def test_schedule_entries_are_eight_bytes_each_big_endian() -> None:
    v = vector("schedule")
    by_hand = b"".join(
        bytes([e["side"]]) + word(e["energy_wh"])[-3:] + word(e["price_per_kwh"])[-4:]
        for e in v["schedule"]["entries"]
    )
    assert b(v["entries_bytes"]) == by_hand
    schedule = _schedule(v)
    assert encode_entries(schedule.entries) == by_hand
    assert decode_entries(by_hand) == schedule.entries
    assert b(v["entries_hash"]) == keccak(by_hand)


def test_schedule_struct_hash_digest_and_signature() -> None:
    v = vector("schedule")
    chain_id, exchange = v["domain"]["chain_id"], v["domain"]["verifying_contract"]
    schedule = _schedule(v)
    assert v["type"] == SCHEDULE_TYPE
    assert b(v["typehash"]) == keccak(text=v["type"]) == SCHEDULE_TYPEHASH
    s = v["schedule"]
    by_hand = keccak(
        keccak(text=v["type"])
        + bytes(12)
        + b(s["household"])
        + word(s["period_id"])
        + word(s["version"])
        + word(s["first_interval_id"])
        + keccak(b(v["entries_bytes"]))
    )
    assert b(v["struct_hash"]) == by_hand == schedule_struct_hash(schedule)
    digest = eip712(domain_separator(chain_id, exchange), by_hand)
    assert b(v["digest"]) == digest == schedule_digest(schedule, chain_id, exchange)
    # eth-account is deterministic (RFC 6979): the same key signs the same 65 bytes.
    signed = sign_schedule(v["private_key"], schedule, chain_id, exchange)
    assert signed.signature == b(v["signature"]["bytes"])
    sig = v["signature"]
    assert b(sig["bytes"]) == b(sig["r"]) + b(sig["s"]) + bytes([sig["v"]])
    assert sig["v"] in (27, 28)
    recovered = Account._recover_hash(digest, signature=b(sig["bytes"]))
    assert recovered == s["household"] == Account.from_key(v["private_key"]).address
    assert (
        schedule_signer(SignedSchedule(schedule, b(sig["bytes"])), chain_id, exchange)
        == (s["household"])
    )


def test_schedule_typed_data_is_what_a_wallet_signs() -> None:
    v = vector("schedule")
    chain_id, exchange = v["domain"]["chain_id"], v["domain"]["verifying_contract"]
    assert schedule_typed_data(_schedule(v), chain_id, exchange) == v["typed_data"]
    # eth_signTypedData_v4 over the vector's typed data gives the vector's digest and signature.
    signable = encode_typed_data(full_message=v["typed_data"])
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == b(v["digest"])
    signed = Account.sign_message(signable, private_key=v["private_key"])
    assert bytes(signed.signature) == b(v["signature"]["bytes"])


def test_schedule_api_body_carries_the_signed_fields() -> None:
    v = vector("schedule")
    body = ScheduleIn.model_validate_json(json.dumps(v["api_body"]))
    entries = [
        Entry(SIDE_VALUE[e["side"]], e["energy_wh"], e["price_per_kwh"]) for e in body.entries
    ]
    assert encode_entries(entries) == b(v["entries_bytes"])
    signed = (body.household, body.period_id, body.version, body.first_interval_id)
    s = v["schedule"]
    assert signed == (s["household"], s["period_id"], s["version"], s["first_interval_id"])
    assert body.signature == v["signature"]["bytes"]


def test_schedule_lock_and_posting_chain_head() -> None:
    v = vector("schedule")
    schedule = _schedule(v)
    buys = [e for e in v["schedule"]["entries"] if e["side"] == EntrySide.BUY]
    by_hand = math.ceil(sum(e["energy_wh"] * e["price_per_kwh"] for e in buys) / 1000)
    assert v["lock_units"] == by_hand == schedule.lock_units
    head = keccak(bytes(32) + b(v["struct_hash"]))[:24] + bytes(8)
    assert b(v["posting_chain_head_after_one"]) == head == posting_chain_head([schedule])


def _meter_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(vector("meter_key")["private_scalar"], 16), ec.SECP256R1())


def _meter_public_key() -> PublicKey:
    key = vector("meter_key")["public_key"]
    return PublicKey(int(key["x"], 16), int(key["y"], 16))


def test_meter_id_is_keccak_of_the_public_key() -> None:
    v = vector("meter_key")
    numbers = _meter_private_key().public_key().public_numbers()
    assert (numbers.x, numbers.y) == (int(v["public_key"]["x"], 16), int(v["public_key"]["y"], 16))
    assert b(v["public_key_bytes"]) == word(numbers.x) + word(numbers.y)
    assert b(v["meter_id"]) == keccak(b(v["public_key_bytes"])) == meter_id_of(_meter_public_key())


def _p256_verifies(digest: bytes, r: int, s: int) -> bool:
    key = _meter_private_key().public_key()
    try:
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


def _batch(v: dict[str, Any]) -> MeterPeriod:
    batch = v["batch"]
    return MeterPeriod(
        b(batch["meter_id"]),
        batch["period_id"],
        batch["start_import_wh"],
        batch["start_export_wh"],
        tuple(tuple(pair) for pair in batch["deltas"]),
    )


def test_meter_batch_layout_digest_and_signature() -> None:
    v = vector("meter_batch")
    chain_id, exchange = v["domain"]["chain_id"], v["domain"]["verifying_contract"]
    batch = v["batch"]
    assert batch["meter_id"] == vector("meter_key")["meter_id"]
    deltas = b"".join(word(i)[-4:] + word(e)[-4:] for i, e in batch["deltas"])
    assert b(v["deltas_bytes"]) == deltas == encode_deltas(batch["deltas"])
    assert decode_deltas(deltas) == tuple(tuple(pair) for pair in batch["deltas"])
    assert len(deltas) == 8 * vector("units")["period_intervals"]
    period = _batch(v)
    assert v["end_import_wh"] == batch["start_import_wh"] + sum(i for i, _ in batch["deltas"])
    assert v["end_export_wh"] == batch["start_export_wh"] + sum(e for _, e in batch["deltas"])
    assert (period.end_import_wh, period.end_export_wh) == (v["end_import_wh"], v["end_export_wh"])
    assert v["type"] == METER_PERIOD_TYPE
    by_hand = keccak(
        keccak(text=v["type"])
        + b(batch["meter_id"])
        + word(batch["period_id"])
        + word(batch["start_import_wh"])
        + word(batch["start_export_wh"])
        + keccak(deltas)
    )
    assert b(v["typehash"]) == keccak(text=v["type"])
    assert b(v["struct_hash"]) == by_hand == batch_struct_hash(period)
    digest = eip712(domain_separator(chain_id, exchange), by_hand)
    assert b(v["digest"]) == digest == meter_period_digest(period, chain_id, exchange)
    r, s = int(v["signature"]["r"], 16), int(v["signature"]["s"], 16)
    assert b(v["signature"]["bytes"]) == word(r) + word(s)
    assert 0 < s <= P256_ORDER // 2
    assert _p256_verifies(digest, r, s)
    signed = SignedMeterPeriod(period, r, s)
    assert verify_meter_period(signed, _meter_public_key(), chain_id, exchange)
    # The high-s twin verifies mathematically but is refused, as OpenZeppelin's P256 does.
    assert _p256_verifies(digest, r, P256_ORDER - s)
    high = SignedMeterPeriod(period, r, P256_ORDER - s)
    assert not verify_meter_period(high, _meter_public_key(), chain_id, exchange)


def test_meter_batch_api_body() -> None:
    v = vector("meter_batch")
    signed = SignedMeterPeriod(
        _batch(v), int(v["signature"]["r"], 16), int(v["signature"]["s"], 16)
    )
    assert meter_batch_body(signed, _meter_public_key()) == v["api_body"]
    assert meter_batch_of_body(v["api_body"]) == (signed, _meter_public_key())


def test_live_reading_digest_signature_and_body() -> None:
    v = vector("reading")
    chain_id, exchange = v["domain"]["chain_id"], v["domain"]["verifying_contract"]
    fields = v["reading"]
    assert v["type"] == READING_TYPE
    by_hand = keccak(
        keccak(text=v["type"])
        + b(fields["meter_id"])
        + word(fields["interval_id"])
        + word(fields["import_wh_total"])
        + word(fields["export_wh_total"])
        + word(fields["seq"])
    )
    reading = Reading(
        b(fields["meter_id"]),
        fields["interval_id"],
        fields["import_wh_total"],
        fields["export_wh_total"],
        fields["seq"],
    )
    assert b(v["typehash"]) == keccak(text=v["type"])
    assert b(v["struct_hash"]) == by_hand == reading_struct_hash(reading)
    digest = eip712(domain_separator(chain_id, exchange), by_hand)
    assert b(v["digest"]) == digest == reading_digest(reading, chain_id, exchange)
    r, s = int(v["signature"]["r"], 16), int(v["signature"]["s"], 16)
    assert _p256_verifies(digest, r, s)
    signed = SignedReading(reading, _meter_public_key(), r, s)
    assert signed.to_json() == v["api_body"]
    assert SignedReading.from_json(v["api_body"]) == signed
    assert verify_signed_reading(signed, chain_id, exchange)
    wrong_domain = "0x" + "11" * 20
    assert not verify_signed_reading(signed, chain_id, wrong_domain)


def _eip191(message: str) -> bytes:
    data = message.encode()
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


def test_sign_in_message_and_signature() -> None:
    v = vector("sign_in")
    assert v["message"] == v["template"].format(**v["fields"])
    assert b(v["eip191_hash"]) == _eip191(v["message"])
    assert b(v["eip191_hash"]) == _hash_eip191_message(encode_defunct(text=v["message"]))
    assert sign_personal(v["private_key"], v["message"]) == v["signature"]
    assert recover_personal(v["message"], v["signature"]) == v["fields"]["address"]


def test_login_token_layout() -> None:
    token = vector("sign_in")["token"]
    secret = token["secret_utf8"].encode()
    assert issue_token(secret, token["address"], token["expires_at"]) == token["token"]
    address, expiry, mac = token["token"].split(".")
    assert (address, int(expiry)) == (token["address"], token["expires_at"])
    assert len(mac) == 43  # base64url of 32 bytes, no padding
    assert check_token(secret, token["token"], token["expires_at"] - 1) == token["address"]


def test_manager_request_message_and_signature() -> None:
    v = vector("manager_request")
    body = v["body_utf8"].encode()
    assert manager_message(v["method"], v["path"], body, v["timestamp"]) == v["message"]
    assert v["message"] == (
        f"Quartier manager request\n{v['method']} {v['path']}\n"
        f"body-sha256: {v['body_sha256']}\ntimestamp: {v['timestamp']}"
    )
    assert b(v["eip191_hash"]) == _eip191(v["message"])
    assert sign_personal(v["private_key"], v["message"]) == v["signature"]
    assert recover_personal(v["message"], v["signature"]) == v["manager"]


@pytest.mark.parametrize("code", vector("ean")["valid"])
def test_ean_valid_check_digits(code: str) -> None:
    weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(code[:-1])))
    assert (weighted + int(code[-1])) % 10 == 0
    assert gs1_check_digit(code[:-1]) == int(code[-1])
    assert ean_check_digit_ok(code)
    assert ean_problem(code) is None


@pytest.mark.parametrize("code", vector("ean")["invalid"])
def test_ean_wrong_check_digits(code: str) -> None:
    assert not ean_check_digit_ok(code)
    assert ean_problem(code) is not None


def test_units_lock_and_time_grid() -> None:
    v = vector("units")
    assert v["units_per_euro"] == 10 ** v["token_decimals"]
    for example in v["lock_examples"]:
        entries = [Entry(EntrySide.BUY, wh, price) for wh, price in example["buys"]]
        exact = sum(wh * price for wh, price in example["buys"])
        assert example["lock_units"] == -(-exact // 1000) == lock_units(entries)
    grid = TimeGrid(v["interval_seconds"], v["period_intervals"])
    for moment in v["intervals"]:
        assert moment["interval_id"] == moment["unix_seconds"] // v["interval_seconds"]
        assert grid.interval_at(moment["unix_seconds"]) == moment["interval_id"]
        assert grid.period_at(moment["unix_seconds"]) == moment["period_id"]


def test_every_value_quoted_in_the_formats_document_is_a_vector_value() -> None:
    # The document quotes hashes and signatures for readers; each must be the vectors' own
    # (a regenerated vector with a stale document fails here).
    document = (VECTORS.parent.parent / "ledger" / "FORMATS.md").read_text()
    frozen = " ".join(p.read_text() for p in VECTORS.glob("*.json")).lower()
    quoted = set(re.findall(r"0x[0-9a-fA-F]{40,}(?![0-9a-fA-F…])", document))
    assert len(quoted) >= 25
    constants = {f"0x{P256_ORDER:064x}"}
    assert sorted(q for q in quoted if q.lower() not in frozen and q not in constants) == []
    for name in (p.stem for p in VECTORS.glob("*.json")):
        assert f"tests/vectors/{name}.json" in document, name

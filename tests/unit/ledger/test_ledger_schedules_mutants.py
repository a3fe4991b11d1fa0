"""ledger.schedules beyond its digest: the typed data a wallet is shown is EIP-712's own shape
(a wallet hashes `types.EIP712Domain` as given, eth-account infers it), and each refusal
says what is wrong. Written for scripts/mutation's survivors (issue 17); the expected type
lists are EIP-712's and IQuartierExchange's, written out here.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from ledger.schedules import (
    NO_ENTRY,
    Entry,
    EntrySide,
    Schedule,
    ScheduleFormatError,
    SignedSchedule,
    schedule_signer,
    schedule_typed_data,
    sign_schedule,
    struct_hash_of,
    verify_schedule,
)
from ledger.signatures import SECP256K1_N

HOUSEHOLD = Account.from_key("0x" + "42" * 32)
EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337

#: EIP-712's domain type with the four fields the exchange's domain uses, in the order of
#: the standard ("EIP712Domain(string name,string version,uint256 chainId,address ...)").
EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
#: IQuartierExchange's Schedule struct.
SCHEDULE = [
    {"name": "household", "type": "address"},
    {"name": "periodId", "type": "uint64"},
    {"name": "version", "type": "uint32"},
    {"name": "firstIntervalId", "type": "uint64"},
    {"name": "entries", "type": "bytes"},
]


def _schedule() -> Schedule:
    return Schedule(
        household=HOUSEHOLD.address,
        period_id=20_420,
        version=3,
        first_interval_id=20_420 * 96 + 40,
        entries=(Entry(EntrySide.SELL, 1_200, 80_000), NO_ENTRY),
    )


def _encode_type(name: str, fields: list[dict[str, str]]) -> str:
    return name + "(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"


def test_the_typed_data_types_are_eip712s_domain_and_the_exchanges_schedule() -> None:
    typed = schedule_typed_data(_schedule(), CHAIN_ID, EXCHANGE)
    assert typed["types"] == {"EIP712Domain": EIP712_DOMAIN, "Schedule": SCHEDULE}
    assert typed["primaryType"] == "Schedule"
    # The type strings a wallet hashes are the contract's.
    assert keccak(text=_encode_type("EIP712Domain", typed["types"]["EIP712Domain"])) == keccak(
        text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    assert _encode_type("Schedule", typed["types"]["Schedule"]) == (
        "Schedule(address household,uint64 periodId,uint32 version,uint64 firstIntervalId,"
        "bytes entries)"
    )


def test_the_typed_data_message_and_domain_carry_the_schedule_and_the_exchange() -> None:
    schedule = _schedule()
    typed = schedule_typed_data(schedule, CHAIN_ID, EXCHANGE.lower())
    assert typed["domain"] == {
        "name": "Quartier",
        "version": "2",
        "chainId": CHAIN_ID,
        "verifyingContract": EXCHANGE,
    }
    assert typed["message"] == {
        "household": HOUSEHOLD.address,
        "periodId": 20_420,
        "version": 3,
        "firstIntervalId": 20_420 * 96 + 40,
        "entries": "0x"
        + (bytes([1]) + (1_200).to_bytes(3, "big") + (80_000).to_bytes(4, "big")).hex()
        + "00" * 8,
    }


def test_a_signature_of_another_length_is_refused_by_name() -> None:
    for length in (0, 64, 66):
        with pytest.raises(ScheduleFormatError) as refused:
            SignedSchedule(_schedule(), bytes(length))
        assert str(refused.value) == "a schedule signature is 65 bytes r || s || v"


def test_a_signature_no_key_recovers_from_is_named_and_never_verifies() -> None:
    # r = 5 passes the form rules, but 5^3 + 7 is no square mod p: no curve point has x = 5,
    # so no key recovers (ecrecover would answer address(0)).
    signature = (5).to_bytes(32, "big") + (1).to_bytes(32, "big") + bytes([27])
    signed = SignedSchedule(_schedule(), signature)
    with pytest.raises(ValueError, match=r"^no key recovers from this signature$"):
        schedule_signer(signed, CHAIN_ID, EXCHANGE)
    assert verify_schedule(signed, CHAIN_ID, EXCHANGE) is False


def test_a_high_s_twin_never_verifies() -> None:
    signed = sign_schedule(HOUSEHOLD.key, _schedule(), CHAIN_ID, EXCHANGE)
    assert verify_schedule(signed, CHAIN_ID, EXCHANGE) is True
    s = int.from_bytes(signed.signature[32:64], "big")
    twin = (
        signed.signature[:32]
        + (SECP256K1_N - s).to_bytes(32, "big")
        + bytes([55 - signed.signature[64]])
    )
    assert verify_schedule(SignedSchedule(signed.schedule, twin), CHAIN_ID, EXCHANGE) is False


def test_struct_hash_of_refuses_each_field_out_of_its_width_by_name() -> None:
    household = bytes.fromhex(HOUSEHOLD.address[2:])
    ok = struct_hash_of(household, 2**64 - 1, 2**32 - 1, 2**64 - 1, b"")
    assert len(ok) == 32
    with pytest.raises(ScheduleFormatError) as refused:
        struct_hash_of(household[:19], 1, 1, 1, b"")
    assert str(refused.value) == "a household address is 20 bytes"
    cases = [
        ((2**64, 1, 1), f"period_id must be an integer in [0, {2**64 - 1}], got {2**64}"),
        ((1, 2**32, 1), f"version must be an integer in [0, {2**32 - 1}], got {2**32}"),
        ((1, 1, -1), f"first_interval_id must be an integer in [0, {2**64 - 1}], got -1"),
    ]
    for (period_id, version, first), message in cases:
        with pytest.raises(ScheduleFormatError) as refused:
            struct_hash_of(household, period_id, version, first, b"")
        assert str(refused.value) == message


def test_a_schedule_refuses_each_field_by_name_and_keeps_its_entries_as_a_tuple() -> None:
    fields = {
        "household": HOUSEHOLD.address,
        "period_id": 1,
        "version": 1,
        "first_interval_id": 1,
        "entries": [NO_ENTRY],
    }
    schedule = Schedule(**fields)
    assert schedule.entries == (NO_ENTRY,)
    assert isinstance(schedule.entries, tuple)
    cases = [
        ("period_id", 2**64, f"period_id must be an integer in [0, {2**64 - 1}], got {2**64}"),
        ("version", -1, f"version must be an integer in [0, {2**32 - 1}], got -1"),
        (
            "first_interval_id",
            2**64,
            f"first_interval_id must be an integer in [0, {2**64 - 1}], got {2**64}",
        ),
        ("entries", [b"\x00" * 8], "entries must be Entry values"),
    ]
    for name, value, message in cases:
        with pytest.raises(ScheduleFormatError) as refused:
            Schedule(**{**fields, name: value})
        assert str(refused.value) == message

"""The v2 Schedule: the 8-byte entry codec, locks, EIP-712 digest, signatures, hash chain."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from ledger import entries as entries_module
from ledger import schedules as schedules_module
from ledger.errors import LedgerError
from ledger.schedules import (
    NO_ENTRY,
    EntriesFormatError,
    Entry,
    EntrySide,
    Schedule,
    ScheduleFormatError,
    SignedSchedule,
    decode_entries,
    encode_entries,
    first_small_entry,
    lock_units,
    posting_chain_head,
    schedule_digest,
    schedule_struct_hash,
    schedule_typed_data,
    sign_schedule,
    verify_schedule,
)

HOUSEHOLD = Account.from_key("0x" + "42" * 32)
EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

ENTRIES = st.lists(
    st.one_of(
        st.just(NO_ENTRY),
        st.builds(
            Entry,
            st.sampled_from([EntrySide.SELL, EntrySide.BUY]),
            st.integers(1, 2**24 - 1),
            st.integers(0, 2**32 - 1),
        ),
    ),
    max_size=96,
)


def _schedule(**changes: Any) -> Schedule:
    fields: dict[str, Any] = {
        "household": HOUSEHOLD.address,
        "period_id": 20_420,
        "version": 1,
        "first_interval_id": 20_420 * 96 + 40,
        "entries": (
            Entry(EntrySide.SELL, 1_200, 80_000),
            NO_ENTRY,
            Entry(EntrySide.BUY, 700, 250_000),
        ),
    }
    fields.update(changes)
    return Schedule(**fields)


def test_entry_bytes_are_side_uint24_energy_uint32_price() -> None:
    data = encode_entries([Entry(EntrySide.BUY, 0x010203, 0xA0B0C0D0), NO_ENTRY])
    assert data == bytes.fromhex("02010203a0b0c0d00000000000000000")
    assert decode_entries(data) == (Entry(EntrySide.BUY, 0x010203, 0xA0B0C0D0), NO_ENTRY)


@given(ENTRIES)
def test_entry_codec_round_trips(entries: list[Entry]) -> None:
    data = encode_entries(entries)
    assert len(data) == 8 * len(entries)
    assert decode_entries(data) == tuple(entries)


@pytest.mark.parametrize(
    ("data", "index", "reason"),
    [
        (bytes(7), -1, "8 bytes each"),
        (bytes(8) + bytes.fromhex("0300000100000001"), 1, "side 3"),
        (bytes.fromhex("0000000000000001"), 0, "all zeros"),
        (bytes.fromhex("0000000100000000"), 0, "all zeros"),
        (bytes(16) + bytes.fromhex("0100000000000005"), 2, "energy_wh >= 1"),
    ],
)
def test_malformed_entries_name_the_entry(data: bytes, index: int, reason: str) -> None:
    with pytest.raises(EntriesFormatError, match=reason) as refused:
        decode_entries(data)
    assert refused.value.entry_index == index
    assert isinstance(refused.value, LedgerError)


def test_entry_values_are_range_checked() -> None:
    with pytest.raises(ScheduleFormatError, match="energy_wh"):
        Entry(EntrySide.SELL, 2**24, 1)
    with pytest.raises(ScheduleFormatError, match="price_per_kwh"):
        Entry(EntrySide.BUY, 1, 2**32)
    with pytest.raises(ValueError, match="3 is not a valid EntrySide"):
        Entry(3, 1, 1)  # type: ignore[arg-type]


def test_min_entry_is_the_communitys_bound() -> None:
    entries = [NO_ENTRY, Entry(EntrySide.SELL, 50, 1), Entry(EntrySide.BUY, 49, 1)]
    assert first_small_entry(entries, 49) is None
    assert first_small_entry(entries, 50) == 2
    assert first_small_entry(entries, 51) == 1


def test_lock_is_the_ceiling_of_the_buy_entries_worst_cost() -> None:
    entries = [
        Entry(EntrySide.BUY, 700, 250_000),  # 175_000_000 milli-units
        Entry(EntrySide.SELL, 9_999, 999_999),  # sells lock nothing
        Entry(EntrySide.BUY, 3, 333),  # 999 milli-units: rounds the total up by 1
        NO_ENTRY,
    ]
    assert lock_units(entries) == 175_001
    assert lock_units([Entry(EntrySide.BUY, 1, 1000)]) == 1
    assert lock_units([]) == 0
    assert _schedule().lock_units == 175_000


def test_schedule_fields_are_checked() -> None:
    assert _schedule(household=HOUSEHOLD.address.lower()).household == HOUSEHOLD.address
    with pytest.raises(ScheduleFormatError, match="household"):
        _schedule(household="0x1234")
    with pytest.raises(ScheduleFormatError, match="version"):
        _schedule(version=2**32)
    with pytest.raises(ScheduleFormatError, match="Entry values"):
        _schedule(entries=(b"\x00" * 8,))
    assert _schedule().interval_ids() == range(20_420 * 96 + 40, 20_420 * 96 + 43)


def _eth_account_digest(schedule: Schedule, chain_id: int) -> bytes:
    message = encode_typed_data(full_message=schedule_typed_data(schedule, chain_id, EXCHANGE))
    return keccak(b"\x19" + message.version + message.header + message.body)


@given(
    period_id=st.integers(0, 2**64 - 1),
    version=st.integers(0, 2**32 - 1),
    first=st.integers(0, 2**64 - 1),
    entries=ENTRIES,
    chain_id=st.integers(1, 2**64),
)
def test_digest_equals_eth_account_eip712(
    period_id: int, version: int, first: int, entries: list[Entry], chain_id: int
) -> None:
    schedule = _schedule(
        period_id=period_id, version=version, first_interval_id=first, entries=entries
    )
    assert schedule_digest(schedule, chain_id, EXCHANGE) == _eth_account_digest(schedule, chain_id)


def test_every_field_changes_the_digest() -> None:
    base = schedule_digest(_schedule(), CHAIN_ID, EXCHANGE)
    changed = [
        _schedule(household=Account.create().address),
        _schedule(period_id=20_421),
        _schedule(version=2),
        _schedule(first_interval_id=20_420 * 96 + 41),
        _schedule(entries=(Entry(EntrySide.SELL, 1_200, 80_001), NO_ENTRY)),
        _schedule(entries=()),
    ]
    for schedule in changed:
        assert schedule_digest(schedule, CHAIN_ID, EXCHANGE) != base
    assert schedule_digest(_schedule(), CHAIN_ID + 1, EXCHANGE) != base
    assert schedule_digest(_schedule(), CHAIN_ID, "0x" + "11" * 20) != base


def test_signature_is_r_s_v_low_s_and_recovers_the_household() -> None:
    for version in range(16):  # s is random: enough draws to have met high s before signing
        schedule = _schedule(version=version)
        signed = sign_schedule(HOUSEHOLD.key, schedule, CHAIN_ID, EXCHANGE)
        r, s, v = (
            int.from_bytes(signed.signature[:32], "big"),
            int.from_bytes(signed.signature[32:64], "big"),
            signed.signature[64],
        )
        assert v in (27, 28)
        assert 0 < r < SECP256K1_ORDER
        assert 0 < s <= SECP256K1_ORDER // 2
        digest = schedule_digest(schedule, CHAIN_ID, EXCHANGE)
        assert Account._recover_hash(digest, signature=signed.signature) == HOUSEHOLD.address
        # A wallet signing the typed data produces the very same signature (RFC 6979).
        wallet = Account.sign_typed_data(
            HOUSEHOLD.key, full_message=schedule_typed_data(schedule, CHAIN_ID, EXCHANGE)
        )
        assert bytes(wallet.signature) == signed.signature


def test_only_the_households_key_signs_its_schedule() -> None:
    with pytest.raises(ScheduleFormatError, match="cannot sign"):
        sign_schedule(Account.create().key, _schedule(), CHAIN_ID, EXCHANGE)
    with pytest.raises(ScheduleFormatError, match="65 bytes"):
        SignedSchedule(_schedule(), bytes(64))


def test_abi_shapes() -> None:
    schedule = _schedule()
    signed = sign_schedule(HOUSEHOLD.key, schedule, CHAIN_ID, EXCHANGE)
    assert signed.as_abi() == (
        (HOUSEHOLD.address, 20_420, 1, 20_420 * 96 + 40, schedule.entries_bytes),
        signed.signature,
    )
    assert schedule.as_posting() == (1, 20_420 * 96 + 40, schedule.entries_bytes)
    again = Schedule.from_entries_bytes(
        HOUSEHOLD.address, 20_420, 1, 20_420 * 96 + 40, schedule.entries_bytes
    )
    assert again == schedule


def _link(head: bytes, schedule: Schedule) -> bytes:
    # The exchange keeps the high 192 bits of each link (IQuartierExchange, "Schedules").
    full = keccak(abi_encode(["bytes32", "bytes32"], [head, schedule_struct_hash(schedule)]))
    return full[:24] + bytes(8)


def test_posting_chain_head_folds_struct_hashes_in_order() -> None:
    first, second = _schedule(version=1), _schedule(version=2, entries=())
    assert posting_chain_head([]) == bytes(32)
    one = _link(bytes(32), first)
    assert posting_chain_head([first]) == one
    two = _link(one, second)
    assert posting_chain_head([first, second]) == two
    assert posting_chain_head([second, first]) != two
    assert posting_chain_head([second], head=one) == two
    assert two.endswith(bytes(8))
    assert two[:24] != bytes(24)


def _twin(signed: SignedSchedule, s: int, v: int) -> SignedSchedule:
    return SignedSchedule(
        signed.schedule, signed.signature[:32] + s.to_bytes(32, "big") + bytes([v])
    )


def test_verification_takes_exactly_the_canonical_signature_of_the_household() -> None:
    signed = sign_schedule(HOUSEHOLD.key, _schedule(), CHAIN_ID, EXCHANGE)
    assert verify_schedule(signed, CHAIN_ID, EXCHANGE)
    s, v = int.from_bytes(signed.signature[32:64], "big"), signed.signature[64]
    # The high-s twin recovers the same household, yet the exchange refuses it: so do we.
    high = _twin(signed, SECP256K1_ORDER - s, 55 - v)
    digest = schedule_digest(signed.schedule, CHAIN_ID, EXCHANGE)
    assert Account._recover_hash(digest, signature=high.signature) == HOUSEHOLD.address
    assert not verify_schedule(high, CHAIN_ID, EXCHANGE)
    assert not verify_schedule(_twin(signed, s, v - 27), CHAIN_ID, EXCHANGE)  # raw v 0/1
    assert not verify_schedule(signed, CHAIN_ID + 1, EXCHANGE)
    other = sign_schedule(HOUSEHOLD.key, _schedule(version=9), CHAIN_ID, EXCHANGE)
    assert not verify_schedule(SignedSchedule(_schedule(), other.signature), CHAIN_ID, EXCHANGE)
    assert not verify_schedule(_twin(signed, 0, v), CHAIN_ID, EXCHANGE)


def test_the_entry_codec_imports_no_chain_library() -> None:
    # api.settlement (the pure rule) may share it only if it drags in no chain code.
    probe = (
        "import sys, ledger.entries; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'eth_abi', 'eth_account', 'eth_keys', 'eth_utils', 'web3', 'cryptography'}))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip() == "[]"
    assert schedules_module.Entry is entries_module.Entry
    assert schedules_module.decode_entries is entries_module.decode_entries

"""The intake's fast paths give exactly what the forms they replace give: the reading's struct
hash without eth_abi, the cached meter id and P-256 key, a stored schedule's entries as plain
ints."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from api.schedules.schemas import SIDE_NAME, schedule_json
from ledger.entries import Entry, EntrySide, decode_entries, encode_entries
from metering.reading import (
    PublicKey,
    Reading,
    abi_struct_hash,
    meter_id_of,
    sign_reading,
    struct_hash,
    verify_signed_reading,
)
from metering.signing import is_valid_signature

_UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
EXCHANGE = "0x5FbDB2315678afecb367f032d315c3E4C73e6bE3"


@given(st.binary(min_size=32, max_size=32), _UINT64, _UINT64, _UINT64, _UINT64)
def test_the_reading_struct_hash_is_the_abi_encoded_one(
    meter_id: bytes, interval_id: int, imported: int, exported: int, seq: int
) -> None:
    reading = Reading(meter_id, interval_id, imported, exported, seq)
    assert struct_hash(reading) == abi_struct_hash(reading)


def test_a_cached_key_still_verifies_only_its_own_signatures() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = PublicKey.from_cryptography(key.public_key())
    reading = Reading(meter_id_of(public), 7, 1_000, 500, 1)
    signed = sign_reading(key, reading, 31337, EXCHANGE)
    for _ in range(2):  # the second time from the caches
        assert verify_signed_reading(signed, 31337, EXCHANGE)
        assert not verify_signed_reading(signed, 31338, EXCHANGE)
    other = PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert meter_id_of(other) != meter_id_of(public)
    # A point off the curve is refused every time, never cached as a key.
    for _ in range(2):
        assert not is_valid_signature(public.x, public.y + 1, bytes(32), signed.r, signed.s)


@given(
    st.lists(
        st.sampled_from([EntrySide.SELL, EntrySide.BUY]).flatmap(
            lambda side: st.builds(
                Entry,
                st.just(side),
                st.integers(min_value=1, max_value=2**24 - 1),
                st.integers(min_value=0, max_value=2**32 - 1),
            )
        )
        | st.just(Entry(EntrySide.NONE, 0, 0)),
        min_size=1,
        max_size=96,
    )
)
def test_stored_entries_answer_as_decode_entries_reads_them(entries: list[Entry]) -> None:
    fields = {
        "schedule_hash": "0x" + "ab" * 32,
        "household": "0x" + "12" * 20,
        "period_id": 3,
        "version": 1,
        "first_interval_id": 300,
        "entries": "0x" + encode_entries(entries).hex(),
        "signature": "0x" + "00" * 65,
        "lock_units": 0,
        "status": "pending",
        "reason": None,
        "tx_hash": None,
    }
    expected = [
        {"side": SIDE_NAME[e.side], "energy_wh": e.energy_wh, "price_per_kwh": e.price_per_kwh}
        for e in decode_entries(encode_entries(entries))
    ]
    assert schedule_json(fields)["entries"] == expected

"""The schedules intake's form, signature, version and escrow rules (api.schedules.service),
each checked against the library form it replaces (ledger.schedules / ledger.entries) or the
exchange's rule it mirrors. The period, gate and membership rules need the chain: tests/api
checks them against Anvil. Written against scripts/mutation's intake group (issue 17).
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from api.schedules.errors import ScheduleRejectedError
from api.schedules.models import ScheduleStatus
from api.schedules.schemas import ScheduleIn
from api.schedules.service import (
    MAX_POSTINGS_PER_PERIOD,
    _Stored,
    check_versions,
    intake_of,
    pack_entries,
    promised_units,
    recover_household,
)
from ledger.entries import Entry, EntrySide, ScheduleFormatError, encode_entries, lock_units
from ledger.schedules import Schedule, schedule_body, schedule_digest, sign_schedule
from ledger.signatures import SECP256K1_N

CHAIN_ID = 31337
EXCHANGE = "0x5FbDB2315678afecb367f032d315c3E4C73e6bE3"
SIDES = {EntrySide.NONE: "none", EntrySide.SELL: "sell", EntrySide.BUY: "buy"}

_ENTRY = st.one_of(
    st.just(Entry(EntrySide.NONE, 0, 0)),
    st.builds(
        Entry,
        st.sampled_from([EntrySide.SELL, EntrySide.BUY]),
        st.integers(min_value=1, max_value=2**24 - 1),
        st.integers(min_value=0, max_value=2**32 - 1),
    ),
)


def body_entry(entry: Entry) -> Any:
    return {
        "side": SIDES[entry.side],
        "energy_wh": entry.energy_wh,
        "price_per_kwh": entry.price_per_kwh,
    }


@given(st.lists(_ENTRY, max_size=12))
def test_packed_entries_are_the_codec_s_bytes_lock_and_active_entries(
    entries: list[Entry],
) -> None:
    data, lock, active = pack_entries([body_entry(e) for e in entries])
    assert data == encode_entries(entries)
    assert lock == lock_units(entries)
    assert active == tuple(
        (index, e.energy_wh) for index, e in enumerate(entries) if e.side != EntrySide.NONE
    )


def test_the_lock_rounds_up_and_counts_buy_entries_only() -> None:
    entries: list[Any] = [
        {"side": "buy", "energy_wh": 1, "price_per_kwh": 1},  # 0.001 units -> 1
        {"side": "sell", "energy_wh": 5_000, "price_per_kwh": 999_999},
        {"side": "buy", "energy_wh": 2, "price_per_kwh": 1_000},  # 2 units
    ]
    assert pack_entries(entries)[1] == 3
    assert pack_entries(entries[2:])[1] == 2
    assert pack_entries([])[0:2] == (b"", 0)


@pytest.mark.parametrize(
    ("entry", "detail"),
    [
        ({"side": "none", "energy_wh": 1, "price_per_kwh": 0}, "a none entry is all zeros"),
        ({"side": "none", "energy_wh": 0, "price_per_kwh": 1}, "a none entry is all zeros"),
        (
            {"side": "sell", "energy_wh": 0, "price_per_kwh": 5},
            "a sell or buy entry has energy_wh >= 1",
        ),
        (
            {"side": "buy", "energy_wh": 0, "price_per_kwh": 5},
            "a sell or buy entry has energy_wh >= 1",
        ),
    ],
)
def test_entries_the_codec_refuses_are_named_by_index(entry: Any, detail: str) -> None:
    good: Any = {"side": "none", "energy_wh": 0, "price_per_kwh": 0}
    with pytest.raises(ScheduleFormatError) as raised:
        pack_entries([good, entry])
    assert str(raised.value) == f"entry 1: {detail}"


def signed_body(account: Any, entries: tuple[Entry, ...] = ()) -> tuple[Schedule, dict[str, Any]]:
    schedule = Schedule(account.address, 7, 3, 28, entries)
    signed = sign_schedule(account.key, schedule, CHAIN_ID, EXCHANGE)
    return schedule, schedule_body(schedule, signed.signature)


def test_an_intake_is_the_schedule_s_wire_form_and_recovers_its_household() -> None:
    account = Account.create()
    entries = (Entry(EntrySide.BUY, 600, 200_000), Entry(EntrySide.NONE, 0, 0))
    schedule, body = signed_body(account, entries)
    body["household"] = account.address.lower()  # any case of the address
    intake = intake_of(ScheduleIn.model_validate(body))
    assert intake.household == account.address
    assert intake.household_bytes == bytes.fromhex(account.address[2:])
    assert (intake.period_id, intake.version, intake.first_interval_id) == (7, 3, 28)
    assert intake.entries == schedule.entries_bytes
    assert intake.entry_count == 2
    assert intake.lock_units == schedule.lock_units == 120_000
    assert intake.active == ((0, 600),)
    assert intake.signature == bytes.fromhex(body["signature"][2:])
    digest = schedule_digest(schedule, CHAIN_ID, EXCHANGE)
    assert recover_household(intake, digest) == intake.household_bytes
    other = schedule_digest(Schedule(account.address, 7, 4, 28, entries), CHAIN_ID, EXCHANGE)
    assert recover_household(intake, other) != intake.household_bytes


def test_a_bad_household_or_entry_is_a_malformed_schedule() -> None:
    account = Account.create()
    _, body = signed_body(account)
    # The body's pattern lets only 0x + 40 hex digits through; the service checks again
    # (a body built without the model's validation, as a caller inside the service could).
    body["household"] = "0x1234"
    with pytest.raises(ScheduleRejectedError) as raised:
        intake_of(ScheduleIn.model_construct(**body))
    assert (raised.value.slug, raised.value.detail) == (
        "malformed-schedule",
        "household is not an address: '0x1234'",
    )
    assert raised.value.http_status == 422
    _, body = signed_body(account)
    body["entries"] = [{"side": "buy", "energy_wh": 0, "price_per_kwh": 1}]
    with pytest.raises(ScheduleRejectedError) as raised:
        intake_of(ScheduleIn.model_validate(body))
    assert (raised.value.slug, raised.value.detail) == (
        "malformed-schedule",
        "entry 0: a sell or buy entry has energy_wh >= 1",
    )


@pytest.mark.parametrize(
    ("twist", "rule"),
    [
        (lambda r, s, v: (r, SECP256K1_N - s, 55 - v), "high-s"),
        (lambda r, s, v: (r, s, v - 27), "v"),
        (lambda r, s, v: (0, s, v), "r"),
        (lambda r, s, v: (r, 0, v), "s"),
    ],
)
def test_a_signature_the_contracts_refuse_is_named_by_its_rule(twist: Any, rule: str) -> None:
    account = Account.create()
    schedule, body = signed_body(account)
    raw = bytes.fromhex(body["signature"][2:])
    r, s, v = twist(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64])
    body["signature"] = "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()
    intake = intake_of(ScheduleIn.model_validate(body))
    with pytest.raises(ScheduleRejectedError) as raised:
        recover_household(intake, schedule_digest(schedule, CHAIN_ID, EXCHANGE))
    error = raised.value
    assert error.slug == "invalid-schedule-signature"
    assert error.detail.startswith("signature refused: ")
    assert error.facts == {
        "household": account.address,
        "period_id": 7,
        "version": 3,
        "rule": rule,
    }


def row(version: int, status: str = ScheduleStatus.PENDING, period: int = 7, **kw: Any) -> _Stored:
    fields = {"lock_units": 10, "posted_block": None, **kw}
    return _Stored(f"0x{version:064x}", period, version, status, **fields)


def intake(version: int) -> Any:
    account = Account.create()
    schedule = Schedule(account.address, 7, version, 28, ())
    signed = sign_schedule(account.key, schedule, CHAIN_ID, EXCHANGE)
    return intake_of(ScheduleIn.model_validate(schedule_body(schedule, signed.signature)))


def reason(rows: list[_Stored], version: int) -> tuple[str, str, dict[str, object]] | None:
    schedule = intake(version)
    try:
        check_versions(rows, schedule)
    except ScheduleRejectedError as error:
        refused = error
    else:
        return None
    assert refused.facts["household"] == schedule.household
    assert refused.facts["period_id"] == 7
    facts = {k: v for k, v in refused.facts.items() if k not in ("household", "period_id")}
    return refused.slug, refused.detail, facts


def test_versions_strictly_increase_per_household_and_period() -> None:
    assert reason([], 1) is None
    rows = [row(2), row(5, ScheduleStatus.POSTED), row(9, period=8)]
    assert reason(rows, 6) is None
    assert reason(rows, 5) == (
        "version-conflict",
        "version 5 of this period is already taken by another schedule",
        {"version": 5, "existing_schedule_hash": f"0x{5:064x}"},
    )
    assert reason(rows, 4) == (
        "stale-version",
        "version 4 is not above the last stored version 5",
        {"version": 4, "last_version": 5},
    )
    # Another period's versions do not count.
    assert reason([row(9, period=8)], 3) is None


def test_at_most_the_exchange_s_postings_per_period_refused_ones_aside() -> None:
    full = [row(v) for v in range(1, MAX_POSTINGS_PER_PERIOD + 1)]
    last = MAX_POSTINGS_PER_PERIOD + 1
    assert reason(full, last) == (
        "too-many-postings",
        f"at most {MAX_POSTINGS_PER_PERIOD} schedules per household and period",
        {"version": last},
    )
    assert reason(full[:-1], last) is None
    refused = [*full[:-1], row(MAX_POSTINGS_PER_PERIOD, ScheduleStatus.REFUSED)]
    assert reason(refused, last) is None
    other_period = [*full[:-1], row(MAX_POSTINGS_PER_PERIOD, period=8)]
    assert reason(other_period, last) is None


def test_promised_escrow_is_pending_and_posted_after_the_escrow_s_block() -> None:
    rows = [
        row(1, ScheduleStatus.PENDING, lock_units=3),
        row(2, ScheduleStatus.POSTED, lock_units=5, posted_block=100),
        row(3, ScheduleStatus.POSTED, lock_units=7, posted_block=101),
        row(4, ScheduleStatus.REFUSED, lock_units=11),
        row(5, ScheduleStatus.POSTED, lock_units=13, posted_block=None),
    ]
    assert promised_units(rows, 100) == 3 + 7
    assert promised_units(rows, 99) == 3 + 5 + 7
    assert promised_units(rows, 101) == 3
    assert promised_units([], 0) == 0
    # A posted row without its block (not yet known) promises nothing, even at block 0.
    assert promised_units([row(5, ScheduleStatus.POSTED, lock_units=13)], 0) == 0

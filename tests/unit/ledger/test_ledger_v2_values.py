"""The v2 value types of ledger/: rules and time grid, settlement tuples, PeriodCleared."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from eth_utils.address import to_checksum_address

from ledger.community import Window
from ledger.events_v2 import ClearedInterval, PeriodCleared, RulesScheduled
from ledger.exchange import HouseholdPeriod, MeterData, MeterSource
from ledger.rules import Mechanism, Rules, RulesFormatError, TimeGrid
from ledger.schedules import NO_ENTRY, Entry, EntrySide, Schedule
from metering.period import MeterPeriod, sign_meter_period
from metering.reading import PublicKey, meter_id_of

RULES = Rules(Mechanism.PAY_AS_BID, 60, 3600, 10, 50_000, 350_000, 150_000)


def test_rules_round_trip_their_abi_tuple_in_solidity_order() -> None:
    assert RULES.as_abi() == (1, 60, 3600, 10, 50_000, 350_000, 150_000)
    assert Rules.from_abi(list(RULES.as_abi())) == RULES
    assert Rules.from_abi((2, 0, 0, 1, 0, 0, 0)).mechanism is Mechanism.COMMUNITY_PRICE
    # An event carries the tuple; the dataclass turns it into Rules.
    assert RulesScheduled(7, RULES.as_abi()).rules == RULES  # type: ignore[arg-type]


def test_rules_refuse_values_their_solidity_types_cannot_hold() -> None:
    with pytest.raises(RulesFormatError, match="gate_lead_seconds"):
        Rules(Mechanism.PAY_AS_CLEAR, 2**32, 0, 1, 0, 0, 0)
    with pytest.raises(RulesFormatError, match="price_ceiling_per_kwh"):
        Rules(Mechanism.PAY_AS_CLEAR, 0, 0, 1, 0, -1, 0)
    with pytest.raises(ValueError, match="3 is not a valid Mechanism"):
        Rules.from_abi((3, 0, 0, 1, 0, 0, 0))
    with pytest.raises(RulesFormatError, match="positive"):
        TimeGrid(900, 0)


def test_time_grid_follows_the_communitys_numbering() -> None:
    grid = TimeGrid(interval_seconds=60, period_intervals=4)
    assert grid.interval_at(1_000_019) == 16_666
    assert grid.period_at(1_000_019) == 4_166
    assert grid.intervals(4_166) == range(16_664, 16_668)
    assert (grid.period_start(4_166), grid.period_end(4_166)) == (999_840, 1_000_080)
    assert grid.interval_end(16_664) == grid.interval_start(16_665) == 999_900
    assert grid.gate(16_665, RULES) == 999_840
    assert grid.settlement_deadline(4_166, RULES) == 1_000_080 + 3600


def test_window_counts_only_when_valid_over_the_whole_interval() -> None:
    member = Window(admitted_at=100, removed_at=0)
    assert member.counts_for(100, 160)
    assert not member.counts_for(99, 159)  # admitted during the interval
    removed = Window(admitted_at=100, removed_at=220)
    assert removed.counts_for(160, 220)  # removed exactly at the end: still counts
    assert not removed.counts_for(200, 260)
    assert not Window(0, 0).counts_for(0, 60)  # never admitted


def test_period_cleared_unpacks_16_bytes_per_interval() -> None:
    packed = (7).to_bytes(8, "big") + (300).to_bytes(4, "big") + (250).to_bytes(4, "big")
    packed += bytes(16)
    assert PeriodCleared(3, packed).cleared() == (
        ClearedInterval(7, 300, 250),
        ClearedInterval(0, 0, 0),
    )


def test_settlement_tuples_follow_the_abi() -> None:
    key = ec.derive_private_key(0xBEEF, ec.SECP256R1())
    meter_id = meter_id_of(PublicKey.from_cryptography(key.public_key()))
    period = MeterPeriod(meter_id, 5, 1_000, 20, ((3, 0), (0, 4)))
    signed = sign_meter_period(key, period, 31337, "0x" + "22" * 20)
    assert MeterData.none().as_abi() == (0, 0, 0, b"", b"")
    assert MeterData.posted(period).as_abi() == (1, 1_000, 20, period.deltas_bytes, b"")
    inline = MeterData.inline(signed)
    assert inline.source is MeterSource.INLINE
    assert inline.as_abi() == (2, 1_000, 20, period.deltas_bytes, signed.signature)
    household = "0x" + "ab" * 20
    schedule = Schedule(household, 5, 3, 20, (Entry(EntrySide.SELL, 10, 1), NO_ENTRY))
    abi = HouseholdPeriod(household, (schedule,), (inline,)).as_abi()
    assert abi[0] == to_checksum_address(household)
    assert abi[1] == [(3, 20, bytes.fromhex("0100000a000000010000000000000000"))]
    assert abi[2] == [inline.as_abi()]

"""The byte layouts of IQuartierExchange and the errors for input the contract refuses."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from settlement_strategies import GRID, PERIOD, address, plan

from api.settlement import (
    NO_ENTRY,
    EncodingError,
    Entry,
    HouseholdInput,
    InvalidEntriesError,
    InvalidHintsError,
    InvalidHouseholdsError,
    InvalidMeterDataError,
    InvalidPostingError,
    InvalidRulesError,
    Mechanism,
    MeterInput,
    Posting,
    Rules,
    Side,
    TimeGrid,
    Window,
    decode_deltas,
    decode_entries,
    decode_hints,
    encode_deltas,
    encode_entries,
    encode_hints,
    lock_units,
    pack_cleared_intervals,
    settle_period,
    unpack_cleared_intervals,
)
from ledger.entries import Entry as LedgerEntry
from ledger.entries import EntrySide
from ledger.rules import Rules as LedgerRules

RULES = Rules(Mechanism.PAY_AS_CLEAR, 0, 0, 5, 0, 100, 50)
FIRST = GRID.first_interval(PERIOD)

entries_st = st.one_of(
    st.just(NO_ENTRY),
    st.builds(
        Entry,
        st.sampled_from([Side.SELL, Side.BUY]),
        st.integers(1, 2**24 - 1),
        st.integers(0, 2**32 - 1),
    ),
)


def test_entry_bytes_are_side_uint24_energy_uint32_price_big_endian() -> None:
    data = encode_entries([Entry(Side.SELL, 0x010203, 0x0A0B0C0D), NO_ENTRY, Entry(Side.BUY, 1, 2)])
    assert data == bytes.fromhex("01010203 0a0b0c0d 00000000 00000000 02000001 00000002")


@given(st.lists(entries_st, max_size=20))
def test_entries_round_trip(entries: list[Entry]) -> None:
    assert decode_entries(encode_entries(entries)) == tuple(entries)


@pytest.mark.parametrize(
    ("data", "entry_index"),
    [
        (bytes(7), -1),  # not a multiple of 8
        (bytes.fromhex("00000000 00000000 03000001 00000001"), 1),  # side 3
        (bytes.fromhex("00000001 00000000"), 0),  # none with energy
        (bytes.fromhex("00000000 00000001"), 0),  # none with a price
        (bytes.fromhex("01000004 00000001"), 0),  # 4 Wh < min entry 5
        (bytes.fromhex("02000000 00000001"), 0),  # 0 Wh
    ],
)
def test_malformed_entries_name_the_entry(data: bytes, entry_index: int) -> None:
    with pytest.raises(InvalidEntriesError) as raised:
        decode_entries(data, min_entry_wh=5)
    assert raised.value.entry_index == entry_index


@pytest.mark.parametrize(
    ("side", "energy_wh", "price"),
    [(Side.SELL, 2**24, 0), (Side.BUY, 1, 2**32), (Side.SELL, -1, 0), (Side.NONE, 1, 0)],
)
def test_entry_values_outside_their_fields_are_refused(
    side: Side, energy_wh: int, price: int
) -> None:
    with pytest.raises(InvalidEntriesError):
        Entry(side, energy_wh, price)


def test_lock_is_the_ceiling_of_buys_only() -> None:
    assert lock_units(plan([Entry(Side.BUY, 1, 1)])) == 1  # 0.001 units rounds up
    assert lock_units(plan([Entry(Side.BUY, 1000, 1)])) == 1
    assert lock_units(plan([Entry(Side.BUY, 1001, 1), None, Entry(Side.SELL, 5000, 90)])) == 2
    assert lock_units(plan([Entry(Side.BUY, 2**24 - 1, 2**32 - 1)])) == -(
        -(2**24 - 1) * (2**32 - 1) // 1000
    )
    assert lock_units(b"") == 0
    with pytest.raises(InvalidEntriesError):
        lock_units(bytes(9))


def test_deltas_are_uint32_import_then_export() -> None:
    data = encode_deltas([(1, 2), (0xFFFFFFFF, 0)])
    assert data == bytes.fromhex("00000001 00000002 ffffffff 00000000")
    assert decode_deltas(data, 2) == ([1, 0xFFFFFFFF], [2, 0])
    with pytest.raises(InvalidMeterDataError):
        decode_deltas(data, 3)
    with pytest.raises(EncodingError):
        encode_deltas([(2**32, 0)])


claims_st = st.lists(
    st.none()
    | st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)).map(
        lambda pair: (min(pair), max(pair))
    ),
    min_size=1,
    max_size=6,
)


def test_hints_are_a_tag_then_the_marginal_pair() -> None:
    data = encode_hints([(120, 130), None])
    assert data == bytes.fromhex("01 00000078 00000082 00")


@given(claims_st)
def test_hints_round_trip(claims: list[tuple[int, int] | None]) -> None:
    data = encode_hints(claims)
    assert decode_hints(data, len(claims)) == tuple(claims)


def test_a_claim_with_ask_above_bid_is_not_encoded() -> None:
    with pytest.raises(EncodingError):
        encode_hints([(131, 130)])


@pytest.mark.parametrize(
    ("data", "intervals"),
    [
        (b"", 1),  # no claim
        (bytes.fromhex("01 00000078"), 1),  # cut inside the prices
        (bytes.fromhex("02 00000078 00000082"), 1),  # unknown tag
        (bytes.fromhex("01 00000083 00000082"), 1),  # ask above bid
        (bytes.fromhex("00 00"), 1),  # a byte left over
        (bytes.fromhex("00"), 2),  # one interval missing
    ],
)
def test_malformed_hints_are_refused(data: bytes, intervals: int) -> None:
    with pytest.raises(InvalidHintsError):
        decode_hints(data, intervals)


def test_period_cleared_rows_are_uint64_uint32_uint32() -> None:
    data = pack_cleared_intervals([(2**64 - 1, 7, 5), (0, 0, 0)])
    assert data == bytes.fromhex("ffffffffffffffff 00000007 00000005" + "00" * 16)
    assert unpack_cleared_intervals(data) == ((2**64 - 1, 7, 5), (0, 0, 0))
    with pytest.raises(EncodingError):
        pack_cleared_intervals([(0, 2**32, 0)])


def test_time_grid_arithmetic() -> None:
    grid = TimeGrid()  # 900 s, 96 intervals: one UTC day
    assert grid.interval_at(1_764_547_200) == 1_960_608  # 2025-12-01T00:00Z
    assert grid.period_at(1_764_547_200) == 20_423
    assert grid.intervals(20_423)[0] == 1_960_608
    assert grid.period_start(20_423) == 1_764_547_200
    assert grid.period_end(20_423) == 1_764_547_200 + 86_400
    assert grid.interval_end(5) == grid.interval_start(6) == 5_400
    assert grid.gate(6, RULES) == 5_400  # gate lead 0
    lead = Rules(Mechanism.PAY_AS_CLEAR, 300, 7200, 1, 0, 100, 50)
    assert grid.gate(6, lead) == 5_100
    assert grid.settlement_deadline(0, lead) == 86_400 + 7_200
    with pytest.raises(InvalidRulesError):
        TimeGrid(0, 96)
    with pytest.raises(InvalidRulesError):
        TimeGrid(900, 0)


def test_window_counts_only_whole_intervals() -> None:
    assert Window(100).counts_for(100, 200)
    assert not Window(101).counts_for(100, 200)
    assert Window(0, 200).counts_for(100, 200)
    assert not Window(0, 199).counts_for(100, 200)


@pytest.mark.parametrize(
    "values",
    [
        (Mechanism.PAY_AS_CLEAR, 0, 0, 0, 0, 100, 50),  # min entry 0
        (Mechanism.PAY_AS_CLEAR, 0, 0, 1, 101, 100, 100),  # floor above ceiling
        (Mechanism.COMMUNITY_PRICE, 0, 0, 1, 10, 100, 101),  # c above ceiling
        (Mechanism.COMMUNITY_PRICE, 0, 0, 1, 10, 100, 9),  # c below floor
        (Mechanism.PAY_AS_CLEAR, -1, 0, 1, 0, 100, 50),
        (Mechanism.PAY_AS_CLEAR, 0, 0, 1, 0, 2**64, 50),
    ],
)
def test_rules_out_of_bounds_are_refused(
    values: tuple[Mechanism, int, int, int, int, int, int],
) -> None:
    with pytest.raises(InvalidRulesError):
        Rules(*values)


def _one(
    postings: tuple[Posting, ...], meters: tuple[MeterInput, ...] = ()
) -> list[HouseholdInput]:
    return [HouseholdInput(address(1), Window(0), postings, meters)]


@pytest.mark.parametrize(
    "postings",
    [
        (Posting(1, FIRST - 1, b""),),  # starts before the period
        (Posting(1, FIRST + GRID.period_intervals, b""),),  # starts after it
        (Posting(1, FIRST + 3, plan([None, None])),),  # runs past its end
        (Posting(2, FIRST, b""), Posting(2, FIRST, b"")),  # version not increasing
        (Posting(1, FIRST, plan([Entry(Side.SELL, 4, 1)])),),  # below min entry 5
        (Posting(1, FIRST, bytes(12)),),
    ],
)
def test_postings_the_contract_refuses_are_refused(postings: tuple[Posting, ...]) -> None:
    with pytest.raises(InvalidPostingError):
        settle_period(RULES, GRID, PERIOD, _one(postings))


def test_household_lists_the_contract_refuses_are_refused() -> None:
    posting = (Posting(1, FIRST, b""),)
    twice = [
        HouseholdInput("0x" + "ab" * 20, Window(0), posting),
        HouseholdInput("0x" + "AB" * 20, Window(0), posting),
    ]
    with pytest.raises(InvalidHouseholdsError, match="twice"):
        settle_period(RULES, GRID, PERIOD, twice)
    for bad in ("0x1234", "ab" * 21, "0x" + "g" * 40):
        with pytest.raises(InvalidHouseholdsError):
            settle_period(RULES, GRID, PERIOD, [HouseholdInput(bad, Window(0), posting)])
    with pytest.raises(InvalidHouseholdsError, match="no posting"):
        settle_period(RULES, GRID, PERIOD, _one(()))
    short = (MeterInput(Window(0), bytes(8 * GRID.period_intervals - 8)),)
    with pytest.raises(InvalidMeterDataError, match=address(1)):
        settle_period(RULES, GRID, PERIOD, _one(posting, short))


@pytest.mark.parametrize(
    ("version", "first", "data"),
    [(-1, 0, b""), (2**32, 0, b""), (1, 2**64, b""), (1, 0, "00")],
)
def test_posting_fields_outside_their_types_are_refused(
    version: int, first: int, data: object
) -> None:
    with pytest.raises(InvalidPostingError):
        Posting(version, first, data)  # type: ignore[arg-type]


def test_the_rule_imports_no_chain_library() -> None:
    # The rule shares ledger.entries and ledger.rules only because they drag in no chain code.
    probe = (
        "import sys, api.settlement; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'eth_abi', 'eth_account', 'eth_keys', 'eth_utils', 'web3', 'cryptography'}))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert answer.stdout.strip() == "[]"
    assert Side is EntrySide
    assert issubclass(Entry, LedgerEntry)
    assert issubclass(Rules, LedgerRules)

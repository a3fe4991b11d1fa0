"""community.toml's Brussels dates as the chain's periods (ledger.sharing_keys.chain_key_of):
consecutive keys get consecutive periods, no gap and no overlap, every period start inside
the key's dates, summer time included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.community_config.sharing import SharingEntry
from ledger.dso.calendar import BRUSSELS
from ledger.dso.errors import KeyConfigError
from ledger.sharing_keys import NO_END, ChainKey, chain_key_of, first_period_of

MEMBERS = [("Alice", "0x" + "11" * 20), ("Bruno", "0x" + "22" * 20)]
DAY = 86_400


def _entry(start: date, end: date | None) -> SharingEntry:
    return SharingEntry(valid_from=start, valid_until=end, cascade=["equal"])


@given(
    start=st.dates(date(2026, 1, 1), date(2040, 12, 31)),
    lengths=st.lists(st.integers(1, 400), min_size=1, max_size=4),
    period_seconds=st.sampled_from([900, 3600, DAY]),
)
def test_consecutive_dates_give_consecutive_periods(
    start: date, lengths: list[int], period_seconds: int
) -> None:
    keys = []
    for length in lengths:
        end = start + timedelta(days=length - 1)
        key = chain_key_of(_entry(start, end), MEMBERS, period_seconds)
        assert key.valid_until_period is not None
        # Every period of the key starts within its Brussels dates; the one before does not.
        begins, ends = _brussels_midnight(start), _brussels_midnight(end + timedelta(days=1))
        assert (key.valid_from_period - 1) * period_seconds < begins
        assert begins <= key.valid_from_period * period_seconds
        assert key.valid_until_period * period_seconds < ends
        assert ends <= (key.valid_until_period + 1) * period_seconds
        keys.append(key)
        start = end + timedelta(days=1)
    for before, after in pairwise(keys):
        assert before.valid_until_period is not None
        assert before.valid_until_period + 1 == after.valid_from_period


def _brussels_midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=BRUSSELS).timestamp())


def test_summer_time_day_starts_at_22_utc() -> None:
    # 2027-07-01 00:00 in Brussels is 2027-06-30 22:00 UTC: the first hourly period after it.
    midnight = int(datetime(2027, 6, 30, 22, tzinfo=UTC).timestamp())
    assert first_period_of(date(2027, 7, 1), 3600) == midnight // 3600
    key = chain_key_of(_entry(date(2027, 7, 1), date(2027, 7, 1)), MEMBERS, 3600)
    assert key.valid_until_period is not None
    assert key.valid_until_period - key.valid_from_period + 1 == 24


def test_an_open_key_has_no_end_and_round_trips_the_abi() -> None:
    key = chain_key_of(_entry(date(2027, 1, 1), None), MEMBERS, DAY)
    assert key.valid_until_period is None
    assert key.as_abi()[1] == NO_END
    assert ChainKey.from_abi(key.as_abi()) == key


def test_a_key_shorter_than_a_period_is_refused() -> None:
    with pytest.raises(KeyConfigError, match="covers no whole period"):
        chain_key_of(_entry(date(2027, 1, 4), date(2027, 1, 5)), MEMBERS, 7 * DAY)

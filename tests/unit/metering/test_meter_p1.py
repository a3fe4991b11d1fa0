"""Strict P1 decoding on the project's own telegrams (CRC computed by the test helper)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from dsmr_parser.parsers import TelegramParser
from hypothesis import given
from hypothesis import strategies as st
from metering_p1_fixtures import crc16_arc, dsmr5, emucs, emucs_body, with_crc

from metering.adapters.p1 import decode_capture, to_wh
from metering.adapters.p1_meter import P1Meter
from metering.errors import (
    MeterUnreachableError,
    MissingRegisterError,
    PlaceholderClockError,
    TelegramChecksumError,
    TelegramError,
)


def test_crc_helper_is_crc16_arc() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D  # the published CRC-16/ARC check value
    telegram = emucs()
    content = telegram[: telegram.rindex(b"!") + 1]
    assert telegram.endswith(f"{TelegramParser.crc16(content.decode('latin-1')):04X}\r\n".encode())


def test_belgian_telegram_decodes_to_exact_wh_day_and_night() -> None:
    snapshot = decode_capture(emucs())
    assert snapshot.import_wh.t1_wh == 661_701  # tariff 1 = day in Belgium
    assert snapshot.import_wh.t2_wh == 776_784
    assert snapshot.import_wh.total_wh == 661_701 + 776_784
    assert snapshot.export_wh.to_json() == {"t1": 990_699, "t2": 423_681, "total": 1_414_380}
    assert snapshot.equipment_id == "1SAG3105200877"
    assert snapshot.meter_timestamp == datetime(2023, 6, 29, 8, 22, 48, tzinfo=UTC)


def test_winter_clock_is_utc_plus_one() -> None:
    snapshot = decode_capture(emucs(clock="240115120000W"))
    assert snapshot.meter_timestamp == datetime(2024, 1, 15, 11, 0, 0, tzinfo=UTC)


def test_dutch_dsmr5_telegram_decodes() -> None:
    snapshot = decode_capture(dsmr5())
    assert snapshot.import_wh.to_json() == {"t1": 3_808_351, "t2": 2_948_827, "total": 6_757_178}
    assert snapshot.export_wh.total_wh == 1_285_951 + 2_876_514
    assert snapshot.meter_timestamp == datetime(2018, 11, 6, 13, 4, 29, tzinfo=UTC)


def test_wh_units_are_taken_as_they_are() -> None:
    snapshot = decode_capture(emucs(import_t1="005017120*Wh"))
    assert snapshot.import_wh.t1_wh == 5_017_120


def test_fraction_of_a_wh_is_refused() -> None:
    with pytest.raises(MissingRegisterError, match="whole number of Wh"):
        decode_capture(emucs(import_t1="000001.5*Wh"))


def test_one_flipped_digit_fails_the_crc() -> None:
    good = emucs()
    bad = good.replace(b"000661.701", b"000661.702")
    with pytest.raises(TelegramChecksumError, match="CRC mismatch"):
        decode_capture(bad)


def test_missing_crc_is_refused() -> None:
    body = emucs_body().encode() + b"!\r\n"
    with pytest.raises(TelegramChecksumError, match="no CRC"):
        decode_capture(body)


def test_lf_only_telegram_is_refused() -> None:
    lf_only = emucs().replace(b"\r\n", b"\n")
    with pytest.raises(TelegramError, match="LF-only"):
        decode_capture(lf_only)


def test_truncated_telegram_is_refused() -> None:
    good = emucs()
    with pytest.raises(TelegramError, match="truncated"):
        decode_capture(good[: len(good) // 2])


@pytest.mark.parametrize("obis", ["1-0:1.8.1", "1-0:1.8.2", "1-0:2.8.1", "1-0:2.8.2"])
def test_missing_energy_register_is_named(obis: str) -> None:
    with pytest.raises(MissingRegisterError, match=obis.replace(".", r"\.")):
        decode_capture(emucs(omit=(obis,)))


def test_missing_clock_is_refused() -> None:
    with pytest.raises(MissingRegisterError, match=r"1\.0\.0"):
        decode_capture(emucs(omit=("0-0:1.0.0",)))


@pytest.mark.parametrize(
    "clock", ["632525252525W", "000101010000W", "700101010000W", "230629102248X"]
)
def test_placeholder_clocks_are_refused(clock: str) -> None:
    with pytest.raises(PlaceholderClockError):
        decode_capture(emucs(clock=clock))


def test_placeholder_clock_can_be_tolerated_explicitly() -> None:
    snapshot = decode_capture(emucs(clock="000101010000W"), allow_placeholder_clock=True)
    assert snapshot.meter_timestamp is None
    assert snapshot.import_wh.t1_wh == 661_701


def test_capture_with_noise_and_two_telegrams_keeps_the_last() -> None:
    first = emucs(import_t1="000661.701*kWh")
    second = emucs(import_t1="000661.950*kWh")
    snapshot = decode_capture(b"\xff\xfegarbage" + first[40:] + first + second)
    assert snapshot.import_wh.t1_wh == 661_950


def test_a_bad_telegram_anywhere_in_a_capture_is_an_error() -> None:
    bad = emucs().replace(b"000990.699", b"000990.690")
    with pytest.raises(TelegramChecksumError):
        decode_capture(bad + emucs())


def test_a_telegram_claiming_other_tariffs_in_its_total_is_refused() -> None:
    body = (
        emucs_body()
        .replace("0-0:96.1.4(50217)\r\n", "")
        .replace("1-0:1.8.1(", "1-0:1.8.0(001438.486*kWh)\r\n1-0:1.8.1(")
    )
    with pytest.raises(TelegramError, match=r"1\.8\.0"):
        decode_capture(with_crc("/ISK5\\2M550E-1011\r\n\r\n1-3:0.2.8(50)\r\n" + body[22:]))


@given(
    integer=st.integers(min_value=0, max_value=999_999),
    fraction=st.integers(min_value=0, max_value=999),
)
def test_kwh_with_three_decimals_is_exact_wh(integer: int, fraction: int) -> None:
    printed = f"{integer:06d}.{fraction:03d}"
    assert to_wh(Decimal(printed), "kWh", "test") == integer * 1000 + fraction
    snapshot = decode_capture(emucs(export_t2=f"{printed}*kWh"))
    assert snapshot.export_wh.t2_wh == integer * 1000 + fraction


class ChunkSource:
    """A fake byte source delivering a stream in fixed-size chunks, then silence."""

    def __init__(self, data: bytes, chunk: int = 37) -> None:
        self._chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.closed = False
        self.discarded = 0

    def receive(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def close(self) -> None:
        self.closed = True

    def discard(self) -> None:
        self.discarded += 1


def test_stream_skips_a_partial_and_a_corrupted_telegram() -> None:
    corrupted = emucs().replace(b"000661.701", b"000661.799")
    good = emucs(import_t1="000700.000*kWh")
    meter = P1Meter(ChunkSource(emucs()[100:] + corrupted + good), timeout_s=5)
    assert meter.read().import_wh.t1_wh == 700_000


def test_stream_without_a_valid_telegram_times_out_with_the_reason() -> None:
    ticks = iter(range(1000))
    corrupted = emucs().replace(b"000661.701", b"000661.799")
    meter = P1Meter(ChunkSource(corrupted), timeout_s=50, monotonic=lambda: float(next(ticks)))
    with pytest.raises(MeterUnreachableError, match="CRC mismatch"):
        meter.read()


class QueueingSource:
    """Bytes already queued (stale) plus bytes that arrive after each `discard`, in order."""

    def __init__(self, queued: bytes, arrivals: list[bytes]) -> None:
        self.queued, self.arrivals = queued, arrivals

    def receive(self) -> bytes:
        if self.queued:
            data, self.queued = self.queued, b""
            return data
        return self.arrivals.pop(0) if self.arrivals else b""

    def discard(self) -> None:
        self.queued = b""

    def close(self) -> None:
        return


def test_each_read_returns_a_telegram_that_arrived_after_the_call() -> None:
    stale, b, c, d = (emucs(import_t1=f"00000{n}.000*kWh") for n in (1, 2, 3, 4))
    meter = P1Meter(QueueingSource(stale, [b + c, d]), timeout_s=5)
    assert meter.read().import_wh.t1_wh == 2_000  # the queued telegram 1 was stale
    # Telegram 3 arrived with 2 but was not consumed: 15 minutes later it is stale too.
    assert meter.read().import_wh.t1_wh == 4_000

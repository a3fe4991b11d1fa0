"""Modbus adapters against a real pymodbus TCP server on 127.0.0.1 started by each test."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from meter_modbus_server import float32_registers, free_port, modbus_server

from metering.adapters.modbus import Sdm630Meter, SunSpecMeter, kwh_float_to_wh, scaled_to_wh
from metering.errors import MeterDataError, MeterUnreachableError


@pytest.fixture(autouse=True)
def _quiet_pymodbus() -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL + 1)


def sdm630_registers(import_kwh: float, export_kwh: float) -> dict[int, int]:
    high_low = float32_registers(import_kwh) + float32_registers(export_kwh)
    return dict(zip([0x48, 0x49, 0x4A, 0x4B], high_low, strict=True))


SERIAL = {0xFC00: 0x0012, 0xFC01: 0xD687}  # 1234567


def test_sdm630_reads_integer_wh() -> None:
    with modbus_server(sdm630_registers(12345.678, 661.701), SERIAL) as port:
        snapshot = Sdm630Meter("127.0.0.1", port).read()
    assert snapshot.equipment_id == "SDM630-1234567"
    # float32(12345.678) = 12345.677734375 kWh: nearest Wh is the meter's own 12,345,678 Wh.
    assert snapshot.import_wh.total_wh == 12_345_678
    assert snapshot.export_wh.to_json() == {"t1": 661_701, "t2": 0, "total": 661_701}
    assert snapshot.meter_timestamp is None


def test_sdm630_nan_register_is_refused() -> None:
    with (
        modbus_server(sdm630_registers(float("nan"), 1.0), SERIAL) as port,
        pytest.raises(MeterDataError, match="import"),
    ):
        Sdm630Meter("127.0.0.1", port).read()


def test_wrong_unit_id_is_a_data_error_not_a_crash() -> None:
    with (
        modbus_server(sdm630_registers(1.0, 1.0), SERIAL) as port,
        pytest.raises(MeterDataError, match="unit 7"),
    ):
        Sdm630Meter("127.0.0.1", port, device_id=7, timeout_s=1).read()


def test_unreachable_device() -> None:
    with pytest.raises(MeterUnreachableError, match="unreachable"):
        Sdm630Meter("127.0.0.1", free_port(), timeout_s=1).read()


def _string_registers(text: str, count: int) -> list[int]:
    raw = text.encode("ascii").ljust(count * 2, b"\x00")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, count * 2, 2)]


def sunspec_map(model: int, import_raw: int, export_raw: int, scale: int) -> dict[int, int]:
    """SunS marker, common model 1 (L=66) with a serial number, one meter model, end marker."""
    registers = [0x5375, 0x6E53, 1, 66]
    common = [0] * 66
    common[0:16] = _string_registers("Quartier Labs", 16)
    common[48:64] = _string_registers("SN-0042", 16)
    registers += common
    meter = [0] * 105
    meter[36:38] = [export_raw >> 16, export_raw & 0xFFFF]  # TotWhExp
    meter[44:46] = [import_raw >> 16, import_raw & 0xFFFF]  # TotWhImp
    meter[52] = scale & 0xFFFF  # TotWh_SF (int16)
    registers += [model, 105, *meter, 0xFFFF, 0]
    return {40000 + offset: value for offset, value in enumerate(registers)}


@pytest.mark.parametrize(
    ("model", "scale", "import_raw", "export_raw", "import_wh", "export_wh"),
    [
        (203, 0, 5_017_120, 58, 5_017_120, 58),
        (201, 1, 501_712, 6, 5_017_120, 60),
        (204, -1, 50_171_209, 589, 5_017_120, 58),  # 0.1 Wh resolution floored
    ],
)
def test_sunspec_meter_models(
    model: int, scale: int, import_raw: int, export_raw: int, import_wh: int, export_wh: int
) -> None:
    with modbus_server({0: 0}, sunspec_map(model, import_raw, export_raw, scale)) as port:
        snapshot = SunSpecMeter("127.0.0.1", port).read()
    assert snapshot.equipment_id == "SunSpec-SN-0042"
    assert snapshot.import_wh.total_wh == import_wh
    assert snapshot.export_wh.total_wh == export_wh


def test_sunspec_not_implemented_scale_factor_is_refused() -> None:
    with (
        modbus_server({0: 0}, sunspec_map(203, 1, 1, -32768)) as port,
        pytest.raises(MeterDataError, match="scale factor"),
    ):
        SunSpecMeter("127.0.0.1", port).read()


def test_sunspec_without_marker_is_refused() -> None:
    with (
        modbus_server({0: 0}, {40000 + i: 0 for i in range(4)}) as port,
        pytest.raises(MeterDataError, match="SunS"),
    ):
        SunSpecMeter("127.0.0.1", port).read()


def quartier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_read_modbus_json_and_unreachable() -> None:
    with modbus_server({0: 0}, sunspec_map(203, 5_017_120, 58, 0)) as port:
        result = quartier(
            "meter", "read-modbus", f"127.0.0.1:{port}", "--kind", "sunspec", "--json"
        )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["import_wh"] == {"t1": 5_017_120, "t2": 0, "total": 5_017_120}
    assert data["timestamp"] is None
    down = quartier("meter", "read-modbus", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert down.returncode == 1
    assert down.stderr.count("\n") == 1
    assert "unreachable" in down.stderr


@given(
    st.floats(min_value=0, max_value=1e7, width=32), st.floats(min_value=0, max_value=1e7, width=32)
)
def test_float_rounding_is_monotone_and_within_half_a_wh(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert kwh_float_to_wh(low, "x") <= kwh_float_to_wh(high, "x")
    assert abs(Decimal(kwh_float_to_wh(a, "x")) - Decimal(a) * 1000) <= Decimal("0.5")


@given(st.integers(0, 9_999_999).map(lambda wh: wh / 1000))
def test_three_decimal_kwh_below_16384_is_recovered_exactly(kwh: float) -> None:
    as_float32 = float(np.float32(kwh))
    assert kwh_float_to_wh(as_float32, "x") == round(kwh * 1000)


def test_scale_factor_floors() -> None:
    assert scaled_to_wh(1999, -3, "x") == 1
    assert scaled_to_wh(7, 3, "x") == 7000

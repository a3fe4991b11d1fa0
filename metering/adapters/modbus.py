"""Modbus TCP meters with pymodbus: Eastron SDM630 and SunSpec meters (models 201-204).

Neither has a tariff register nor a clock we trust, so energy goes on tariff 1 and
`meter_timestamp` is None; the agent timestamps readings with its own interval clock.

Rounding (SDM630): the meter publishes kWh as IEEE-754 float32. We take the float's exact
binary value (`Decimal(float)`), multiply by 1000 and round half-even to whole Wh. Rounding to
the nearest Wh is monotone (a register that did not decrease still does not) and recovers the
meter's own Wh count exactly while float32 spacing is below 1 Wh, i.e. below 16,384 kWh;
above that the float itself only resolves 2 Wh (4 Wh above 32,768 kWh...), and the reading
is within half that spacing of the truth.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from metering.adapters.base import MeterSnapshot, Registers
from metering.errors import MeterDataError, MeterUnreachableError

# SDM630 input registers (0-based protocol addresses), float32 kWh, high word first.
SDM630_TOTAL_IMPORT_KWH = 0x0048
SDM630_TOTAL_EXPORT_KWH = 0x004A
# SDM630 holding registers: serial number, uint32.
SDM630_SERIAL_NUMBER = 0xFC00

SUNSPEC_BASE_ADDRESS = 40000
SUNSPEC_MARKER = (0x5375, 0x6E53)  # "SunS"
SUNSPEC_END_MODEL = 0xFFFF
SUNSPEC_COMMON_MODEL = 1
SUNSPEC_METER_MODELS = frozenset({201, 202, 203, 204})
# Offsets inside a 20x meter block's data (after its ID and L registers).
_TOT_WH_EXP, _TOT_WH_IMP, _TOT_WH_SF = 36, 44, 52
_COMMON_SN_OFFSET, _COMMON_SN_LENGTH = 48, 16
_SUNSSF_NOT_IMPLEMENTED = -32768


def kwh_float_to_wh(value: float, what: str) -> int:
    """Convert a float kWh register to integer Wh (exact binary value, round half-even)."""
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise MeterDataError(f"{what}: {value!r} kWh is not a non-negative finite register")
    wh = (Decimal(value) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(wh)


def scaled_to_wh(raw: int, scale_factor: int, what: str) -> int:
    """Apply a SunSpec scale factor (Wh = raw * 10**sf) in integers, flooring sub-Wh parts.

    Flooring is monotone and never reports energy the meter has not yet counted.
    """
    if scale_factor == _SUNSSF_NOT_IMPLEMENTED or not -10 <= scale_factor <= 10:
        raise MeterDataError(f"{what}: scale factor {scale_factor} is not usable")
    factor: int = 10 ** abs(scale_factor)
    return raw * factor if scale_factor >= 0 else raw // factor


def _float32(registers: Sequence[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", registers[0], registers[1]))[0]
    return value


def _uint32(registers: Sequence[int]) -> int:
    return (registers[0] << 16) | registers[1]


def _int16(register: int) -> int:
    return register - 0x10000 if register & 0x8000 else register


def _string(registers: Sequence[int]) -> str:
    raw = b"".join(register.to_bytes(2, "big") for register in registers)
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()


class _ModbusDevice:
    """A connected pymodbus client that turns every failure into one clear error."""

    def __init__(self, host: str, port: int, device_id: int, timeout_s: float) -> None:
        self._where = f"Modbus device {host}:{port} (unit {device_id})"
        self._device_id = device_id
        # pymodbus leaves connect/close unannotated: hold the client as Any.
        client_class: Any = ModbusTcpClient
        self._client: Any = client_class(host, port=port, timeout=timeout_s, retries=1)
        if not self._client.connect():
            self._client.close()
            raise MeterUnreachableError(f"{self._where} is unreachable")

    def read(self, kind: str, address: int, count: int) -> list[int]:
        try:
            if kind == "input":
                response: Any = self._client.read_input_registers(
                    address, count=count, device_id=self._device_id
                )
            else:
                response = self._client.read_holding_registers(
                    address, count=count, device_id=self._device_id
                )
        except ModbusException as error:
            raise MeterUnreachableError(f"{self._where}: {error}") from error
        if response.isError():
            raise MeterDataError(
                f"{self._where} refused to read {count} {kind} registers at {address}: {response}"
            )
        registers: list[int] = list(response.registers)
        if len(registers) != count:
            raise MeterDataError(f"{self._where} answered {len(registers)} of {count} registers")
        return registers

    def close(self) -> None:
        self._client.close()


class Sdm630Meter:
    """Eastron SDM630: total import/export kWh as float32 input registers."""

    def __init__(self, host: str, port: int = 502, device_id: int = 1, timeout_s: float = 3.0):
        self._host, self._port, self._device_id, self._timeout_s = host, port, device_id, timeout_s

    def read(self) -> MeterSnapshot:
        """Read the two energy totals (one request) and the serial number."""
        device = _ModbusDevice(self._host, self._port, self._device_id, self._timeout_s)
        try:
            energy = device.read("input", SDM630_TOTAL_IMPORT_KWH, 4)
            serial = _uint32(device.read("holding", SDM630_SERIAL_NUMBER, 2))
        finally:
            device.close()
        import_wh = kwh_float_to_wh(_float32(energy[0:2]), "SDM630 total import")
        export_wh = kwh_float_to_wh(_float32(energy[2:4]), "SDM630 total export")
        return MeterSnapshot(
            equipment_id=f"SDM630-{serial}",
            import_wh=Registers(import_wh, 0, import_wh),
            export_wh=Registers(export_wh, 0, export_wh),
            meter_timestamp=None,
        )


class SunSpecMeter:
    """A SunSpec device exposing a meter model 201-204 (integer + scale factor registers)."""

    def __init__(
        self,
        host: str,
        port: int = 502,
        device_id: int = 1,
        timeout_s: float = 3.0,
        base_address: int = SUNSPEC_BASE_ADDRESS,
    ) -> None:
        self._host, self._port, self._device_id = host, port, device_id
        self._timeout_s, self._base_address = timeout_s, base_address

    def read(self) -> MeterSnapshot:
        """Walk the model list from the "SunS" marker; read the first meter model found."""
        device = _ModbusDevice(self._host, self._port, self._device_id, self._timeout_s)
        try:
            return self._read(device)
        finally:
            device.close()

    def _read(self, device: _ModbusDevice) -> MeterSnapshot:
        if tuple(device.read("holding", self._base_address, 2)) != SUNSPEC_MARKER:
            raise MeterDataError(f"no SunSpec marker 'SunS' at register {self._base_address}")
        address = self._base_address + 2
        serial = ""
        for _ in range(64):  # a real device has a handful of models; bound a broken chain
            model_id, length = device.read("holding", address, 2)
            if model_id == SUNSPEC_END_MODEL:
                break
            if model_id == SUNSPEC_COMMON_MODEL and length >= 65:
                serial = _string(
                    device.read("holding", address + 2 + _COMMON_SN_OFFSET, _COMMON_SN_LENGTH)
                )
            elif model_id in SUNSPEC_METER_MODELS:
                if length < _TOT_WH_SF + 1:
                    raise MeterDataError(f"SunSpec model {model_id} is too short ({length})")
                data = device.read("holding", address + 2, _TOT_WH_SF + 1)
                scale = _int16(data[_TOT_WH_SF])
                exported = scaled_to_wh(_uint32(data[_TOT_WH_EXP:]), scale, "TotWhExp")
                imported = scaled_to_wh(_uint32(data[_TOT_WH_IMP:]), scale, "TotWhImp")
                return MeterSnapshot(
                    equipment_id=f"SunSpec-{serial}" if serial else f"SunSpec-{model_id}",
                    import_wh=Registers(imported, 0, imported),
                    export_wh=Registers(exported, 0, exported),
                    meter_timestamp=None,
                )
            address += 2 + length
        raise MeterDataError("the SunSpec device has no meter model (201-204)")

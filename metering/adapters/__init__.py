"""Meter adapters: P1/DSMR, Modbus (SDM630, SunSpec) and a simulated meter, one protocol."""

from metering.adapters.base import MeterAdapter, MeterSnapshot, Registers

__all__ = ["MeterAdapter", "MeterSnapshot", "Registers"]

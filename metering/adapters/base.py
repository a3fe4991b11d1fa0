"""The adapter protocol: every meter, real or simulated, answers `read() -> MeterSnapshot`.

Shaped like httpx's transports: one small protocol, real implementations beside a fake
(the simulated meter), so the agent never knows which one it drives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from metering.errors import MeterDataError


@dataclass(frozen=True)
class Registers:
    """Cumulative energy registers in integer Wh: tariff 1, tariff 2 and their total.

    Belgium (e-MUCS): tariff 1 = day, tariff 2 = night. The Netherlands: the reverse.
    Single-tariff meters (Modbus) report everything on tariff 1.
    """

    t1_wh: int
    t2_wh: int
    total_wh: int

    def __post_init__(self) -> None:
        for name in ("t1_wh", "t2_wh", "total_wh"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise MeterDataError(f"register {name} must be a non-negative int, got {value!r}")
        if self.total_wh < self.t1_wh + self.t2_wh:
            raise MeterDataError("register total is below the sum of its tariffs")

    @classmethod
    def of_tariffs(cls, t1_wh: int, t2_wh: int) -> Registers:
        """Registers whose total is the sum of the two tariffs."""
        return cls(t1_wh, t2_wh, t1_wh + t2_wh)

    def to_json(self) -> dict[str, int]:
        """Return {"t1", "t2", "total"} in Wh."""
        return {"t1": self.t1_wh, "t2": self.t2_wh, "total": self.total_wh}


@dataclass(frozen=True)
class MeterSnapshot:
    """What a meter says at one moment: cumulative import/export registers and its clock.

    `meter_timestamp` is None for meters without a clock (Modbus) and is always UTC otherwise.
    """

    equipment_id: str
    import_wh: Registers
    export_wh: Registers
    meter_timestamp: datetime | None

    def to_json(self) -> dict[str, Any]:
        """Return the `read-p1 --json` / `read-modbus --json` shape (integer Wh, ISO 8601 UTC)."""
        timestamp = (
            self.meter_timestamp.isoformat().replace("+00:00", "Z")
            if self.meter_timestamp is not None
            else None
        )
        return {
            "equipment_id": self.equipment_id,
            "timestamp": timestamp,
            "import_wh": self.import_wh.to_json(),
            "export_wh": self.export_wh.to_json(),
        }


class MeterAdapter(Protocol):
    """A meter: reading it returns its current cumulative registers."""

    def read(self) -> MeterSnapshot:
        """Read the meter now; raise a `MeteringError` subclass when it cannot."""
        ...

"""Project-written P1 telegrams with a correct CRC16, for tests that must run on any checkout."""

from __future__ import annotations

from typing import Any


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (poly 0xA001 reflected, init 0): what DSMR 4+/e-MUCS print after '!'.

    Written here bit by bit, independently of dsmr-parser's table-driven version.
    """
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: str) -> bytes:
    """Close a telegram body (from '/' up to but excluding '!') with '!' + CRC + CRLF."""
    content = (body + "!").encode("latin-1")
    return content + f"{crc16_arc(content):04X}\r\n".encode("ascii")


def emucs_body(
    *,
    clock: str = "230629102248S",
    import_t1: str = "000661.701*kWh",
    import_t2: str = "000776.784*kWh",
    export_t1: str = "000990.699*kWh",
    export_t2: str = "000423.681*kWh",
    omit: tuple[str, ...] = (),
) -> str:
    """A Belgian (Fluvius e-MUCS 1.7) telegram body; `omit` drops lines by OBIS prefix."""
    lines = [
        "0-0:96.1.4(50217)",
        "0-0:96.1.1(3153414733313035323030383737)",
        f"0-0:1.0.0({clock})",
        f"1-0:1.8.1({import_t1})",
        f"1-0:1.8.2({import_t2})",
        f"1-0:2.8.1({export_t1})",
        f"1-0:2.8.2({export_t2})",
        "0-0:96.14.0(0001)",
        "1-0:1.4.0(00.000*kW)",
        "1-0:1.7.0(00.000*kW)",
        "1-0:2.7.0(00.135*kW)",
        "1-0:32.7.0(236.9*V)",
        "0-0:96.13.0()",
    ]
    kept = [line for line in lines if not any(line.startswith(prefix) for prefix in omit)]
    return "/FLU5\\253769484_A\r\n\r\n" + "".join(line + "\r\n" for line in kept)


def emucs(**fields: Any) -> bytes:
    """A complete e-MUCS telegram with a correct CRC."""
    return with_crc(emucs_body(**fields))


def dsmr5(clock: str = "181106140429W") -> bytes:
    """A complete Dutch DSMR 5.0 telegram with a correct CRC."""
    lines = [
        "1-3:0.2.8(50)",
        f"0-0:1.0.0({clock})",
        "0-0:96.1.1(4530303334303036383130353136343136)",
        "1-0:1.8.1(003808.351*kWh)",
        "1-0:1.8.2(002948.827*kWh)",
        "1-0:2.8.1(001285.951*kWh)",
        "1-0:2.8.2(002876.514*kWh)",
        "0-0:96.14.0(0001)",
        "1-0:1.7.0(00.000*kW)",
        "1-0:2.7.0(00.498*kW)",
    ]
    return with_crc("/ISK5\\2M550E-1011\r\n\r\n" + "".join(line + "\r\n" for line in lines))

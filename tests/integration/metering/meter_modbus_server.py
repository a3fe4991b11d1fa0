"""A pymodbus TCP server on 127.0.0.1 in a background thread, started and stopped by a test."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSparseDataBlock,
)
from pymodbus.server import ModbusTcpServer


def free_port() -> int:
    """Ask the kernel for a free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def float32_registers(value: float) -> list[int]:
    """Two registers, high word first, of an IEEE-754 float32."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def block(registers: dict[int, int]) -> ModbusSparseDataBlock:
    """A data block serving `registers` at their 0-based protocol addresses.

    (A ModbusSequentialDataBlock declared at a serves protocol address a-1; a sparse block keyed
    by the protocol address serves it as is, checked by the exact values the tests expect.)
    """
    return ModbusSparseDataBlock({address: value for address, value in registers.items()})


@contextmanager
def modbus_server(
    input_registers: dict[int, int], holding_registers: dict[int, int]
) -> Iterator[int]:
    """Serve the given registers (unit 1) on 127.0.0.1; yield the port; stop on exit."""
    device = ModbusDeviceContext(
        di=ModbusSequentialDataBlock(1, [0]),
        co=ModbusSequentialDataBlock(1, [0]),
        ir=block(input_registers),
        hr=block(holding_registers),
    )
    context = ModbusServerContext(devices={1: device}, single=False)
    port = free_port()
    loop = asyncio.new_event_loop()
    servers: list[ModbusTcpServer] = []

    async def serve() -> None:
        # pymodbus binds the server to the running loop, so it is built inside it.
        servers.append(ModbusTcpServer(context, address=("127.0.0.1", port)))
        await servers[0].serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        for _ in range(100):  # wait until it accepts connections (bounded: 5 s)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                break
            except OSError:
                threading.Event().wait(0.05)
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(servers[0].shutdown(), loop).result(timeout=10)
        thread.join(timeout=10)
        loop.close()

"""The P1 meter adapter: telegrams from a serial port, a TCP P1 gateway or a capture file.

A live stream starts mid-telegram and may carry a corrupted telegram now and then; `read()`
keeps reading until one telegram passes every check, or gives up after `timeout_s` with the
reason of the last refusal. A meter sends a telegram every 1 s (DSMR 5, e-MUCS) to 10 s (DSMR 4).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from dsmr_parser.clients.telegram_buffer import TelegramBuffer

from metering.adapters.base import MeterSnapshot
from metering.adapters.p1 import decode_capture, decode_telegram
from metering.errors import MeterUnreachableError, TelegramError

_CHUNK_BYTES = 1024


class ByteSource(Protocol):
    """Something that yields raw P1 bytes (empty bytes = nothing arrived in time)."""

    def receive(self) -> bytes:
        """Return the bytes available now, waiting at most a short poll time."""
        ...

    def discard(self) -> None:
        """Drop bytes that arrived before now (stale telegrams queued since the last read)."""
        ...

    def close(self) -> None:
        """Release the port or connection."""
        ...


class SerialSource:
    """A P1 port on a serial line (DSMR 4/5 and e-MUCS: 115200 baud, 8N1)."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        import serial  # lazy: only serial users need pyserial loaded

        try:
            self._serial = serial.Serial(port, baudrate=baudrate, timeout=0.5)
        except (serial.SerialException, OSError) as error:
            raise MeterUnreachableError(f"cannot open serial port {port}: {error}") from error

    def receive(self) -> bytes:
        """Read what the port has, waiting up to 0.5 s."""
        data: bytes = self._serial.read(_CHUNK_BYTES)
        return data

    def discard(self) -> None:
        """Flush the OS input buffer."""
        self._serial.reset_input_buffer()

    def close(self) -> None:
        """Close the port."""
        self._serial.close()


class TcpSource:
    """A TCP P1 gateway (ser2net, ESP-based P1 dongles) streaming raw telegrams."""

    def __init__(self, host: str, port: int, connect_timeout_s: float = 5.0) -> None:
        try:
            self._socket = socket.create_connection((host, port), timeout=connect_timeout_s)
        except OSError as error:
            raise MeterUnreachableError(
                f"cannot connect to P1 gateway {host}:{port}: {error}"
            ) from error
        self._socket.settimeout(0.5)
        self._where = f"{host}:{port}"

    def receive(self) -> bytes:
        """Read what the gateway sent, waiting up to 0.5 s."""
        try:
            data = self._socket.recv(_CHUNK_BYTES)
        except TimeoutError:
            return b""
        except OSError as error:
            raise MeterUnreachableError(f"P1 gateway {self._where}: {error}") from error
        if not data:
            raise MeterUnreachableError(f"P1 gateway {self._where} closed the connection")
        return data

    def discard(self) -> None:
        """Read and drop whatever the socket already holds, without waiting."""
        self._socket.setblocking(False)
        try:
            while self._socket.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as error:
            raise MeterUnreachableError(f"P1 gateway {self._where}: {error}") from error
        finally:
            self._socket.settimeout(0.5)

    def close(self) -> None:
        """Close the connection."""
        self._socket.close()


class P1Meter:
    """A P1 meter on a live byte source: `read()` returns the next telegram that passes."""

    def __init__(
        self,
        source: ByteSource,
        timeout_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._buffer = TelegramBuffer()

    def read(self) -> MeterSnapshot:
        """Return the snapshot of the next valid telegram; skip refused ones until timeout.

        Telegrams queued before this call are dropped first: the agent reads once per interval,
        and a telegram from minutes ago must never stand for the registers at the boundary.
        """
        self._source.discard()
        self._buffer = TelegramBuffer()
        deadline = self._monotonic() + self._timeout_s
        last_refusal: TelegramError | None = None
        while self._monotonic() < deadline:
            self._buffer.append(self._source.receive().decode("latin-1"))
            for text in self._buffer.get_all():
                try:
                    snapshot = decode_telegram(text)
                except TelegramError as error:
                    last_refusal = error
                    continue
                return snapshot
        reason = f"; last telegram refused: {last_refusal}" if last_refusal else ""
        raise MeterUnreachableError(f"no valid P1 telegram within {self._timeout_s:g} s{reason}")

    def close(self) -> None:
        """Release the underlying source."""
        self._source.close()


class P1FileMeter:
    """A capture file read afresh at every `read()` (handy for tests and replays)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def read(self) -> MeterSnapshot:
        """Decode the file strictly; the last telegram in it wins."""
        try:
            data = self._path.read_bytes()
        except OSError as error:
            raise MeterUnreachableError(f"cannot read {self._path}: {error.strerror}") from error
        return decode_capture(data)

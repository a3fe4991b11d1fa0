"""The P1 adapter on a real TCP P1 gateway stand-in (127.0.0.1) streaming telegrams."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "metering"))
from meter_modbus_server import free_port
from metering_p1_fixtures import emucs

from metering.cli import adapter_from_spec
from metering.errors import MeterUnreachableError


@contextmanager
def p1_gateway(stream: bytes) -> Iterator[int]:
    """Accept one connection and send `stream` in small pieces every 0.2 s, like a meter."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        listener.settimeout(10)
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            for _ in range(25):  # bounded: 5 s at most
                try:
                    for start in range(0, len(stream), 64):
                        connection.sendall(stream[start : start + 64])
                except OSError:
                    return  # the reader hung up
                threading.Event().wait(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=15)


def test_tcp_gateway_stream_mid_telegram_start_and_a_corrupted_one() -> None:
    corrupted = emucs().replace(b"000661.701", b"000661.711")
    good = emucs(import_t2="000777.000*kWh")
    with p1_gateway(emucs()[57:] + corrupted + good) as port:
        meter = adapter_from_spec(f"p1-tcp:127.0.0.1:{port}")
        snapshot = meter.read()
        meter.close()  # type: ignore[attr-defined]
    assert snapshot.import_wh.t2_wh == 777_000
    assert snapshot.import_wh.t1_wh == 661_701


def test_gateway_not_listening() -> None:
    with pytest.raises(MeterUnreachableError, match="P1 gateway"):
        adapter_from_spec(f"p1-tcp:127.0.0.1:{free_port()}")

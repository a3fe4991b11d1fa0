"""Start and stop a local Anvil node on a loopback port.

Anvil comes from the npm package @foundry-rs/anvil (no foundryup here). The platform package
carries the real binary; it is run directly rather than through npm's Node wrapper so that
stopping the process by its PID stops the node itself.

Each node keeps its on-disk state in a folder of its own, removed when the node stops (also
when the process was killed): by default Anvil writes every state it evicts from memory (the
whole state, megabytes a block) under ~/.foundry/anvil/tmp and never removes that folder, not
even on SIGTERM, which once filled the disk. `--max-persisted-states 0` stops it writing states
at all: the last states stay in memory (Anvil's default in-memory history), older ones are
dropped, so only state queries at blocks far back fail; logs, receipts and calldata stay.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import requests

from ledger.errors import AnvilStartError
from ledger.paths import NODE_MODULES

START_TIMEOUT_SECONDS = 10.0
#: Flags every node gets: no state file is ever persisted (see the module docstring).
NO_PERSISTED_STATES = ("--max-persisted-states", "0")


def anvil_binary() -> Path:
    """Path of the Anvil executable installed by `npm ci`."""
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), "win32")
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), platform.machine()
    )
    candidates = [
        NODE_MODULES / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil",
        NODE_MODULES / ".bin" / "anvil",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilStartError("anvil is not installed; run ./scripts/setup (it runs npm ci)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing is bound to `port` on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


class AnvilNode:
    """A running Anvil process; use as a context manager or call start()/stop()."""

    def __init__(
        self, port: int | None = None, host: str = "127.0.0.1", extra_args: tuple[str, ...] = ()
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.cache_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> AnvilNode:
        """Start the node and wait until it answers JSON-RPC."""
        # Anvil binds with SO_REUSEPORT, so a second node on a busy port starts "fine" and we
        # would talk to the first one: check the port ourselves first.
        if not port_is_free(self.port, self.host):
            raise AnvilStartError(f"anvil failed to start: port {self.port} is already in use")
        self._remove_cache_dir()
        self.cache_dir = Path(tempfile.mkdtemp(prefix="quartier-anvil-"))
        command = [str(anvil_binary()), "--host", self.host, "--port", str(self.port)]
        cache = ("--cache-path", str(self.cache_dir), *NO_PERSISTED_STATES)
        self.process = subprocess.Popen(
            [*command, *cache, *self.extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own session: a terminal's Ctrl-C reaches us, and we stop the node ourselves.
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                reason = self._stderr_line() or f"exit status {self.process.returncode}"
                self._remove_cache_dir()
                raise AnvilStartError(f"anvil failed to start on {self.url}: {reason}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise AnvilStartError(f"anvil did not answer on {self.url} within {START_TIMEOUT_SECONDS}s")

    def stop(self) -> None:
        """Stop the node by its PID (terminate, then kill if it lingers) and remove its state
        folder, also when the process already died (killed, crashed)."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                # A node stopped with SIGSTOP (a hung node) only acts on SIGTERM once resumed.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGCONT)
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        finally:
            if self.process is not None and self.process.stderr is not None:
                self.process.stderr.close()
            self._remove_cache_dir()

    def _remove_cache_dir(self) -> None:
        if self.cache_dir is not None:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
            self.cache_dir = None

    def _answers(self) -> bool:
        body: dict[str, str | int | list[str]] = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_chainId",
            "params": [],
        }
        try:
            return requests.post(self.url, json=body, timeout=0.5).ok
        except requests.RequestException:
            return False

    def _stderr_line(self) -> str:
        if self.process is None or self.process.stderr is None:
            return ""
        lines = [line.strip() for line in self.process.stderr.read().decode().splitlines()]
        return next((line for line in reversed(lines) if line), "")

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

"""Run the v2 relayer in a daemon thread (inside `quartier serve`, or alone: `quartier relayer`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from api.chain_identity import ChainReplacedError
from api.relayer.service import Relayer

log = logging.getLogger("quartier.relayer")


class RelayerLoop:
    """A pass every `poll_seconds` until stopped; a crashing pass is logged and retried. On a
    replaced chain (ChainReplacedError) the loop ends for good, with one log line naming
    both chains, `halted` set and `on_halt` called: retrying would only wait for the
    original chain, and posting to the other one would hand it the community's schedules."""

    def __init__(
        self,
        relayer: Relayer,
        poll_seconds: float,
        on_halt: Callable[[], object] = lambda: None,
    ) -> None:
        self.relayer = relayer
        self.poll_seconds = poll_seconds
        self.on_halt = on_halt
        self.halted: ChainReplacedError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="quartier-relayer", daemon=True)

    def start(self) -> RelayerLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the loop after the current pass."""
        self._stop.set()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.relayer.run_once()
            except ChainReplacedError as error:
                log.error("relayer: chain-replaced: stopped: %s", error)
                self.halted = error
                self.on_halt()
                return
            except Exception:
                # The chain down, the DB busy: every step re-checks the chain, so retrying
                # at the next tick is safe.
                log.exception("relayer: pass crashed")
            self._stop.wait(self.poll_seconds)

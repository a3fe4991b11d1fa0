"""Which chain the service works on, and noticing when the node at its URL serves another.

A node restarted without its state, or another chain put at the same URL, can keep the chain
id (Anvil's 31337) and even have contracts at the deployment's addresses (the same deployer's
nonces on a fresh chain give the same addresses). Its schedules, escrow and settlements are
not the community's: intake would judge requests by a foreign chain's state, and the relayer
would post acknowledged schedules to it. So the service records the chain's identity (chain
id, genesis block hash, hash of the exchange's runtime code) when it first sees the
deployment's code, and compares it again at most every `check_seconds` (three small JSON-RPC
calls, under the caller's deadline): a difference is `ChainReplacedError`, a 503 problem
`urn:quartier:problem:chain-replaced` for requests, and the end of the relayer's loop.

The identity lives in the process: a process started on an already replaced chain records the
foreign one (where the deployment has no code, as after a restart without state, nothing is
recorded, and the relayer acts on nothing: `api.relayer.service`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from api.errors import ApiError
from api.ttl_cache import SingleFlightTtl

#: How long a successful comparison is trusted (a replaced chain is noticed within this).
CHECK_SECONDS = 2.0

#: One JSON-RPC call: (method, params) -> result (raising on a node that does not answer).
RpcCall = Callable[[str, list[Any]], Any]


class ChainReplacedError(ApiError):
    """The node at the service's URL serves another chain than the one it started on."""

    status = 503
    default_slug = "chain-replaced"
    title = "The chain was replaced"


@dataclass(frozen=True)
class ChainIdentity:
    """What tells one chain from another: chain id, genesis block, the exchange's code."""

    chain_id: int
    genesis_hash: str
    #: keccak256 of the exchange's runtime code; None when there is none at its address.
    exchange_code_hash: str | None

    def describe(self) -> str:
        code = self.exchange_code_hash or "no code"
        return f"chain id {self.chain_id}, genesis {self.genesis_hash}, exchange {code}"


def read_identity(rpc: RpcCall, exchange_address: str) -> ChainIdentity:
    """The identity of the chain `rpc` talks to (three JSON-RPC calls)."""
    chain_id = int(rpc("eth_chainId", []), 16)
    genesis = rpc("eth_getBlockByNumber", ["0x0", False])
    code = str(rpc("eth_getCode", [exchange_address, "latest"]))
    code_bytes = bytes.fromhex(code.removeprefix("0x"))
    return ChainIdentity(
        chain_id,
        str(genesis["hash"]) if genesis else "none",
        "0x" + keccak(code_bytes).hex() if code_bytes else None,
    )


class IdentityGuard:
    """The identity recorded at start, and its cached comparison with the chain's now."""

    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        self.recorded: ChainIdentity | None = None
        self._lock = threading.Lock()
        #: The last comparison's verdict: the foreign identity it found, or None. Once it is
        #: older than `check_seconds`, one request reads the chain again while the others keep
        #: the last verdict (stale by at most that one read). Without this, every request in
        #: flight when the cache expired read the chain too (a herd of eth_getCode calls that
        #: cost ~3.5 ms CPU per schedule at 150 schedules/s: scripts/bench intake).
        self._verdict: SingleFlightTtl[str, ChainIdentity | None] = SingleFlightTtl(check_seconds)

    def check(self, rpc: RpcCall, exchange_address: str, *, force: bool = False) -> None:
        """Raise ChainReplacedError if the chain is not the recorded one. Reads the chain
        only when the last comparison is older than `check_seconds` (or `force`); the first
        read that finds the exchange's code records the identity."""
        foreign = self._verdict.get(
            exchange_address, lambda: self._compare(rpc, exchange_address), force=force
        )
        self._raise_if_foreign(foreign)

    def _compare(self, rpc: RpcCall, exchange_address: str) -> ChainIdentity | None:
        # The foreign identity the chain shows now, or None; records the first one seen.
        current = read_identity(rpc, exchange_address)
        with self._lock:
            if self.recorded is None and current.exchange_code_hash is not None:
                self.recorded = current
            recorded = self.recorded
        return None if recorded is None or current == recorded else current

    def _raise_if_foreign(self, foreign: ChainIdentity | None) -> None:
        if foreign is None:
            return
        assert self.recorded is not None
        raise ChainReplacedError(
            f"the node serves another chain than the one this service started on"
            f" (started on {self.recorded.describe()}; now {foreign.describe()}):"
            " nothing is written until the original chain is back",
            started_on=self.recorded.genesis_hash,
            now=foreign.genesis_hash,
        )

"""The service's one door to the chain: a cached view of QuartierCommunity and QuartierExchange.

`V2Chain` is built lazily (no chain call at start-up: an API whose chain is down still serves
what needs no chain, and answers 503 where it does) and caches what intake asks on every
request (its knobs are `api.settings.Settings`; none of them is a rule of the community):

- the time grid (fixed at deployment) and `rulesAt(P)` for P <= currentPeriod + 1, which
  IQuartierCommunity makes final (a change applies from currentPeriod + 2 on): for ever;
- memberships and meters: for `membership_cache_seconds` (a removal within that window is
  caught by the contract at posting, and the relayer then refuses that one schedule);
- the chain head (block number and timestamp): for `head_cache_milliseconds`. Escrow is read AT
  that block number, so intake can tell exactly which of its own postings the answer already
  reflects (a posting mined after that block is still counted as promised).

Memberships, meters and the head are `api.ttl_cache.SingleFlightTtl` caches, as is the chain
identity's verdict: once an entry expired, one request reads it again while the others keep
the last answer (every request in flight reading the chain at once cost ~12 % of intake).

No lock is held across a chain call: the clients are built by whichever thread first needs
them, under that thread's own deadline (`api.limits`), and the first built is kept (a
duplicate build is only wasted work). A lock held while connecting let the relayer, whose
calls have no request deadline, keep every request waiting behind a hung node.

Every chain call through the clients first checks the chain's identity (`api.chain_identity`:
cached for a couple of seconds), so a node that starts serving another chain is refused by
name (ChainReplacedError) instead of being read or written as if it were the community's; the
deployment file and the signing domain need no chain, so readings of known meters go on.

Time is the chain's: `now(clock_seconds)` is the later of the latest block's timestamp and the
caller's clock, so a test or demo that moves Anvil's time forward moves the service with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import requests
from eth_abi.abi import decode as abi_decode
from eth_typing import HexStr
from eth_utils.abi import collapse_if_tuple
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import RPCEndpoint

from api.chain_identity import IdentityGuard
from api.settings import Settings
from api.ttl_cache import SingleFlightTtl
from ledger.accounts import account_from_key, default_deployer
from ledger.chain import Sender, connect, encode_call
from ledger.community import CommunityClient, MeterInfo, Window
from ledger.deployment import Deployment, deployment_path, load_deployment
from ledger.errors import ChainUnreachableError
from ledger.exchange import Escrow, ExchangeClient
from ledger.reverts import decode_revert
from ledger.rules import Rules, TimeGrid

#: Guards only the assignment of built clients (never held across a chain call).
_BUILD_LOCK = threading.Lock()

COMMUNITY_CONTRACT = "QuartierCommunity"
#: The one key of the head cache.
_HEAD = "latest"
EXCHANGE_CONTRACT = "QuartierExchange"


@dataclass(frozen=True)
class Head:
    """The latest block as last read: its number and timestamp (unix seconds)."""

    number: int
    timestamp: int


@dataclass(frozen=True)
class Domain:
    """What v2 signatures are bound to: chain id and the exchange's address."""

    chain_id: int
    exchange_address: str


class V2Chain:
    """Cached reads and the relayer's clients for one v2 community (thread-safe)."""

    def __init__(
        self,
        connect: Callable[[], tuple[Sender, Deployment]],
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._connect = connect
        self._built: tuple[Sender, Deployment, CommunityClient, ExchangeClient] | None = None
        self._manager: CommunityClient | None = None
        self._grid: TimeGrid | None = None
        self._rules: dict[int, Rules] = {}
        self._memberships: SingleFlightTtl[str, Window] = SingleFlightTtl(
            self.settings.membership_cache_seconds
        )
        self._meters: SingleFlightTtl[bytes, MeterInfo] = SingleFlightTtl(
            self.settings.membership_cache_seconds
        )
        self._head: SingleFlightTtl[str, Head] = SingleFlightTtl(
            self.settings.head_cache_milliseconds / 1000
        )
        self._escrow: dict[tuple[str, int], Escrow] = {}
        self.identity = IdentityGuard()

    @classmethod
    def of(
        cls, sender: Sender, deployment: Deployment, settings: Settings | None = None
    ) -> V2Chain:
        """A view over an already connected sender (tests, the demo)."""
        return cls(lambda: (sender, deployment), settings)

    @classmethod
    def from_settings(cls, settings: Settings, deployment: Deployment | None = None) -> V2Chain:
        """The view `quartier serve` and `quartier relayer` use: the node at `rpc_url`, the
        deployment file of the settings (else the one of the node's chain id, or the given
        one), the relayer key of the settings (Anvil's development key on chain 31337)."""

        def build() -> tuple[Sender, Deployment]:
            w3 = connect(settings.rpc_url, timeout_seconds=settings.rpc_timeout_seconds)
            found = deployment
            if found is None:
                path = settings.deployment_file or deployment_path(w3.eth.chain_id)
                found = load_deployment(path)
            found.check_chain(w3)
            return Sender(w3, default_deployer(found.chain_id, settings.relayer_key)), found

        return cls(build, settings)

    # ------------------------------------------------------------ clients

    def _clients(self) -> tuple[Sender, Deployment, CommunityClient, ExchangeClient]:
        built = self._built
        if built is None:
            # Outside any lock (see the module docstring); the first one stored is kept.
            sender, deployment = self._connect()
            community = CommunityClient(sender, deployment.address(COMMUNITY_CONTRACT))
            exchange = ExchangeClient(
                sender,
                deployment.address(EXCHANGE_CONTRACT),
                gas_limit=self.settings.relayer_gas_limit,
            )
            with _BUILD_LOCK:
                if self._built is None:
                    self._built = (sender, deployment, community, exchange)
                built = self._built
        return built

    def _checked(self) -> tuple[Sender, Deployment, CommunityClient, ExchangeClient]:
        # The clients for a chain call: the chain's identity first (the deployment and the
        # signing domain alone need no chain, so readings of known meters go on).
        built = self._clients()
        self._check_identity(built[0], built[3].address)
        return built

    def _check_identity(self, sender: Sender, exchange: str, force: bool = False) -> None:
        self.identity.check(
            lambda method, params: _request(sender.w3, method, params), exchange, force=force
        )

    def check_identity(self) -> None:
        """Compare the chain with the identity recorded at start now (no cache: the relayer
        does it before every pass). ChainReplacedError if it differs."""
        sender, _, _, exchange = self._clients()
        self._check_identity(sender, exchange.address, force=True)

    @property
    def sender(self) -> Sender:
        """The relayer: posts schedules and settles periods."""
        return self._checked()[0]

    @property
    def deployment(self) -> Deployment:
        return self._clients()[1]

    @property
    def community(self) -> CommunityClient:
        return self._checked()[2]

    @property
    def exchange(self) -> ExchangeClient:
        return self._checked()[3]

    @property
    def manager_community(self) -> CommunityClient | None:
        """QuartierCommunity as the manager, when the service holds the manager's key
        (`QUARTIER_MANAGER_KEY`): the API then admits households itself."""
        if not self.settings.manager_key:
            return None
        if self._manager is None:
            sender = self.sender
            manager = Sender(sender.w3, account_from_key(self.settings.manager_key))
            self._manager = CommunityClient(manager, self.community.address)
        return self._manager

    def manager_address(self) -> str:
        """The community manager, as QuartierCommunity records it now."""
        return Web3.to_checksum_address(self.community.manager())

    @property
    def domain(self) -> Domain:
        deployment = self.deployment
        return Domain(deployment.chain_id, deployment.address(EXCHANGE_CONTRACT))

    def warm_up(self) -> None:
        """Build the clients (the compiler's artifacts) and read the grid and the open
        periods' rules, so the first request does not pay for them."""
        current = self.grid.period_at(self.head().timestamp)
        self.rules(current)
        self.rules(current + 1)

    # ------------------------------------------------------------ cached reads

    @property
    def grid(self) -> TimeGrid:
        """Interval and period lengths (fixed at deployment: read once)."""
        if self._grid is None:
            self._grid = self.community.time_grid()
        return self._grid

    def rules(self, period_id: int) -> Rules:
        """rulesAt(period_id); cached only once final (period <= currentPeriod + 1)."""
        cached = self._rules.get(period_id)
        if cached is not None:
            return cached
        rules = self.community.rules_at(period_id)
        if period_id <= self.grid.period_at(self.head().timestamp) + 1:
            self._rules[period_id] = rules
        return rules

    def membership(self, household: str) -> Window:
        """The household's membership, cached briefly (a never-admitted answer is not kept:
        a household admitted a moment ago is served at once)."""
        return self._memberships.get(
            household,
            lambda: self.community.membership(household),
            keep=lambda window: window.admitted_at != 0,
        )

    def is_member(self, household: str) -> bool:
        """A member now, as postSchedules requires (admitted, not removed)."""
        window = self.membership(household)
        return window.admitted_at != 0 and window.removed_at == 0

    def meter(self, meter_id: bytes) -> MeterInfo:
        """The community's record of a meter, cached briefly (unknown meters are not kept)."""
        return self._meters.get(
            meter_id,
            lambda: self.community.meter(meter_id),
            keep=lambda info: info.window.admitted_at != 0,
        )

    def is_warm(self, household: str, period_id: int) -> bool:
        """Whether an intake for (household, period) can run without a chain call (then it
        may run on the event loop; otherwise in a thread)."""
        # While one caller reads an expired head again, the others are answered the last one
        # without a chain call: warm too (else every request in that read went to a thread).
        head = self._head.answered(_HEAD)
        if head is None or self._grid is None or period_id not in self._rules:
            return False
        return (
            self._memberships.fresh(household) is not None
            and (household, head.number) in self._escrow
        )

    def head(self) -> Head:
        """The latest block (number, timestamp), reused for `head_cache_milliseconds` (once
        expired, one caller reads it again while the others keep the last one)."""
        return self._head.get(_HEAD, self._read_head)

    def _read_head(self) -> Head:
        answer = self._rpc("eth_getBlockByNumber", ["latest", False])
        return Head(int(answer["number"], 16), int(answer["timestamp"], 16))

    def forget_head(self) -> None:
        """Read the head again at the next use (after moving the chain's time)."""
        self._head.forget(_HEAD)

    def now(self, clock_seconds: int = 0) -> int:
        """The chain's time: the later of the latest block's timestamp and `clock_seconds`."""
        return max(self.head().timestamp, clock_seconds)

    def escrow_at(self, household: str, block_number: int) -> Escrow:
        """The household's escrow as of `block_number` (a fixed block: cacheable)."""
        key = (household, block_number)
        cached = self._escrow.get(key)
        if cached is not None:
            return cached
        fn = self.exchange.contract.functions.escrowOf(Web3.to_checksum_address(household))
        free_units, locked_units = _call_at(fn, block_number)
        escrow = Escrow(int(free_units), int(locked_units))
        if len(self._escrow) > 100_000:
            self._escrow.clear()
        self._escrow[key] = escrow
        return escrow

    def _rpc(self, method: str, params: list[Any]) -> Any:
        return _request(self.sender.w3, method, params)


def _request(w3: Web3, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call; a node that does not answer, or answers an error, is
    ChainUnreachableError."""
    try:
        answer = w3.provider.make_request(RPCEndpoint(method), params)
    except (requests.RequestException, OSError) as error:
        raise ChainUnreachableError(f"the node stopped answering: {error}") from error
    if "error" in answer:
        raise ChainUnreachableError(f"{method} failed: {answer['error']}")
    return answer["result"]


def _call_at(fn: ContractFunction, block_number: int) -> tuple[Any, ...]:
    # ledger.chain.lean_call, at a given block instead of "latest".
    call = {"to": fn.address, "data": HexStr("0x" + encode_call(fn).hex())}
    try:
        answer = fn.w3.provider.make_request(RPCEndpoint("eth_call"), [call, hex(block_number)])
    except (requests.RequestException, OSError) as error:
        raise ChainUnreachableError(f"the node stopped answering: {error}") from error
    if "error" in answer:
        error_data = cast(dict[str, Any], answer["error"])
        data = error_data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            raise decode_revert(bytes.fromhex(data[2:]))
        raise ChainUnreachableError(f"eth_call of {fn.signature} failed: {error_data}")
    outputs = [collapse_if_tuple(dict(item)) for item in fn.abi.get("outputs", [])]
    return tuple(abi_decode(outputs, bytes.fromhex(str(answer["result"])[2:])))

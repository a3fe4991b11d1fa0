"""The service's one door to the chain: connection, deployment, and the ledger clients.

Built lazily on first use (no connection at import or start-up: an API whose chain is down
still serves cached meters, the order book and personal data, and answers 503 only where the
chain is really needed). Thread-safe: FastAPI runs sync endpoints in a thread pool.

Bounded waits: every request runs under the API's chain deadline (`api.limits`). No lock is
held across a chain call: a client is built by whichever thread first needs it, under that
thread's own deadline, and the first one built is kept (a duplicate build is only wasted work).
A lock held while connecting let the worker, whose calls have no request deadline, keep every
request waiting for a minute behind a hung node. (functools.cached_property is avoided for the
same reason: on Python 3.11 it serialises every first access through one lock shared by all
instances.) What needs no chain (the deployment file, the EIP-712 domain) never waits.

Per-order checks (member? nonce cancelled? free escrow?) are lean view calls
(`ledger.chain.lean_call`); the relayer sends with a fixed gas limit rather than estimating
every transaction; the market client follows events incrementally (`ledger.market_index`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3

from api.settings import Settings
from ledger.accounts import account_from_key, default_deployer
from ledger.chain import Sender, connect, lean_call
from ledger.deployment import Deployment, deployment_path, load_deployment
from ledger.market import MarketClient
from ledger.registry import MeterInfo, RegistryClient
from metering.reading import INTERVAL_SECONDS

_T = TypeVar("_T")

MARKET_CONTRACT = "QuartierMarket"
REGISTRY_CONTRACT = "CommunityRegistry"


@dataclass(frozen=True)
class Domain:
    """What EIP-712 signatures of this community are bound to."""

    chain_id: int
    market_address: str


class LedgerGateway:
    """Chain access for one community, configured by `Settings` (or a given deployment)."""

    def __init__(self, settings: Settings, deployment: Deployment | None = None) -> None:
        self.settings = settings
        self._deployment = deployment
        self._domain: Domain | None = None
        self._built: dict[str, Any] = {}

    def _once(self, name: str, build: Callable[[], _T]) -> _T:
        # Outside any lock (see the module docstring); dict.setdefault is atomic, so every
        # thread ends up with the first value stored.
        if name in self._built:
            return cast(_T, self._built[name])
        return cast(_T, self._built.setdefault(name, build()))

    def _connect(self) -> Web3:
        return connect(self.settings.rpc_url, timeout_seconds=self.settings.rpc_timeout_seconds)

    @property
    def w3(self) -> Web3:
        """The node connection (ChainUnreachableError when nothing answers)."""

        def build() -> Web3:
            w3 = self._connect()
            self.deployment.check_chain(w3)
            return w3

        return self._once("w3", build)

    @property
    def deployment(self) -> Deployment:
        """The deployment file in the settings, else the one of the node's chain id."""
        if self._deployment is None:
            path = self.settings.deployment_file
            if path is None:
                path = deployment_path(self._connect().eth.chain_id)
            self._deployment = load_deployment(path)
        return self._deployment

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain, from the deployment file alone (no chain call)."""
        if self._domain is None:
            deployment = self.deployment
            self._domain = Domain(deployment.chain_id, deployment.address(MARKET_CONTRACT))
        return self._domain

    @property
    def relayer(self) -> Sender:
        """The account that pays for commits, readings and settlements."""

        def build() -> Sender:
            account = default_deployer(self.deployment.chain_id, self.settings.relayer_key)
            return Sender(self.w3, account)

        return self._once("relayer", build)

    @property
    def registry(self) -> RegistryClient:
        """Registry reads (as the relayer)."""
        return self._once(
            "registry",
            lambda: RegistryClient(self.relayer, self.deployment.address(REGISTRY_CONTRACT)),
        )

    @property
    def manager_registry(self) -> RegistryClient | None:
        """Registry writes as the manager, when the service holds the manager's key."""
        if not self.settings.manager_key:
            return None
        manager_key = self.settings.manager_key

        def build() -> RegistryClient:
            account: LocalAccount = account_from_key(manager_key)
            sender = Sender(self.w3, account)
            return RegistryClient(sender, self.deployment.address(REGISTRY_CONTRACT))

        return self._once("manager_registry", build)

    def manager_address(self) -> str:
        """The community manager, as the registry records it now."""
        return Web3.to_checksum_address(self.registry.manager())

    def meter(self, meter_id: bytes) -> MeterInfo:
        """The registry's record of a meter."""
        return self.registry.meter(meter_id)

    def is_member(self, household: str) -> bool:
        """Whether `household` is a member on-chain."""
        fn = self.registry.contract.functions.isMember(Web3.to_checksum_address(household))
        return bool(lean_call(fn)[0])

    @property
    def market(self) -> MarketClient:
        """The market, as the relayer (commits, readings, settlements, views)."""

        def build() -> MarketClient:
            deployment = self.deployment
            return MarketClient(
                self.relayer,
                deployment.address(MARKET_CONTRACT),
                deployment.deploy_block,
                gas_limit=self.settings.relayer_gas_limit,
            )

        return self._once("market", build)

    @property
    def gate_closure_lead_seconds(self) -> int:
        """The contract's gate lead (immutable, so read once)."""
        return self._once(
            "gate_closure_lead_seconds",
            lambda: int(self.market.contract.functions.gateClosureLeadSeconds().call()),
        )

    def gate_closes_at(self, interval_id: int) -> int:
        """Unix time from which the book of `interval_id` is closed to new orders.

        The service closes the book at its own setting or the contract's, whichever is
        earlier, so nothing it accepts is refused at commit for coming too late.
        """
        lead = max(self.settings.gate_closure_seconds, self.gate_closure_lead_seconds)
        return max(interval_id * INTERVAL_SECONDS - lead, 0)

    def free_escrow_units(self, household: str) -> int:
        """The household's free (unlocked) escrow on-chain."""
        return self.market.escrow_of(Web3.to_checksum_address(household)).free_units

    def is_nonce_cancelled(self, household: str, nonce: int) -> bool:
        """Whether the household cancelled this nonce on-chain."""
        return self.market.is_nonce_cancelled(Web3.to_checksum_address(household), nonce)

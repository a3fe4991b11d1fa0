"""The service's one door to the chain: connection, deployment, and the ledger clients.

Built lazily on first use (no connection at import or start-up: an API whose chain is down
still serves cached meters, the order book and personal data, and answers 503 only where the
chain is really needed). Thread-safe: FastAPI runs sync endpoints in a thread pool.

Per-order checks (member? nonce cancelled? free escrow?) are lean view calls
(`ledger.chain.lean_call`); the relayer sends with a fixed gas limit rather than estimating
every transaction; the market client follows events incrementally (`ledger.market_index`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from eth_account.signers.local import LocalAccount
from web3 import Web3

from api.settings import Settings
from ledger.accounts import account_from_key, default_deployer
from ledger.chain import Sender, connect, lean_call
from ledger.deployment import Deployment, deployment_path, load_deployment
from ledger.market import MarketClient
from ledger.registry import MeterInfo, RegistryClient
from metering.reading import INTERVAL_SECONDS

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
        self._lock = threading.RLock()

    @cached_property
    def w3(self) -> Web3:
        """The node connection (ChainUnreachableError when nothing answers)."""
        with self._lock:
            w3 = connect(self.settings.rpc_url)
            self.deployment.check_chain(w3)
            return w3

    @property
    def deployment(self) -> Deployment:
        """The deployment file in the settings, else the one of the node's chain id."""
        with self._lock:
            if self._deployment is None:
                path = self.settings.deployment_file
                if path is None:
                    path = deployment_path(connect(self.settings.rpc_url).eth.chain_id)
                self._deployment = load_deployment(path)
            return self._deployment

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain, from the deployment file alone (no chain call)."""
        deployment = self.deployment
        return Domain(deployment.chain_id, deployment.address(MARKET_CONTRACT))

    @cached_property
    def relayer(self) -> Sender:
        """The account that pays for commits, readings and settlements."""
        account = default_deployer(self.deployment.chain_id, self.settings.relayer_key)
        return Sender(self.w3, account)

    @cached_property
    def registry(self) -> RegistryClient:
        """Registry reads (as the relayer)."""
        return RegistryClient(self.relayer, self.deployment.address(REGISTRY_CONTRACT))

    @cached_property
    def manager_registry(self) -> RegistryClient | None:
        """Registry writes as the manager, when the service holds the manager's key."""
        if not self.settings.manager_key:
            return None
        account: LocalAccount = account_from_key(self.settings.manager_key)
        sender = Sender(self.w3, account)
        return RegistryClient(sender, self.deployment.address(REGISTRY_CONTRACT))

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

    @cached_property
    def market(self) -> MarketClient:
        """The market, as the relayer (commits, readings, settlements, views)."""
        deployment = self.deployment
        return MarketClient(
            self.relayer,
            deployment.address(MARKET_CONTRACT),
            deployment.deploy_block,
            gas_limit=self.settings.relayer_gas_limit,
        )

    @cached_property
    def gate_closure_lead_seconds(self) -> int:
        """The contract's gate lead (immutable, so read once)."""
        return int(self.market.contract.functions.gateClosureLeadSeconds().call())

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

"""Where a meter agent's chain settings come from: the deployment file, flags, the chain.

The chain id and the QuartierExchange address (the EIP-712 domain every meter message is
signed in) come from the deployment file (`contracts/deployments/<chain_id>.json`, which for
protocol v2 holds QuartierCommunity and QuartierExchange) or from flags; a flag that
disagrees with the given deployment file is an error, not a silent override. The time grid
(interval and period lengths) is the community's, fixed at its deployment: it is read from
the chain (`--rpc`), and a spool remembers it, so a restart while the node is down still
knows it. Nothing here has a default that could disagree with the exchange.

Chain access goes through `ledger` (the package that talks to EVM nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.rules import TimeGrid
from metering.errors import MeterConfigError


@dataclass(frozen=True)
class ChainSettings:
    """What the agent signs for: chain id, exchange (and its community, when known)."""

    chain_id: int
    exchange_address: str
    community_address: str | None = None


def resolve_chain_settings(
    deployment_file: Path | None, chain_id: int | None, exchange: str | None
) -> ChainSettings:
    """The chain id and exchange from a deployment file and/or flags (flags must agree)."""
    from ledger.deployment import deployment_path, load_deployment
    from ledger.errors import LedgerError

    if deployment_file is None and chain_id is not None and exchange is None:
        deployment_file = deployment_path(chain_id)
    if deployment_file is None:
        if chain_id is None or exchange is None:
            raise MeterConfigError(
                "give --deployment FILE, or --chain-id (its deployment file is then "
                "contracts/deployments/<chain id>.json), or both --chain-id and --exchange"
            )
        return ChainSettings(chain_id, exchange)
    try:
        deployment = load_deployment(deployment_file)
        deployed_exchange = deployment.address("QuartierExchange")
        community = deployment.address("QuartierCommunity")
    except LedgerError as error:
        raise MeterConfigError(f"{error} (protocol v2 deployments hold QuartierExchange)") from None
    if chain_id is not None and chain_id != deployment.chain_id:
        raise MeterConfigError(
            f"--chain-id {chain_id} disagrees with {deployment_file} (chain {deployment.chain_id})"
        )
    if exchange is not None and exchange.lower() != deployed_exchange.lower():
        raise MeterConfigError(
            f"--exchange {exchange} disagrees with {deployment_file} ({deployed_exchange})"
        )
    return ChainSettings(deployment.chain_id, deployed_exchange, community)


def read_time_grid(rpc_url: str, settings: ChainSettings) -> TimeGrid:
    """The community's time grid, read from the node at `rpc_url` (the exchange names its
    community; a deployment file's community must be that one; the node's chain id must be
    the settings')."""
    from eth_account import Account
    from web3.exceptions import Web3Exception

    from ledger.chain import Sender, connect
    from ledger.community import CommunityClient
    from ledger.errors import LedgerError
    from ledger.exchange import ExchangeClient

    try:
        w3 = connect(rpc_url)
        actual = w3.eth.chain_id
        if actual != settings.chain_id:
            raise MeterConfigError(
                f"the node at {rpc_url} is chain {actual}, not chain {settings.chain_id}"
            )
        # A read-only view: the clients want a sender, this one never sends anything.
        reader = Sender(w3, Account.create())
        community = ExchangeClient(reader, settings.exchange_address).community()
        if (
            settings.community_address is not None
            and community.lower() != settings.community_address.lower()
        ):
            raise MeterConfigError(
                f"the exchange {settings.exchange_address} belongs to community {community}, "
                f"not to the deployment's {settings.community_address}"
            )
        return CommunityClient(reader, community).time_grid()
    except (LedgerError, Web3Exception) as error:
        # Web3Exception: e.g. no contract at the address (the call returns nothing).
        raise MeterConfigError(f"cannot read the community's time grid: {error}") from None


def grid_of_binding(binding: dict[str, str], settings: ChainSettings) -> TimeGrid | None:
    """The grid a spool was bound to for these settings (None: another or no binding)."""
    if binding.get("chain_id") != str(settings.chain_id) or (
        binding.get("exchange") != settings.exchange_address.lower()
    ):
        return None
    try:
        return TimeGrid(int(binding["interval_seconds"]), int(binding["period_intervals"]))
    except (KeyError, ValueError):
        return None

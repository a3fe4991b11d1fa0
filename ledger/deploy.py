"""Deploy a community's contracts and record them in a deployment file."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from ledger.chain import Sender
from ledger.compiler import artifact, compiler_settings
from ledger.deployment import Deployment
from ledger.errors import revert_class


def deploy_contract(sender: Sender, name: str, *constructor_args: Any) -> tuple[str, int]:
    """Deploy contract `name`; returns its address and the block it was created in."""
    compiled = artifact(name)
    factory = sender.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    receipt = sender.transact(factory.constructor(*constructor_args))
    address = receipt["contractAddress"]
    if address is None:
        raise revert_class("DeploymentFailed")({"contract": name})
    return Web3.to_checksum_address(address), int(receipt["blockNumber"])


#: Name and symbol of the local settlement token (6 decimals, like a euro stablecoin).
TOKEN_NAME = "Quartier Euro"
TOKEN_SYMBOL = "qEUR"


def deploy_community(
    sender: Sender,
    manager: str | None = None,
    token: str | None = None,
    gate_closure_lead_seconds: int = 0,
) -> Deployment:
    """Deploy a community: the registry, the settlement token and the market.

    `manager` (default: the deployer) manages the registry and mints the local token. Pass
    `token` to settle in an existing ERC-20 (a real euro stablecoin) instead of deploying one.
    An interval's book closes `gate_closure_lead_seconds` before the interval starts.
    """
    manager_address = Web3.to_checksum_address(manager or sender.address)
    registry, block = deploy_contract(sender, "CommunityRegistry", manager_address)
    if token is None:
        token_address, _ = deploy_contract(
            sender, "QuartierToken", TOKEN_NAME, TOKEN_SYMBOL, manager_address
        )
    else:
        token_address = Web3.to_checksum_address(token)
    market, _ = deploy_contract(
        sender, "QuartierMarket", registry, token_address, gate_closure_lead_seconds
    )
    return Deployment(
        chain_id=sender.w3.eth.chain_id,
        deploy_block=block,
        manager=manager_address,
        contracts={
            "CommunityRegistry": registry,
            "QuartierToken": token_address,
            "QuartierMarket": market,
        },
        compiler=compiler_settings().as_dict(),
    )

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


def deploy_community(sender: Sender, manager: str | None = None) -> Deployment:
    """Deploy the registry with `manager` (default: the deployer) as community manager."""
    manager_address = Web3.to_checksum_address(manager or sender.address)
    registry, block = deploy_contract(sender, "CommunityRegistry", manager_address)
    return Deployment(
        chain_id=sender.w3.eth.chain_id,
        deploy_block=block,
        manager=manager_address,
        contracts={"CommunityRegistry": registry},
        compiler=compiler_settings().as_dict(),
    )

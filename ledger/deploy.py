"""Deploying one contract from its compiled artifact, and the local token's name (a community's
deployment is `ledger.deploy_v2.deploy_community_v2`)."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from ledger.chain import Sender
from ledger.compiler import artifact
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

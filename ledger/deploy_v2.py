"""Deploy a protocol v2 community: settlement token, QuartierCommunity (with its rules and
time grid), QuartierExchange, QuartierSettlementVersions (the corrections of settled periods,
bound to the exchange), QuartierSharingKeys (the CWaPE allocation keys, bound to the
community)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from web3 import Web3

from ledger.chain import Sender
from ledger.compiler import compiler_settings
from ledger.deploy import TOKEN_NAME, TOKEN_SYMBOL, deploy_contract
from ledger.deployment import Deployment
from ledger.rules import Mechanism, Rules, TimeGrid

if TYPE_CHECKING:
    from ledger.sharing_keys import ChainKey

#: Rules a fresh local community starts with: pay-as-clear between a feed-in floor of
#: 0.05 and a retail ceiling of 0.35 per kWh (6-decimal token), a 15-minute gate lead, a
#: day to bring missing meter data, and entries of at least 1 Wh.
DEFAULT_RULES = Rules(
    mechanism=Mechanism.PAY_AS_CLEAR,
    gate_lead_seconds=900,
    settlement_deadline_seconds=86_400,
    min_entry_wh=1,
    price_floor_per_kwh=50_000,
    price_ceiling_per_kwh=350_000,
    community_price_per_kwh=150_000,
)
#: The smallest delay IQuartierCommunity allows between a rules change and its first period.
DEFAULT_RULE_CHANGE_DELAY_PERIODS = 2


def deploy_community_v2(
    sender: Sender,
    rules: Rules = DEFAULT_RULES,
    grid: TimeGrid = TimeGrid(),  # noqa: B008 - frozen value, safe as a default
    manager: str | None = None,
    token: str | None = None,
    rule_change_delay_periods: int = DEFAULT_RULE_CHANGE_DELAY_PERIODS,
    sharing_keys: Sequence[ChainKey] = (),
) -> Deployment:
    """Deploy a v2 community; returns its Deployment (contracts by name).

    `sharing_keys` are QuartierSharingKeys's first keys (none: the manager schedules them).

    `manager` (default: the deployer) manages the community and mints the local token. Pass
    `token` to settle in an existing plain ERC-20 instead of deploying QuartierToken.
    """
    manager_address = Web3.to_checksum_address(manager or sender.address)
    if token is None:
        token_address, block = deploy_contract(
            sender, "QuartierToken", TOKEN_NAME, TOKEN_SYMBOL, manager_address
        )
    else:
        token_address, block = Web3.to_checksum_address(token), None
    community, community_block = deploy_community_contract(
        sender, manager_address, rules, grid, rule_change_delay_periods
    )
    exchange, _ = deploy_contract(sender, "QuartierExchange", community, token_address)
    versions, _ = deploy_contract(sender, "QuartierSettlementVersions", exchange)
    keys, _ = deploy_contract(
        sender, "QuartierSharingKeys", community, [key.as_abi() for key in sharing_keys]
    )
    return Deployment(
        chain_id=sender.chain_id,
        deploy_block=community_block if block is None else block,
        manager=manager_address,
        contracts={
            "QuartierToken": token_address,
            "QuartierCommunity": community,
            "QuartierExchange": exchange,
            "QuartierSettlementVersions": versions,
            "QuartierSharingKeys": keys,
        },
        compiler=compiler_settings().as_dict(),
    )


def deploy_community_contract(
    sender: Sender,
    manager: str,
    rules: Rules = DEFAULT_RULES,
    grid: TimeGrid = TimeGrid(),  # noqa: B008 - frozen value, safe as a default
    rule_change_delay_periods: int = DEFAULT_RULE_CHANGE_DELAY_PERIODS,
) -> tuple[str, int]:
    """Deploy QuartierCommunity alone; returns its address and deployment block."""
    return deploy_contract(
        sender,
        "QuartierCommunity",
        Web3.to_checksum_address(manager),
        grid.interval_seconds,
        grid.period_intervals,
        rule_change_delay_periods,
        rules.as_abi(),
    )

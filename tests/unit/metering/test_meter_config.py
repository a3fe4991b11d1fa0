"""Where `quartier meter run` takes its chain settings from: the deployment file and flags
(which must agree), and a spool's remembered grid (a restart with the node down)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.deployment import Deployment, save_deployment
from ledger.rules import TimeGrid
from metering.config import ChainSettings, grid_of_binding, resolve_chain_settings
from metering.errors import MeterConfigError

EXCHANGE = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
COMMUNITY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def deployment_file(tmp_path: Path, contracts: dict[str, str]) -> Path:
    return save_deployment(Deployment(31337, 1, COMMUNITY, contracts), tmp_path)


def test_a_v2_deployment_file_gives_chain_exchange_and_community(tmp_path: Path) -> None:
    path = deployment_file(tmp_path, {"QuartierExchange": EXCHANGE, "QuartierCommunity": COMMUNITY})
    assert resolve_chain_settings(path, None, None) == ChainSettings(31337, EXCHANGE, COMMUNITY)
    # Flags that agree are fine (case of the address aside).
    assert resolve_chain_settings(path, 31337, EXCHANGE.lower()).exchange_address == EXCHANGE


@pytest.mark.parametrize(
    ("chain_id", "exchange", "message"),
    [
        (1, None, "--chain-id 1 disagrees"),
        (None, "0x" + "11" * 20, "--exchange 0x1111"),
    ],
)
def test_flags_that_disagree_with_the_file_are_refused(
    tmp_path: Path, chain_id: int | None, exchange: str | None, message: str
) -> None:
    path = deployment_file(tmp_path, {"QuartierExchange": EXCHANGE, "QuartierCommunity": COMMUNITY})
    with pytest.raises(MeterConfigError, match=message):
        resolve_chain_settings(path, chain_id, exchange)


def test_a_v1_deployment_file_is_refused_by_name(tmp_path: Path) -> None:
    # Written as v1 wrote it (no ABIs: its contracts no longer compile here).
    path = tmp_path / "31337.json"
    v1 = {"chain_id": 31337, "deploy_block": 1, "manager": COMMUNITY}
    path.write_text(json.dumps({**v1, "contracts": {"QuartierMarket": EXCHANGE}}))
    with pytest.raises(MeterConfigError, match="has no QuartierExchange"):
        resolve_chain_settings(path, None, None)


def test_flags_alone_or_nothing(tmp_path: Path) -> None:
    assert resolve_chain_settings(None, 5, EXCHANGE) == ChainSettings(5, EXCHANGE)
    with pytest.raises(MeterConfigError, match="give --deployment FILE"):
        resolve_chain_settings(None, None, EXCHANGE)


def test_a_spool_remembers_the_grid_of_its_own_community_only() -> None:
    settings = ChainSettings(31337, EXCHANGE)
    binding = {
        "chain_id": "31337",
        "exchange": EXCHANGE.lower(),
        "interval_seconds": "900",
        "period_intervals": "96",
    }
    assert grid_of_binding(binding, settings) == TimeGrid(900, 96)
    assert grid_of_binding(binding, ChainSettings(1, EXCHANGE)) is None
    assert grid_of_binding(binding, ChainSettings(31337, "0x" + "22" * 20)) is None
    assert grid_of_binding({}, settings) is None

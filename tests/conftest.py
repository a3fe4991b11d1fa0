"""Shared fixtures: one real Anvil node per test session, and the test depth knob.

QUARTIER_TEST_DEPTH=ci selects the deeper Hypothesis profile here and, in scripts/test, the
deeper forge profile (FOUNDRY_PROFILE=ci): one knob for both languages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deploy import deploy_community
from ledger.deployment import Deployment

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("QUARTIER_TEST_DEPTH") == "ci" else "default")


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """A real Anvil node on a free loopback port, stopped by its PID after the session."""
    with AnvilNode() as node:
        yield node


@pytest.fixture(scope="session")
def manager(anvil: AnvilNode) -> Sender:
    """The community manager: Anvil's funded development account."""
    w3 = connect(anvil.url)
    return Sender(w3, default_deployer(w3.eth.chain_id, None))


@pytest.fixture
def community(manager: Sender, tmp_path: Path) -> Deployment:
    """A freshly deployed community (each test gets its own contracts)."""
    return deploy_community(manager)

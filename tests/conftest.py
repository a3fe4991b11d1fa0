"""Shared fixtures: one real Anvil node per test session, and the test depth knob.

QUARTIER_TEST_DEPTH=ci selects the deeper Hypothesis profile here and, in scripts/test, the
deeper forge profile (FOUNDRY_PROFILE=ci): one knob for both languages.

No silent skips: with CI set (CI runs with CI=true), a skipped test or module is a failure, so
test data that a clean checkout lacks (e.g. ../shared/testdata for the P1 conformance tests)
fails the run instead of turning it green with nothing checked.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ledger.accounts import default_deployer
from ledger.anvil import AnvilNode
from ledger.chain import Sender, connect
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import Deployment

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("QUARTIER_TEST_DEPTH") == "ci" else "default")


def _skips_fail() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if _skips_fail() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a skip is a failure when CI is set): {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_skip(report)
    return report


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
    """A freshly deployed protocol v2 community (each test gets its own contracts)."""
    return deploy_community_v2(manager)

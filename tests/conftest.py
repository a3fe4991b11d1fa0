"""Shared fixtures: one real Anvil node per test session, and the test depth knob.

QUARTIER_TEST_DEPTH=ci selects the deeper Hypothesis profile here and, in scripts/test, the
deeper forge profile (FOUNDRY_PROFILE=ci): one knob for both languages.

Databases: a test that takes `database_url` (or `new_database`, for more than one) runs twice,
on a SQLite file and on a fresh database of the PostgreSQL server at
QUARTIER_TEST_POSTGRES_URL (.ci/run starts one with .ci/postgres; without it the PostgreSQL
run is skipped, which under CI fails).

No silent skips: with CI set (CI runs with CI=true), a skipped test or module is a failure, so
test data that a clean checkout lacks (e.g. ../shared/testdata for the P1 conformance tests)
fails the run instead of turning it green with nothing checked.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import URL, make_url

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


#: The URL of a PostgreSQL server's database the tests may create databases from.
POSTGRES_URL_VARIABLE = "QUARTIER_TEST_POSTGRES_URL"

#: Names of the databases this session creates (unique per process and test).
_DATABASE_NUMBERS = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> URL:
    """The PostgreSQL server of the run (`.ci/run` starts a throw-away one)."""
    raw = os.environ.get(POSTGRES_URL_VARIABLE)
    if not raw:
        pytest.skip(
            f"{POSTGRES_URL_VARIABLE} is not set: no PostgreSQL server for this run"
            " (.ci/run starts one; locally: URL=$(.ci/postgres start DIR))"
        )
    return make_url(raw)


def _postgres_admin(server: URL, statement: str) -> None:
    import psycopg

    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(statement.encode())


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty databases of one kind (the parameter): SQLite files in `tmp_path`, or
    databases of the PostgreSQL server, dropped after the test (open connections too)."""
    made: list[str] = []
    server: URL | None = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")

    def make() -> str:
        name = f"quartier_test_{os.getpid()}_{next(_DATABASE_NUMBERS)}"
        if server is None:
            return f"sqlite:///{tmp_path / (name + '.db')}"
        _postgres_admin(server, f'CREATE DATABASE "{name}"')
        made.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield make
    for name in made:
        assert server is not None  # only a server makes names to drop
        _postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(new_database: Callable[[], str]) -> str:
    """An empty database, on SQLite and on PostgreSQL (see the module docstring)."""
    return new_database()

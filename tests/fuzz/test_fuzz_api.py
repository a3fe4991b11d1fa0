"""Schemathesis against the OpenAPI document a real `quartier serve` serves (issue 12).

Every operation gets up to FUZZ_EXAMPLES generated requests (positive and negative: wrong
types, missing fields, out-of-range numbers, odd strings), all against one served process on
127.0.0.1 wired to a real Anvil community (protocol v2). A request fails the tier if the
answer is a 5xx or does not match the response schema the document declares. Bounded:
examples per operation (QUARTIER_TEST_DEPTH=ci raises them) and a wall-clock budget for the
whole tier.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.app import create_app
from api.settings import Settings
from ledger.anvil import AnvilNode, free_port
from ledger.chain import Sender
from ledger.deploy_v2 import deploy_community_v2
from ledger.deployment import save_deployment

QUARTIER = str(Path(sys.executable).parent / "quartier")
CI = os.environ.get("QUARTIER_TEST_DEPTH") == "ci"
FUZZ_EXAMPLES = 1000 if CI else 200
#: Past this, the remaining examples are skipped (the tier never runs unbounded).
BUDGET_SECONDS = 900.0 if CI else 240.0
_STARTED = time.monotonic()
_SENT: list[int] = []


@pytest.fixture(scope="module")
def served(
    anvil: AnvilNode, manager: Sender, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("fuzz")
    deployment = save_deployment(deploy_community_v2(manager), directory)
    environment = {
        **os.environ,
        "QUARTIER_RPC_URL": anvil.url,
        "QUARTIER_DEPLOYMENT": str(deployment),
        "QUARTIER_DATABASE_URL": f"sqlite:///{directory / 'api.db'}",
        "QUARTIER_WORKER": "0",
    }
    port = free_port()
    log = (directory / "serve.log").open("wb")
    process = subprocess.Popen(
        [QUARTIER, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError("serve did not start")
    yield url
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    log.close()
    print(f"\nfuzz: {sum(_SENT)} requests, serve exit {process.returncode}")
    assert "Traceback" not in (directory / "serve.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def api_schema(served: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{served}/openapi.json")


def _operations() -> list[tuple[str, str]]:
    # The same document the served process answers, built in-process (no chain needed).
    document = create_app(Settings(database_url="sqlite://")).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_5xx_and_every_answer_matches_the_document(
    api_schema: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exchange(case: Case) -> None:
        if time.monotonic() - _STARTED > BUDGET_SECONDS:
            return
        _SENT.append(1)
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance], timeout=10)

    exchange()

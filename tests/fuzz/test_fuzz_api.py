"""Schemathesis against the OpenAPI document a real `quartier serve` serves (issue 12).

Every operation gets up to FUZZ_EXAMPLES generated requests (positive and negative: wrong
types, missing fields, out-of-range numbers, odd strings), all against one served process on
127.0.0.1 wired to a real Anvil community (protocol v2). A request fails the tier if the
answer is a 5xx or does not match the response schema the document declares. Bounded:
examples per operation (QUARTIER_TEST_DEPTH=ci raises them) and a wall-clock budget for the
whole tier, shared fairly: each operation and mode gets the budget left divided by the tests
left (time one finishes early goes to the next), and stops generating when its share is spent
(the cheap operations send many requests in their share, the ones that call the chain fewer).

The requests actually sent are counted (with the 5xx and schema violations seen, and whether
the served process survived), printed in one line at the end of the tier (`fuzz: ...`), and
the last test fails a CI-depth run that sent fewer than MIN_CI_REQUESTS (issue 12's target is
0 crashes and 0 5xx over at least 10,000 generated requests).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
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
#: Examples per operation and mode: at CI depth high enough that the time share, not the
#: count, ends most operations.
FUZZ_EXAMPLES = 3000 if CI else 200
#: Seconds of fuzzing, from the moment the served process answers (its start on a loaded
#: machine is not counted): the tier never runs unbounded.
BUDGET_SECONDS = 840.0 if CI else 240.0
#: Issue 12's floor for a CI-depth run.
MIN_CI_REQUESTS = 10_000
_STARTED = time.monotonic()


@dataclass
class Tally:
    """What the tier sent and saw (module-wide: one served process for every operation)."""

    requests: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    #: Requests the served process did not answer (connection refused or reset: it died).
    crashes: int = 0
    started: float = _STARTED
    finished: float | None = None
    #: Parametrised tests finished (the budget left is shared among the others).
    tests_done: int = 0
    #: Requests sent per operation and mode ("POST /schedules positive"), in the order run.
    by_test: dict[str, int] = field(default_factory=dict)

    def share_end(self, tests: int) -> float:
        """When the next test's share of the budget ends."""
        now = time.monotonic()
        left = self.started + BUDGET_SECONDS - now
        return now + max(0.0, left) / max(1, tests - self.tests_done)

    def line(self) -> str:
        seconds = (self.finished or time.monotonic()) - self.started
        return (
            f"fuzz: {self.requests:,} requests, {self.server_errors} 5xx,"
            f" {self.schema_violations} schema violations, {self.crashes} crashes,"
            f" {seconds:.0f} s"
        )


TALLY = Tally()


class ShareSpentError(Exception):
    """This operation's share of the budget is spent: not a failure, the end of its test."""


CHECKS = [not_a_server_error, response_schema_conformance]


class FuzzFailureError(AssertionError):
    """A request answered with a 5xx, off the document, or not at all (its curl inside)."""


class RequestPipe:
    """Sends the generated requests from a thread of its own, in order, over one keep-alive
    connection: generating the next request (CPU in this process) overlaps with serving the
    last one (the served process), so both cores work. The first failure is kept, with its
    request, and raised in the test's thread."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.queue: queue.Queue[tuple[str, Case] | None] = queue.Queue(maxsize=8)
        self.failure: FuzzFailureError | None = None
        self.thread = threading.Thread(target=self._run, name="fuzz-sender", daemon=True)
        self.thread.start()

    def submit(self, name: str, case: Case) -> None:
        self.raise_failure()
        self.queue.put((name, case), timeout=60)

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def drain(self) -> None:
        """Wait until every submitted request was answered and checked."""
        self.queue.join()
        self.raise_failure()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            try:
                if self.failure is None:
                    self._exchange(*item)
            except Exception as error:  # kept for the test's thread, with its request
                self.failure = FuzzFailureError(f"{error}\nrequest: {item[1].as_curl_command()}")
            finally:
                self.queue.task_done()
        self.queue.task_done()

    def _exchange(self, name: str, case: Case) -> None:
        TALLY.requests += 1
        TALLY.by_test[name] = TALLY.by_test.get(name, 0) + 1
        try:
            response = case.call(session=self.session, timeout=10)
        except requests.ConnectionError:
            TALLY.crashes += 1
            raise
        if response.status_code >= 500:
            TALLY.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception:
            if response.status_code < 500:
                TALLY.schema_violations += 1
            raise


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
    # Importing web3 and the app takes seconds on an idle machine, minutes on a loaded one.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError("serve did not start")
    TALLY.started = time.monotonic()
    yield url
    if process.poll() is not None:
        TALLY.crashes += 1  # died during the tier
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    log.close()
    assert "Traceback" not in (directory / "serve.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def api_schema(served: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{served}/openapi.json")


@pytest.fixture(scope="module")
def pipe(served: str) -> Iterator[RequestPipe]:
    running = RequestPipe()
    yield running
    running.close()


def _operations() -> list[tuple[str, str]]:
    # The same document the served process answers, built in-process (no chain needed).
    document = create_app(Settings(database_url="sqlite://")).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


OPERATIONS = _operations()
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_5xx_and_every_answer_matches_the_document(
    api_schema: BaseSchema, pipe: RequestPipe, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    share_end = TALLY.share_end(len(OPERATIONS) * len(MODES))
    name = f"{method} {path} {mode.value}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        # No shrinking: a failing request is reported as generated (shrinking re-runs the
        # operation for an unbounded time), and the end of a share stops generation at once.
        phases=[Phase.explicit, Phase.generate],
    )
    def exchange(case: Case) -> None:
        if time.monotonic() > share_end:
            raise ShareSpentError
        pipe.submit(name, case)

    try:
        exchange()
    except ShareSpentError:
        pass
    except Unsatisfiable:
        # Nothing to make invalid (an operation without parameters or body, e.g. GET
        # /health) in negative mode: its positive test covers it.
        assert mode is GenerationMode.NEGATIVE
    finally:
        TALLY.tests_done += 1
    pipe.drain()


def test_the_tier_sent_enough_and_nothing_failed(served: str) -> None:
    """Last in the module: the figures of the whole tier (a CI-depth run below the floor, or
    with any 5xx or crash, fails here even if every operation's test passed)."""
    TALLY.finished = time.monotonic()
    alive = httpx.get(f"{served}/openapi.json", timeout=10).status_code == 200
    print(TALLY.line())
    for name, count in TALLY.by_test.items():
        print(f"  {count:6,} {name}")
    assert alive, "the served process stopped answering"
    assert TALLY.server_errors == 0, TALLY.line()
    assert TALLY.crashes == 0, TALLY.line()
    assert TALLY.schema_violations == 0, TALLY.line()
    if CI:
        assert TALLY.requests >= MIN_CI_REQUESTS, TALLY.line()

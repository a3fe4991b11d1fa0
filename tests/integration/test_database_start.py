"""A bad database stops `quartier serve` and `quartier relayer` with one line on stderr and a
non-zero exit, never a traceback: a malformed URL, another database, a PostgreSQL server that
is not there. The chain and the deployment are good (a real Anvil node), so the line is about
the database whichever the services check first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.anvil import AnvilNode
from ledger.deployment import Deployment, save_deployment

pytestmark = pytest.mark.integration

QUARTIER = str(Path(sys.executable).parent / "quartier")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Each run imports the whole service (~5 s of CPU): three runs cover both commands and the
# two ways of failing (the URL itself, then the server behind it).
@pytest.mark.parametrize(
    ("command", "url", "said"),
    [
        (["serve"], "postgresql://quartier:hunter2@db:port/q", "is malformed"),
        (["relayer", "--once"], "mysql://quartier@127.0.0.1/q", "runs on SQLite or PostgreSQL"),
        (["serve"], "postgresql://quartier:hunter2@127.0.0.1:{port}/q", "cannot use the database"),
    ],
    ids=["serve-malformed", "relayer-foreign", "serve-unreachable"],
)
def test_serve_and_relayer_refuse_a_bad_database_in_one_line(
    command: list[str],
    url: str,
    said: str,
    tmp_path: Path,
    anvil: AnvilNode,
    community: Deployment,
) -> None:
    environment = {
        **os.environ,
        "QUARTIER_DATABASE_URL": url.format(port=_free_port()),
        "QUARTIER_RPC_URL": anvil.url,
        "QUARTIER_DEPLOYMENT": str(save_deployment(community, tmp_path)),
    }
    done = subprocess.run(
        [QUARTIER, *command],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("quartier: ")
    assert said in lines[0]
    assert "hunter2" not in done.stderr

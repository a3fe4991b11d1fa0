"""The database URL is checked before anything connects: normalised for SQLAlchemy (PostgreSQL
on psycopg 3), and a malformed, foreign or unreachable one stops `quartier serve` and
`quartier relayer` with one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from api.db import check_database_url
from api.errors import ConfigurationError

QUARTIER = str(Path(sys.executable).parent / "quartier")


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        (
            "postgresql://quartier:s3cret@db.example:5433/q",
            "postgresql+psycopg://quartier:s3cret@db.example:5433/q",
        ),
        ("postgres://quartier@db.example/q", "postgresql+psycopg://quartier@db.example/q"),
        (
            "postgresql+psycopg://quartier@/q?host=/run/pg",
            "postgresql+psycopg://quartier@/q?host=%2Frun%2Fpg",
        ),
        ("sqlite:///quartier.db", "sqlite+pysqlite:///quartier.db"),
        ("sqlite:////var/lib/quartier.db", "sqlite+pysqlite:////var/lib/quartier.db"),
        ("sqlite://", "sqlite+pysqlite://"),
    ],
)
def test_urls_are_normalised_for_the_installed_drivers(given: str, normalised: str) -> None:
    assert check_database_url(given) == normalised


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("not a url", "malformed"),
        ("postgresql://quartier:hunter2@db:port/q", "malformed"),
        ("mysql://quartier@db/q", "'mysql'"),
        ("postgresql+psycopg2://quartier@db/q", "'postgresql+psycopg2'"),
        ("sqlite://somehost/quartier.db", "has a host"),
    ],
)
def test_malformed_and_foreign_urls_are_refused_in_one_line(given: str, named: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        check_database_url(given)
    assert named in refused.value.detail
    assert refused.value.slug == "database-url"
    assert "\n" not in refused.value.detail
    assert "hunter2" not in refused.value.detail  # a password is never echoed


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
    command: list[str], url: str, said: str, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "QUARTIER_DATABASE_URL": url.format(port=_free_port()),
        # Nothing listens here: the database is checked before the chain is needed.
        "QUARTIER_RPC_URL": f"http://127.0.0.1:{_free_port()}",
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

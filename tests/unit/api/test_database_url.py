"""The database URL is checked before anything connects: normalised for SQLAlchemy (PostgreSQL
on psycopg 3), a malformed or foreign one refused in one line without its password
(tests/integration/test_database_start.py: the same through `quartier serve` and `relayer`)."""

from __future__ import annotations

import pytest

from api.db import check_database_url
from api.errors import ConfigurationError


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

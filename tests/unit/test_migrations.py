"""The Alembic migrations own the schema: they make exactly the models' tables (so drift between
api/*/models.py and migrations/ fails here), adopt a database of the former `create_all`,
refuse one they cannot account for, and migrate once when processes start together. Each
test runs on a SQLite file and on PostgreSQL (`database_url`, tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import BigInteger, Integer, MetaData, inspect, text
from sqlalchemy.engine import Engine

from api.db import (
    INITIAL_REVISION,
    alembic_config,
    create_schema,
    make_engine,
    service_metadata,
)
from api.errors import DatabaseUnavailableError

REPOSITORY = Path(__file__).resolve().parents[2]

#: The columns the former `create_all` made INTEGER (unix seconds, the reading id).
FORMER_INTEGER_COLUMNS = {
    ("household", "admitted_at"),
    ("household", "erased_at"),
    ("login_challenge", "expires_at"),
    ("manager_request", "received_at"),
    ("meter", "checked_at"),
    ("reading", "id"),
    ("reading", "received_at"),
}


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, service_metadata()))


def test_the_migrations_make_exactly_the_models_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    create_schema(engine)
    assert _revision(engine) == _head()
    # Types included: a column added, dropped, retyped or re-indexed in a model without a
    # migration (or the reverse) is listed here.
    assert _differences(engine) == []
    create_schema(engine)  # a second start changes nothing
    assert _revision(engine) == _head()


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    engine = make_engine(database_url)
    create_schema(engine)
    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), "base")
        connection.commit()
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    create_schema(engine)
    assert _differences(engine) == []


def _former_create_all(engine: Engine) -> None:
    """The tables as `SQLModel.metadata.create_all` made them before the migrations."""
    former = MetaData()
    for table in service_metadata().tables.values():
        copy = table.to_metadata(former)
        for column in copy.columns:
            if (table.name, column.name) in FORMER_INTEGER_COLUMNS:
                assert isinstance(column.type, BigInteger)
                column.type = Integer()
    former.create_all(engine)


def test_a_database_of_the_former_create_all_is_adopted_with_its_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    _former_create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO manager_request (signature_hash, received_at) VALUES ('0xab', 7)")
        )
    create_schema(engine)
    assert _revision(engine) == _head()
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT signature_hash, received_at FROM manager_request"))
        assert kept.all() == [("0xab", 7)]


def test_a_database_with_other_tables_of_the_same_names_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE household (address VARCHAR PRIMARY KEY)"))
    with pytest.raises(DatabaseUnavailableError) as refused:
        create_schema(engine)
    assert refused.value.slug == "database-schema-unknown"
    assert f"revision {INITIAL_REVISION}" in refused.value.detail
    assert "\n" not in refused.value.detail
    assert _revision(engine) is None  # nothing stamped, nothing created
    assert inspect(engine).get_table_names() == ["household"]


def test_tables_that_are_not_quartiers_are_left_alone(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    create_schema(engine)
    assert _revision(engine) == _head()
    assert "someone_elses" in inspect(engine).get_table_names()


def test_services_starting_together_migrate_once(new_database: Callable[[], str]) -> None:
    url = new_database()
    engines = [make_engine(url) for _ in range(4)]
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def start(engine: Engine) -> None:
        barrier.wait(timeout=30)
        try:
            create_schema(engine)
        except BaseException as error:  # reported below, with the others
            failures.append(error)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert _revision(engines[0]) == _head()
    assert _differences(engines[0]) == []


def test_the_alembic_command_reads_pyproject_and_finds_no_drift(database_url: str) -> None:
    """`alembic upgrade head` then `alembic check` from the repository root, as a developer
    runs them ([tool.alembic] in pyproject.toml; the URL from QUARTIER_DATABASE_URL)."""
    environment = {**os.environ, "QUARTIER_DATABASE_URL": database_url}
    for arguments in (["upgrade", "head"], ["check"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", *arguments],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert "No new upgrade operations detected" in done.stdout + done.stderr
    assert _revision(make_engine(database_url)) == _head()

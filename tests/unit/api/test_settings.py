"""api.settings on pydantic-settings: every QUARTIER_* name and default kept, one line per
malformed value, explicit values over the environment (issue 13)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import api.settings
from api.errors import ConfigurationError
from api.settings import Settings, env_name

#: The variables and defaults of the service before pydantic-settings (README, api.settings).
DEFAULTS = {
    "QUARTIER_RPC_URL": ("rpc_url", "http://127.0.0.1:8545"),
    "QUARTIER_DATABASE_URL": ("database_url", "sqlite:///quartier.db"),
    "QUARTIER_DEPLOYMENT": ("deployment_file", None),
    "QUARTIER_RELAYER_KEY": ("relayer_key", None),
    "QUARTIER_MANAGER_KEY": ("manager_key", None),
    "QUARTIER_TOKEN_SECONDS": ("token_seconds", 900),
    "QUARTIER_METER_CACHE_SECONDS": ("meter_cache_seconds", 60),
    "QUARTIER_WORKER": ("run_relayer", True),
    "QUARTIER_WORKER_POLL_SECONDS": ("relayer_poll_seconds", 5),
    "QUARTIER_RELAYER_GAS_LIMIT": ("relayer_gas_limit", 25_000_000),
    "QUARTIER_RELAYER_BATCH_SIZE": ("relayer_batch_size", 40),
    "QUARTIER_RELAY_MARGIN_SECONDS": ("relay_margin_seconds", 60),
    "QUARTIER_MEMBERSHIP_CACHE_SECONDS": ("membership_cache_seconds", 30),
    "QUARTIER_HEAD_CACHE_MS": ("head_cache_milliseconds", 500),
    "QUARTIER_MAX_BODY_BYTES": ("max_body_bytes", 1 << 20),
    "QUARTIER_MAX_JSON_DEPTH": ("max_json_depth", 32),
    "QUARTIER_CHAIN_DEADLINE_SECONDS": ("chain_deadline_seconds", 3.0),
    "QUARTIER_RPC_TIMEOUT_SECONDS": ("rpc_timeout_seconds", 10.0),
    "QUARTIER_CORS_ORIGINS": ("cors_origins", ()),
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("QUARTIER_")]:
        monkeypatch.delenv(name)


def test_every_variable_keeps_its_name_and_default() -> None:
    settings = Settings.from_env()
    for variable, (field, default) in DEFAULTS.items():
        assert env_name(field) == variable
        assert getattr(settings, field) == default, variable
    assert len(settings.auth_secret) == 32
    assert Settings.from_env().auth_secret != settings.auth_secret  # random per process


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("QUARTIER_RPC_URL", "http://node:8545", "http://node:8545"),
        ("QUARTIER_DEPLOYMENT", "deploy/5.json", Path("deploy/5.json")),
        ("QUARTIER_AUTH_SECRET", "s3cret", b"s3cret"),
        ("QUARTIER_WORKER", "0", False),
        ("QUARTIER_WORKER", "no", False),
        ("QUARTIER_WORKER", "1", True),
        ("QUARTIER_WORKER_POLL_SECONDS", "2", 2),
        ("QUARTIER_HEAD_CACHE_MS", "0", 0),
        ("QUARTIER_CHAIN_DEADLINE_SECONDS", "0.5", 0.5),
        ("QUARTIER_CORS_ORIGINS", "https://a.example, https://b.example", None),
    ],
)
def test_a_variable_sets_its_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, expected: object
) -> None:
    monkeypatch.setenv(variable, raw)
    field = {v: f for v, (f, _) in DEFAULTS.items()}.get(variable, "auth_secret")
    if expected is None:
        expected = ("https://a.example", "https://b.example")
    assert getattr(Settings.from_env(), field) == expected


def test_an_empty_variable_is_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in DEFAULTS:
        monkeypatch.setenv(variable, "")
    settings = Settings.from_env()
    assert settings.token_seconds == 900
    assert settings.deployment_file is None
    assert settings.run_relayer is True


@pytest.mark.parametrize(
    ("variable", "raw", "line"),
    [
        (
            "QUARTIER_WORKER_POLL_SECONDS",
            "soon",
            "QUARTIER_WORKER_POLL_SECONDS must be an integer, got 'soon'",
        ),
        ("QUARTIER_MAX_BODY_BYTES", "10", "QUARTIER_MAX_BODY_BYTES must be >= 1024, got 10"),
        ("QUARTIER_TOKEN_SECONDS", "0", "QUARTIER_TOKEN_SECONDS must be >= 1, got 0"),
        ("QUARTIER_HEAD_CACHE_MS", "-1", "QUARTIER_HEAD_CACHE_MS must be >= 0, got -1"),
        (
            "QUARTIER_RPC_TIMEOUT_SECONDS",
            "5000",
            "QUARTIER_RPC_TIMEOUT_SECONDS must be between 0 and 3600 seconds, got '5000'",
        ),
        (
            "QUARTIER_CHAIN_DEADLINE_SECONDS",
            "soon",
            "QUARTIER_CHAIN_DEADLINE_SECONDS must be a number of seconds, got 'soon'",
        ),
    ],
)
def test_a_malformed_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, line: str
) -> None:
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env()
    assert str(refused.value) == line


def test_explicit_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARTIER_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("QUARTIER_WORKER", "1")
    settings = Settings(database_url="sqlite://", run_relayer=False)
    assert (settings.database_url, settings.run_relayer) == ("sqlite://", False)
    copy = settings.model_copy(update={"run_relayer": True})
    assert (copy.database_url, copy.run_relayer) == ("sqlite://", True)


def test_keys_and_secrets_stay_out_of_the_repr() -> None:
    settings = Settings(relayer_key="0x" + "ab" * 32, auth_secret=b"hush-hush")
    assert "abab" not in repr(settings)
    assert "hush" not in repr(settings)


def test_the_documented_table_lists_every_variable() -> None:
    documented = set(re.findall(r"^\| (QUARTIER_[A-Z_]+) \|", api.settings.__doc__ or "", re.M))
    assert documented == {env_name(field) for field in Settings.model_fields}

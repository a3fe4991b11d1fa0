"""Settings of the service (pydantic-settings), read from the environment once (`get_settings`).

Every knob is a `QUARTIER_*` environment variable (an empty value counts as unset); nothing
is read at import time, so tests build a `Settings(...)` with their own values and hand it
to `create_app` (explicit values win over the environment). None of them is a rule of the
community (interval and period lengths, gate lead, mechanism, prices, deadline): those are
read from QuartierCommunity, so no second copy exists here. A malformed value is one
ConfigurationError naming the variable (one line from the CLI).

| variable | meaning | default |
|---|---|---|
| QUARTIER_RPC_URL | JSON-RPC node | http://127.0.0.1:8545 |
| QUARTIER_DATABASE_URL | SQLModel URL (SQLite file or PostgreSQL) | sqlite:///quartier.db |
| QUARTIER_DEPLOYMENT | deployment file | contracts/deployments/<chain id>.json |
| QUARTIER_RELAYER_KEY | key that posts schedules and settles periods | Anvil dev key on 31337 |
| QUARTIER_MANAGER_KEY | manager key the API may send admissions with | none (manager sends) |
| QUARTIER_AUTH_SECRET | HMAC key of login tokens | random per process |
| QUARTIER_TOKEN_SECONDS | lifetime of a login token | 900 |
| QUARTIER_CHALLENGE_SECONDS | lifetime of a sign-in challenge | 300 |
| QUARTIER_MANAGER_REQUEST_SECONDS | how far a manager request's timestamp may be from now | 300 |
| QUARTIER_METER_CACHE_SECONDS | how long a meter record is trusted (readings) | 60 |
| QUARTIER_WORKER | run the relayer inside `quartier serve` (1/0) | 1 |
| QUARTIER_WORKER_POLL_SECONDS | relayer period | 5 |
| QUARTIER_RELAYER_GAS_LIMIT | gas limit of each relayer transaction | 25,000,000 |
| QUARTIER_RELAYER_BATCH_SIZE | schedules per postSchedules transaction | 40 |
| QUARTIER_RELAY_MARGIN_SECONDS | a schedule's first gate must stay open this long | 60 |
| QUARTIER_MEMBERSHIP_CACHE_SECONDS | how long memberships and meters are trusted (intake) | 30 |
| QUARTIER_HEAD_CACHE_MS | how long a read of the chain head is reused | 500 |
| QUARTIER_MAX_BODY_BYTES | largest request body accepted (413 above) | 1,048,576 |
| QUARTIER_MAX_JSON_DEPTH | deepest JSON nesting accepted in a body (422 above) | 32 |
| QUARTIER_CHAIN_DEADLINE_SECONDS | all chain calls of one API request end within this | 3 |
| QUARTIER_RPC_TIMEOUT_SECONDS | timeout of one JSON-RPC request | 10 |
| QUARTIER_CORS_ORIGINS | browser origins allowed to call the API, comma-separated | none |
| QUARTIER_HEALTH_TIMEOUT_SECONDS | bound of each check of `GET /health` | 2 |
| QUARTIER_COMMUNITY | community.toml: members' contracts (household's page) | none |
| QUARTIER_DSO_RECONCILE_DIR | `quartier dso reconcile --json` outputs (manager's page) | none |
| QUARTIER_PRODUCTION | production meters' quarter-hours, CSV (household's page: own PV) | none |
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.errors import ConfigurationError

ENV_PREFIX = "QUARTIER_"


class Settings(BaseSettings):
    """Configuration of one community's service (API and relayer)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
    )

    rpc_url: str = "http://127.0.0.1:8545"
    database_url: str = "sqlite:///quartier.db"
    deployment_file: Path | None = Field(default=None, validation_alias="QUARTIER_DEPLOYMENT")
    relayer_key: str | None = Field(default=None, repr=False)
    manager_key: str | None = Field(default=None, repr=False)
    auth_secret: bytes = Field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    token_seconds: int = Field(default=900, ge=1)
    challenge_seconds: int = Field(default=300, ge=1)
    manager_request_seconds: int = Field(default=300, ge=1)
    meter_cache_seconds: int = Field(default=60, ge=0)
    #: Run the relayer loop inside `quartier serve` (else `quartier relayer` runs it).
    run_relayer: bool = Field(default=True, validation_alias="QUARTIER_WORKER")
    relayer_poll_seconds: int = Field(
        default=5, ge=1, validation_alias="QUARTIER_WORKER_POLL_SECONDS"
    )
    #: Gas limit of every relayer transaction: above a 100-household settlement, below the
    #: block gas limit (Anvil: 30M). Estimating each transaction instead costs the node a
    #: second execution and the relayer a round trip.
    relayer_gas_limit: int = Field(default=25_000_000, ge=21_000)
    #: Schedules per postSchedules transaction (~40k gas each with a day of entries).
    relayer_batch_size: int = Field(default=40, ge=1)
    #: A schedule is accepted only if its first gate stays open this long: time for the
    #: relayer to post it (a pass every `relayer_poll_seconds`, a block, retries).
    relay_margin_seconds: int = Field(default=60, ge=0)
    #: Memberships and meters are re-read after this; a removal noticed late only costs the
    #: removed household its pending schedules (the contract refuses them at posting).
    membership_cache_seconds: int = Field(default=30, ge=0)
    #: How long a read of the chain head (time, block number) is reused; 0 reads every time.
    head_cache_milliseconds: int = Field(
        default=500, ge=0, validation_alias="QUARTIER_HEAD_CACHE_MS"
    )
    #: Request bodies above this are refused (413) while they stream in, before parsing.
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    #: JSON bodies nested deeper than this are refused (422) before parsing: the decoders
    #: recurse once per level.
    max_json_depth: int = Field(default=32, ge=2)
    #: One overall deadline for every chain call an API request makes (503 after it).
    chain_deadline_seconds: float = Field(default=3.0, gt=0, lt=3600)
    #: Timeout of one JSON-RPC request (the relayer's calls have no overall deadline).
    rpc_timeout_seconds: float = Field(default=10.0, gt=0, lt=3600)
    #: Browser origins allowed by CORS (none: no CORS headers at all, same-origin only).
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    #: `GET /health` waits at most this for each of the chain and the database.
    health_timeout_seconds: float = Field(default=2.0, gt=0, lt=3600)
    #: The community file whose `members[].contract` the household's page bills with
    #: (none: the page says it knows no contract rather than guess one).
    community_file: Path | None = Field(default=None, validation_alias="QUARTIER_COMMUNITY")
    #: Where the manager keeps `quartier dso reconcile --json` outputs (one `.json` a month);
    #: the manager's page shows the latest month's (none: the page says there is none).
    dso_reconcile_dir: Path | None = Field(
        default=None, validation_alias="QUARTIER_DSO_RECONCILE_DIR"
    )
    #: Quarter-hours of the members' production meters (CSV: ean, interval_start_utc,
    #: production_wh); the household's page shows its own PV from it, or "not measured".
    production_file: Path | None = Field(default=None, validation_alias="QUARTIER_PRODUCTION")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @classmethod
    def from_env(cls) -> Settings:
        """Read every `QUARTIER_*` variable; a malformed value raises ConfigurationError."""
        try:
            return cls()
        except ValidationError as error:
            raise ConfigurationError(_one_line(error)) from None


def env_name(field: str) -> str:
    """The environment variable of a Settings field."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


_BY_ALIAS = {env_name(name): name for name in Settings.model_fields}


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    location = str(first["loc"][0]) if first["loc"] else ""
    field = _BY_ALIAS.get(location, location)
    name = env_name(field) if field in Settings.model_fields else location
    kind, value, context = first["type"], first.get("input"), first.get("ctx", {})
    if field in ("auth_secret", "relayer_key", "manager_key"):
        return f"{name} is malformed: {first['msg']}"  # never echo a secret
    if kind == "int_parsing":
        return f"{name} must be an integer, got {value!r}"
    if kind == "float_parsing":
        return f"{name} must be a number of seconds, got {value!r}"
    if kind == "greater_than_equal":
        return f"{name} must be >= {context['ge']}, got {value}"
    if kind in ("greater_than", "less_than"):
        return f"{name} must be between 0 and 3600 seconds, got {value!r}"
    return f"{name}: {first['msg']}, got {value!r}"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()

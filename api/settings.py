"""Settings of the service, read from the environment once (`get_settings`).

Every knob is a `QUARTIER_*` environment variable; nothing is read at import time, so tests
build a `Settings(...)` directly and hand it to `create_app`. None of them is a rule of the
community (interval and period lengths, gate lead, mechanism, prices, deadline): those are
read from QuartierCommunity, so no second copy exists here.

| variable | meaning | default |
|---|---|---|
| QUARTIER_RPC_URL | JSON-RPC node | http://127.0.0.1:8545 |
| QUARTIER_DATABASE_URL | SQLModel URL (SQLite file or PostgreSQL) | sqlite:///quartier.db |
| QUARTIER_DEPLOYMENT | deployment file | contracts/deployments/<chain id>.json |
| QUARTIER_RELAYER_KEY | key that posts schedules and settles periods | Anvil dev key on 31337 |
| QUARTIER_MANAGER_KEY | manager key the API may send admissions with | none (manager sends) |
| QUARTIER_AUTH_SECRET | HMAC key of login tokens | random per process |
| QUARTIER_TOKEN_SECONDS | lifetime of a login token | 900 |
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
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from api.errors import ConfigurationError


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < 3600:
        raise ConfigurationError(f"{name} must be between 0 and 3600 seconds, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Configuration of one community's service (API and relayer)."""

    rpc_url: str = "http://127.0.0.1:8545"
    database_url: str = "sqlite:///quartier.db"
    deployment_file: Path | None = None
    relayer_key: str | None = None
    manager_key: str | None = None
    auth_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    token_seconds: int = 900
    challenge_seconds: int = 300
    manager_request_seconds: int = 300
    meter_cache_seconds: int = 60
    #: Run the relayer loop inside `quartier serve` (else `quartier relayer` runs it).
    run_relayer: bool = True
    relayer_poll_seconds: int = 5
    #: Gas limit of every relayer transaction: above a 100-household settlement, below the
    #: block gas limit (Anvil: 30M). Estimating each transaction instead costs the node a
    #: second execution and the relayer a round trip.
    relayer_gas_limit: int = 25_000_000
    #: Schedules per postSchedules transaction (~40k gas each with a day of entries).
    relayer_batch_size: int = 40
    #: A schedule is accepted only if its first gate stays open this long: time for the
    #: relayer to post it (a pass every `relayer_poll_seconds`, a block, retries).
    relay_margin_seconds: int = 60
    #: Memberships and meters are re-read after this; a removal noticed late only costs the
    #: removed household its pending schedules (the contract refuses them at posting).
    membership_cache_seconds: int = 30
    #: How long a read of the chain head (time, block number) is reused; 0 reads every time.
    head_cache_milliseconds: int = 500
    #: Request bodies above this are refused (413) while they stream in, before parsing.
    max_body_bytes: int = 1 << 20
    #: JSON bodies nested deeper than this are refused (422) before parsing: the decoders
    #: recurse once per level.
    max_json_depth: int = 32
    #: One overall deadline for every chain call an API request makes (503 after it).
    chain_deadline_seconds: float = 3.0
    #: Timeout of one JSON-RPC request (the relayer's calls have no overall deadline).
    rpc_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every `QUARTIER_*` variable; a malformed value raises ConfigurationError."""
        env = os.environ if env is None else env
        d = cls()
        secret = env.get("QUARTIER_AUTH_SECRET")
        deployment = env.get("QUARTIER_DEPLOYMENT")
        return cls(
            rpc_url=env.get("QUARTIER_RPC_URL", d.rpc_url),
            database_url=env.get("QUARTIER_DATABASE_URL", d.database_url),
            deployment_file=Path(deployment) if deployment else None,
            relayer_key=env.get("QUARTIER_RELAYER_KEY") or None,
            manager_key=env.get("QUARTIER_MANAGER_KEY") or None,
            auth_secret=secret.encode() if secret else d.auth_secret,
            token_seconds=_int(env, "QUARTIER_TOKEN_SECONDS", d.token_seconds, minimum=1),
            meter_cache_seconds=_int(env, "QUARTIER_METER_CACHE_SECONDS", d.meter_cache_seconds),
            run_relayer=env.get("QUARTIER_WORKER", "1") not in ("0", "false", "no"),
            relayer_poll_seconds=_int(
                env, "QUARTIER_WORKER_POLL_SECONDS", d.relayer_poll_seconds, minimum=1
            ),
            relayer_gas_limit=_int(
                env, "QUARTIER_RELAYER_GAS_LIMIT", d.relayer_gas_limit, minimum=21_000
            ),
            relayer_batch_size=_int(
                env, "QUARTIER_RELAYER_BATCH_SIZE", d.relayer_batch_size, minimum=1
            ),
            relay_margin_seconds=_int(env, "QUARTIER_RELAY_MARGIN_SECONDS", d.relay_margin_seconds),
            membership_cache_seconds=_int(
                env, "QUARTIER_MEMBERSHIP_CACHE_SECONDS", d.membership_cache_seconds
            ),
            head_cache_milliseconds=_int(env, "QUARTIER_HEAD_CACHE_MS", d.head_cache_milliseconds),
            max_body_bytes=_int(env, "QUARTIER_MAX_BODY_BYTES", d.max_body_bytes, minimum=1024),
            max_json_depth=_int(env, "QUARTIER_MAX_JSON_DEPTH", d.max_json_depth, 2),
            chain_deadline_seconds=_seconds(
                env, "QUARTIER_CHAIN_DEADLINE_SECONDS", d.chain_deadline_seconds
            ),
            rpc_timeout_seconds=_seconds(
                env, "QUARTIER_RPC_TIMEOUT_SECONDS", d.rpc_timeout_seconds
            ),
        )


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()

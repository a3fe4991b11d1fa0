"""Settings of the market service, read from the environment once (`get_settings`).

Every knob is a `QUARTIER_*` environment variable; nothing is read at import time, so tests
build a `Settings(...)` directly and hand it to `create_app`.

| variable | meaning | default |
|---|---|---|
| QUARTIER_RPC_URL | JSON-RPC node | http://127.0.0.1:8545 |
| QUARTIER_DATABASE_URL | SQLModel URL (SQLite file or PostgreSQL) | sqlite:///quartier.db |
| QUARTIER_DEPLOYMENT | deployment file | contracts/deployments/<chain id>.json |
| QUARTIER_RELAYER_KEY | key that sends commits, readings, settlements | Anvil dev key on 31337 |
| QUARTIER_MANAGER_KEY | manager key the API may send admissions with | none (manager sends) |
| QUARTIER_GATE_CLOSURE_SECONDS | orders for k close at k*900 - this | 300 |
| QUARTIER_GRACE_SECONDS | wait after an interval ends before settling | 300 |
| QUARTIER_FEED_IN_PER_KWH / QUARTIER_RETAIL_PER_KWH | fallback prices (base units/kWh) | 40 / 300 |
| QUARTIER_MECHANISM | pay-as-clear or pay-as-bid | pay-as-clear |
| QUARTIER_AUTH_SECRET | HMAC key of login tokens | random per process |
| QUARTIER_TOKEN_SECONDS | lifetime of a login token | 900 |
| QUARTIER_METER_CACHE_SECONDS | how long a registry lookup of a meter is trusted | 60 |
| QUARTIER_WORKER | run the worker inside `quartier serve` (1/0) | 1 |
| QUARTIER_WORKER_POLL_SECONDS | worker period | 5 |
| QUARTIER_RELAYER_GAS_LIMIT | gas limit of each relayer transaction | 25,000,000 |
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
from api.matching import Mechanism, PriceBounds


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
    """Configuration of one community's market service."""

    rpc_url: str = "http://127.0.0.1:8545"
    database_url: str = "sqlite:///quartier.db"
    deployment_file: Path | None = None
    relayer_key: str | None = None
    manager_key: str | None = None
    gate_closure_seconds: int = 300
    grace_seconds: int = 300
    feed_in_per_kwh: int = 40
    retail_per_kwh: int = 300
    mechanism: Mechanism = Mechanism.PAY_AS_CLEAR
    auth_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    token_seconds: int = 900
    challenge_seconds: int = 300
    manager_request_seconds: int = 300
    meter_cache_seconds: int = 60
    run_worker: bool = True
    worker_poll_seconds: int = 5
    #: Gas limit of every relayer transaction: above a 100-household settlement, below the
    #: block gas limit (Anvil: 30M). Estimating each transaction instead costs the node a
    #: second execution and the relayer a round trip.
    relayer_gas_limit: int = 25_000_000
    #: Request bodies above this are refused (413) while they stream in, before parsing.
    max_body_bytes: int = 1 << 20
    #: JSON bodies nested deeper than this are refused (422) before parsing: the decoders
    #: recurse once per level.
    max_json_depth: int = 32
    #: One overall deadline for every chain call an API request makes (503 after it).
    chain_deadline_seconds: float = 3.0
    #: Timeout of one JSON-RPC request (the worker's calls have no overall deadline).
    rpc_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.retail_per_kwh < self.feed_in_per_kwh:
            raise ConfigurationError("the retail price must be >= the feed-in price")

    @property
    def price_bounds(self) -> PriceBounds:
        """The community's fallback prices, as the matching engine takes them."""
        return PriceBounds(self.feed_in_per_kwh, self.retail_per_kwh)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every `QUARTIER_*` variable; a malformed value raises ConfigurationError."""
        env = os.environ if env is None else env
        defaults = cls()
        mechanism_name = env.get("QUARTIER_MECHANISM", defaults.mechanism.value)
        try:
            mechanism = Mechanism(mechanism_name)
        except ValueError:
            raise ConfigurationError(
                f"QUARTIER_MECHANISM must be pay-as-clear or pay-as-bid, got {mechanism_name!r}"
            ) from None
        secret = env.get("QUARTIER_AUTH_SECRET")
        deployment = env.get("QUARTIER_DEPLOYMENT")
        return cls(
            rpc_url=env.get("QUARTIER_RPC_URL", defaults.rpc_url),
            database_url=env.get("QUARTIER_DATABASE_URL", defaults.database_url),
            deployment_file=Path(deployment) if deployment else None,
            relayer_key=env.get("QUARTIER_RELAYER_KEY") or None,
            manager_key=env.get("QUARTIER_MANAGER_KEY") or None,
            gate_closure_seconds=_int(env, "QUARTIER_GATE_CLOSURE_SECONDS", 300),
            grace_seconds=_int(env, "QUARTIER_GRACE_SECONDS", 300),
            feed_in_per_kwh=_int(env, "QUARTIER_FEED_IN_PER_KWH", defaults.feed_in_per_kwh),
            retail_per_kwh=_int(env, "QUARTIER_RETAIL_PER_KWH", defaults.retail_per_kwh),
            mechanism=mechanism,
            auth_secret=secret.encode() if secret else defaults.auth_secret,
            token_seconds=_int(env, "QUARTIER_TOKEN_SECONDS", 900, minimum=1),
            meter_cache_seconds=_int(env, "QUARTIER_METER_CACHE_SECONDS", 60),
            run_worker=env.get("QUARTIER_WORKER", "1") not in ("0", "false", "no"),
            worker_poll_seconds=_int(env, "QUARTIER_WORKER_POLL_SECONDS", 5, minimum=1),
            relayer_gas_limit=_int(
                env, "QUARTIER_RELAYER_GAS_LIMIT", defaults.relayer_gas_limit, minimum=21_000
            ),
            max_body_bytes=_int(
                env, "QUARTIER_MAX_BODY_BYTES", defaults.max_body_bytes, minimum=1024
            ),
            max_json_depth=_int(env, "QUARTIER_MAX_JSON_DEPTH", defaults.max_json_depth, 2),
            chain_deadline_seconds=_seconds(
                env, "QUARTIER_CHAIN_DEADLINE_SECONDS", defaults.chain_deadline_seconds
            ),
            rpc_timeout_seconds=_seconds(
                env, "QUARTIER_RPC_TIMEOUT_SECONDS", defaults.rpc_timeout_seconds
            ),
        )


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()

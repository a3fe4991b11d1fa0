"""`GET /health` (is the chain reachable, does the database answer) and the start-up check of
`quartier serve` and `quartier relayer`.

Each health check runs in a thread of its own and is waited for at most
`health_timeout_seconds`: a node that accepts connections but never answers (SIGSTOP) or a
database that blocks cannot hold `/health` longer than that. Unhealthy is a 503 problem whose
extension members are the same two reports, so a load balancer reads the status and an
operator the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.errors import ConfigurationError
from api.problems import PROBLEM_MEDIA_TYPE, problem_response
from api.relayer.context import V2Chain
from api.settings import Settings
from ledger.chain import chain_deadline, connect
from ledger.deployment import Deployment, deployment_path, load_deployment
from ledger.errors import ChainUnreachableError

router = APIRouter(tags=["health"])


class ChainHealth(BaseModel):
    """What the node answered (nothing when unreachable)."""

    reachable: bool = Field(examples=[True])
    chain_id: int | None = Field(default=None, examples=[31337])
    block_number: int | None = Field(default=None, examples=[18_342])
    exchange: str | None = Field(
        default=None, examples=["0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"]
    )
    detail: str | None = Field(default=None, examples=[None])


class DatabaseHealth(BaseModel):
    """Whether the database answered a trivial query."""

    reachable: bool = Field(examples=[True])
    detail: str | None = Field(default=None, examples=[None])


class HealthOut(BaseModel):
    """Both dependencies answered within the bound."""

    status: Literal["ok"] = "ok"
    chain: ChainHealth
    database: DatabaseHealth


def _bounded(check: Callable[[], Any], seconds: float, what: str) -> tuple[Any, str | None]:
    # A daemon thread: a check stuck in a driver is abandoned, never waited for past `seconds`.
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((check(), None))
        except Exception as error:
            outcome.append((None, f"{type(error).__name__}: {error}"[:300]))

    thread = threading.Thread(target=run, name=f"quartier-health-{what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        return None, f"no answer within {seconds:g} s"
    result: tuple[Any, str | None] = outcome[0]
    return result


def check_chain(chain: V2Chain, seconds: float) -> ChainHealth:
    """The node's chain id and latest block, and the deployment's exchange, within `seconds`."""

    def read() -> ChainHealth:
        with chain_deadline(seconds):
            # Not the chain view's cached head: health asks the node now.
            block_number = chain.sender.w3.eth.block_number
            domain = chain.domain
        return ChainHealth(
            reachable=True,
            chain_id=domain.chain_id,
            block_number=block_number,
            exchange=domain.exchange_address,
        )

    health, problem = _bounded(read, seconds, "chain")
    return (
        health if isinstance(health, ChainHealth) else ChainHealth(reachable=False, detail=problem)
    )


def check_database(engine: Engine, seconds: float) -> DatabaseHealth:
    """Whether the database answers `SELECT 1` within `seconds`."""

    def read() -> bool:
        with engine.connect() as connection:
            return bool(connection.execute(text("SELECT 1")).scalar_one() == 1)

    answered, problem = _bounded(read, seconds, "database")
    return DatabaseHealth(reachable=answered is True, detail=problem)


@router.get(
    "/health",
    summary="Chain and database reachability",
    response_model=HealthOut,
    responses={
        503: {
            "description": "The chain or the database did not answer in time: a problem with"
            " `chain` and `database` members as in the 200 answer",
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
    },
)
def get_health(request: Request) -> Response | HealthOut:
    """Ask the node for its head and the database for `SELECT 1`, each bounded by
    `QUARTIER_HEALTH_TIMEOUT_SECONDS` (2 s by default): 200 when both answer, else 503."""
    state = request.app.state
    seconds = state.settings.health_timeout_seconds
    chain = check_chain(state.v2_chain, seconds)
    database = check_database(state.engine, seconds)
    if chain.reachable and database.reachable:
        return HealthOut(chain=chain, database=database)
    down = [name for name, part in (("chain", chain), ("database", database)) if not part.reachable]
    return problem_response(
        request,
        503,
        "unhealthy",
        "The service is not healthy",
        f"{' and '.join(down)} unreachable",
        chain=chain.model_dump(),
        database=database.model_dump(),
    )


def check_start(settings: Settings) -> Deployment:
    """What `quartier serve` and `quartier relayer` need before they start: a node that
    answers at `rpc_url` and a deployment file made on its chain. ConfigurationError (one
    line from the CLI) otherwise. The database URL is checked before (`api.db`)."""
    try:
        with chain_deadline(settings.rpc_timeout_seconds):
            w3 = connect(settings.rpc_url, timeout_seconds=settings.rpc_timeout_seconds)
            chain_id = w3.eth.chain_id
    except ChainUnreachableError as error:
        raise ConfigurationError(
            f"cannot start: {error} (start one with `quartier chain up`, or set QUARTIER_RPC_URL)"
        ) from None
    path: Path = settings.deployment_file or deployment_path(chain_id)
    if not path.is_file():
        raise ConfigurationError(
            f"cannot start: no deployment file at {path} (deploy with `quartier chain deploy` or"
            " `quartier community deploy`, or set QUARTIER_DEPLOYMENT)"
        )
    deployment = load_deployment(path)
    if deployment.chain_id != chain_id:
        raise ConfigurationError(
            f"cannot start: {path} is a deployment on chain {deployment.chain_id}, the node at"
            f" {settings.rpc_url} is chain {chain_id}"
        )
    return deployment

"""Request authentication as FastAPI dependencies: manager-signed requests, login tokens.

Manager request: headers `X-Quartier-Timestamp` (unix seconds) and `X-Quartier-Signature`
(personal_sign by QuartierCommunity's manager of `manager_message(method, path, body, ts)`),
valid for `manager_request_seconds` and once only. Household: `Authorization: Bearer
<token>` from POST /auth/token.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError

from api.auth import check_token, recover_personal
from api.deps import ChainDep, ClockDep, SessionDep, SettingsDep
from api.errors import AuthenticationError, ForbiddenError
from api.households.models import ManagerRequestRow

#: The OpenAPI security schemes (the docs' Authorize button). Both leave the refusal to the
#: dependencies below (auto_error=False), so a missing credential is this service's 401
#: problem, not FastAPI's 403.
household_bearer = HTTPBearer(
    scheme_name="householdToken",
    bearerFormat="<address>.<expiry>.<hmac>",
    description="A household's login token: POST /auth/challenge, personal_sign the message,"
    " POST /auth/token (ledger/FORMATS.md §8).",
    auto_error=False,
)
manager_signature = APIKeyHeader(
    name="X-Quartier-Signature",
    scheme_name="managerSignature",
    description="The community manager's personal_sign of the request (ledger/FORMATS.md §9),"
    " with its unix time in X-Quartier-Timestamp; each signature works once.",
    auto_error=False,
)


def manager_message(method: str, path: str, body: bytes, timestamp: int) -> str:
    """What the manager personal_signs to authorise one request."""
    digest = hashlib.sha256(body).hexdigest()
    return (
        f"Quartier manager request\n{method.upper()} {path}\n"
        f"body-sha256: {digest}\ntimestamp: {timestamp}"
    )


async def require_manager(
    request: Request,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    clock: ClockDep,
    x_quartier_timestamp: Annotated[
        int | None, Header(description="Unix seconds the manager signed the request at")
    ] = None,
    x_quartier_signature: Annotated[str | None, Depends(manager_signature)] = None,
) -> str:
    """The manager's address, when the request carries the manager's fresh signature."""
    if x_quartier_timestamp is None or x_quartier_signature is None:
        raise AuthenticationError(
            "manager actions need X-Quartier-Timestamp and X-Quartier-Signature headers",
            "manager-signature-required",
        )
    now = clock()
    if abs(now - x_quartier_timestamp) > settings.manager_request_seconds:
        raise AuthenticationError(
            f"the signed timestamp {x_quartier_timestamp} is more than"
            f" {settings.manager_request_seconds} s away from now ({now})",
            "manager-signature-expired",
        )
    body = await request.body()
    message = manager_message(request.method, request.url.path, body, x_quartier_timestamp)
    signer = recover_personal(message, x_quartier_signature)
    manager = chain.manager_address()
    if signer != manager:
        raise ForbiddenError(f"{signer} is not the community manager", "not-manager")
    signature_hash = hashlib.sha256(x_quartier_signature.lower().encode()).hexdigest()
    session.add(ManagerRequestRow(signature_hash=signature_hash, received_at=now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise AuthenticationError(
            "this signed request was already used", "manager-signature-replayed"
        ) from None
    return manager


def require_household(
    settings: SettingsDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(household_bearer)],
) -> str:
    """The household a valid bearer token was issued to."""
    if credentials is None:
        raise AuthenticationError(
            "sign in first: POST /auth/challenge, then /auth/token", "token-required"
        )
    return check_token(settings.auth_secret, credentials.credentials.strip(), clock())


ManagerDep = Annotated[str, Depends(require_manager)]
HouseholdAuthDep = Annotated[str, Depends(require_household)]

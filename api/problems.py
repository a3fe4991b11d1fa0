"""RFC 9457 problem details: every error the service reports leaves through here, once.

Domain errors (`api.errors`), decoded contract reverts (`ledger.errors.ContractRevertError`),
an unreachable chain (503), request validation and plain HTTP errors all become
`application/problem+json` bodies: {"type", "title", "status", "detail", "instance", ...facts}.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import PROBLEM_TYPE_PREFIX, ApiError, status_of
from api.matching import MatchingError
from ledger.errors import ChainUnreachableError, ContractRevertError, DeploymentError, LedgerError

PROBLEM_MEDIA_TYPE = "application/problem+json"

#: Reverts that mean something more precise than "conflicts with on-chain state" (409).
REVERT_STATUS: dict[str, int] = {
    "RegistryNotManager": 403,
    "MarketNotMember": 403,
    "RegistryNotMember": 404,
    "RegistryUnknownMeter": 404,
    "MarketUnknownMeter": 422,
    "MarketInvalidOrderSignature": 422,
    "MarketInvalidReadingSignature": 422,
    "RegistryInvalidMeterKey": 422,
    "MarketReadingFromFuture": 422,
}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def problem_response(
    request: Request, status: int, slug: str, title: str, detail: str, **facts: Any
) -> JSONResponse:
    """A problem+json response; `facts` become extension members."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    for key, value in facts.items():
        body.setdefault(key, _jsonable(value))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return problem_response(
        request, status_of(error), error.slug, error.title, error.detail, **error.facts
    )


async def _ledger_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, ChainUnreachableError):
        return problem_response(
            request, 503, "chain-unreachable", "The chain is unreachable", str(error)
        )
    if isinstance(error, DeploymentError):
        return problem_response(
            request, 503, "deployment-unavailable", "The contracts are not available", str(error)
        )
    if isinstance(error, ContractRevertError):
        return problem_response(
            request,
            REVERT_STATUS.get(error.name, 409),
            _kebab(error.name),
            "Refused by the contract",
            str(error),
            revert=error.name,
            arguments={k: _jsonable(v) for k, v in error.arguments.items()},
        )
    assert isinstance(error, LedgerError)
    return problem_response(request, 502, "ledger-error", "Ledger error", str(error))


async def _matching_error(request: Request, error: Exception) -> JSONResponse:
    return problem_response(request, 422, "invalid-book", "Order book refused", str(error))


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"location": [str(part) for part in item.get("loc", ())], "message": item.get("msg", "")}
        for item in error.errors()
    ]
    first = errors[0] if errors else {"location": [], "message": "invalid request"}
    detail = f"{'.'.join(first['location'])}: {first['message']}"
    return problem_response(
        request, 422, "validation-failed", "Request body is invalid", detail, errors=errors
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    return problem_response(request, error.status_code, slug, str(error.detail), str(error.detail))


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error family to problem+json, once, for the whole app."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(MatchingError, _matching_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

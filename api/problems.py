"""RFC 9457 problem details: every error the service reports leaves through here, once.

Domain errors (`api.errors`), decoded contract reverts (`ledger.errors.ContractRevertError`),
an unreachable chain (503), request validation and plain HTTP errors all become
`application/problem+json` bodies: {"type", "title", "status", "detail", "instance", ...facts}.

Faults of the layers below get a precise problem too: a value beyond the store's 64-bit
integers (422), a write that lost a race to an identical one (409), a locked database or a node
that stopped answering mid-call (503), contracts that answer nothing (503: a node restarted
without its state). Anything else is a bug: `CatchAllMiddleware` answers it as a 500 problem
with an `id`, logged with its traceback under that id — never a bare text/plain 500.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from http import HTTPStatus
from typing import Any

import requests
from eth_abi.exceptions import DecodingError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from web3.exceptions import BadFunctionCallOutput, Web3Exception

from api.errors import PROBLEM_TYPE_PREFIX, ApiError, status_of
from ledger.errors import ChainUnreachableError, ContractRevertError, DeploymentError, LedgerError

PROBLEM_MEDIA_TYPE = "application/problem+json"

_log = logging.getLogger("quartier.api")

#: Status of plain HTTP errors (routing, body parsing) -> their problem type.
HTTP_SLUGS: dict[int, str] = {
    400: "malformed-body",
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
}

#: Reverts that mean something more precise than "conflicts with on-chain state" (409).
REVERT_STATUS: dict[str, int] = {
    "CommunityNotManager": 403,
    "ExchangeNotMember": 403,
    "CommunityNotMember": 404,
    "CommunityUnknownMeter": 404,
    "ExchangeUnknownMeter": 422,
    "ExchangeBadSignature": 422,
    "ExchangeBadMeterSignature": 422,
    "CommunityInvalidMeterKey": 422,
}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def problem_body(
    instance: str, status: int, slug: str, title: str, detail: str, **facts: Any
) -> dict[str, Any]:
    """The RFC 9457 members of a problem; `facts` become extension members."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    for key, value in facts.items():
        body.setdefault(key, _jsonable(value))
    return body


def problem_response(
    request: Request, status: int, slug: str, title: str, detail: str, **facts: Any
) -> JSONResponse:
    """A problem+json response; `facts` become extension members."""
    body = problem_body(request.url.path, status, slug, title, detail, **facts)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


async def send_problem(
    scope: Scope, send: Send, status: int, slug: str, title: str, detail: str, **facts: Any
) -> None:
    """Answer a problem at the ASGI level (middlewares, before any route runs)."""
    body = problem_body(scope.get("path", ""), status, slug, title, detail, **facts)
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(content)).encode()),
    ]
    if status in (413, 503):
        # The client may not keep sending (413) / should come back later (503).
        headers.append((b"connection", b"close") if status == 413 else (b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


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


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    items = list(error.errors())
    errors = [
        {"location": [str(part) for part in item.get("loc", ())], "message": item.get("msg", "")}
        for item in items
    ]
    first = errors[0] if errors else {"location": [], "message": "invalid request"}
    detail = f"{'.'.join(first['location'])}: {first['message']}"
    if items and all(item.get("type") == "json_invalid" for item in items):
        return problem_response(
            request, 422, "malformed-json", "Request body is not JSON", detail, errors=errors
        )
    return problem_response(
        request, 422, "validation-failed", "Request body is invalid", detail, errors=errors
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    slug = HTTP_SLUGS.get(error.status_code, "http-error")
    response = problem_response(
        request, error.status_code, slug, str(error.detail), str(error.detail)
    )
    response.headers.update(error.headers or {})
    return response


async def _overflow_error(request: Request, error: Exception) -> JSONResponse:
    # sqlite3 refuses ints beyond 64 bits, int.to_bytes those beyond a field: the input's fault.
    return problem_response(
        request,
        422,
        "integer-out-of-range",
        "A number is out of range",
        f"a number of the request does not fit the 64-bit integers stored ({error})",
    )


async def _integrity_error(request: Request, error: Exception) -> JSONResponse:
    # The checks before the write passed, so a concurrent request stored the same key first.
    return problem_response(
        request,
        409,
        "concurrent-write",
        "A concurrent request wrote the same record",
        "a concurrent request stored the same record first: send it again to see its state",
    )


async def _operational_error(request: Request, error: Exception) -> JSONResponse:
    if "locked" in str(error) or "busy" in str(error):
        response = problem_response(
            request, 503, "database-busy", "Database busy", "the database is busy: retry"
        )
        response.headers["Retry-After"] = "1"
        return response
    return await _unexpected(request, error)


async def _node_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, requests.RequestException):
        return problem_response(
            request,
            503,
            "chain-unreachable",
            "The chain is unreachable",
            f"the node stopped answering: {type(error).__name__}",
        )
    if isinstance(error, (DecodingError, BadFunctionCallOutput)):
        # A view answered nothing: no code at the deployment's address.
        return problem_response(
            request,
            503,
            "deployment-unavailable",
            "The contracts are not available",
            "the contracts answer nothing: is the node running without the deployment's state?",
        )
    return problem_response(
        request, 502, "node-error", "The node refused a request", type(error).__name__
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    incident = _log_incident(request.scope, error)
    return problem_response(
        request, 500, "internal", "Internal error", _detail(incident), id=incident
    )


def _log_incident(scope: Scope, error: BaseException) -> str:
    incident = uuid.uuid4().hex
    _log.error(
        "unexpected error, id %s, in %s %s",
        incident,
        scope.get("method", "?"),
        scope.get("path", "?"),
        exc_info=error,
    )
    return incident


def _detail(incident: str) -> str:
    return f"an unexpected error occurred; it was logged with the id {incident}"


class CatchAllMiddleware:
    """Outermost: an exception no handler mapped becomes a 500 problem with an `id`, logged
    with its traceback (Starlette's own fallback answers text/plain)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            incident = _log_incident(scope, error)
            try:
                await send_problem(
                    scope, send, 500, "internal", "Internal error", _detail(incident), id=incident
                )
            except Exception:
                # The response had started (the server refuses a second start): too late for
                # a problem, the server closes the connection. Not wrapping `send` to know it
                # saves every request a closure.
                raise error from None


#: The JSON schema of every problem body (RFC 9457 members; extension members allowed).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: `type` names the refusal (a stable slug), `detail`"
    " says it for a person; extension members carry the facts (the validation `errors`, a"
    " contract's `revert` and `arguments`, a 500's incident `id`, ...).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "urn:quartier:problem:<slug>"},
        "title": {"type": "string", "description": "Short, the same for every such problem"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "This occurrence, for a person"},
        "instance": {"type": "string", "description": "The request path"},
        "errors": {
            "type": "array",
            "description": "422 validation problems: each invalid field",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "array", "items": {"type": "string"}},
                    "message": {"type": "string"},
                },
            },
        },
        "id": {"type": "string", "description": "500 only: the incident id in the log"},
    },
    "additionalProperties": True,
}
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}

#: Description of an error response a route left undescribed.
STATUS_DESCRIPTIONS: dict[str, str] = {
    "401": "Not authenticated: missing, malformed, expired or replayed token or signature",
    "403": "Authenticated, but not allowed",
    "404": "No such resource",
    "409": "Conflicts with the stored or on-chain state",
    "413": "Request body too large",
    "422": "Malformed request: invalid JSON, field or parameter (the problem lists `errors`)",
    "503": "The chain, the deployment or the database is unavailable: retry later",
}


def _default_descriptions(code: str) -> set[str | None]:
    phrase = HTTPStatus(int(code)).phrase if code.isdigit() else None
    return {None, "", "Additional Response", "Validation Error", phrase}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the service answers on errors: every 4xx/5xx of
    every operation is a Problem in application/problem+json (FastAPI documents its own
    422 body, which this service never sends), and any other error status is the default."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = _PROBLEM_CONTENT
                    # FastAPI's defaults: its own phrase or the bare HTTP reason phrase.
                    if response.get("description") in _default_descriptions(code):
                        response["description"] = STATUS_DESCRIPTIONS.get(code, "Refused")
            responses["default"] = {
                "description": "Any other refusal or failure: an RFC 9457 problem",
                "content": _PROBLEM_CONTENT,
            }
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error family to problem+json, once, for the whole app (the OpenAPI document
    says so through `document_problems`, which `api.openapi.install_openapi` applies)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OverflowError, _overflow_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _operational_error)
    app.add_exception_handler(requests.RequestException, _node_error)
    app.add_exception_handler(Web3Exception, _node_error)
    app.add_exception_handler(DecodingError, _node_error)
    app.add_middleware(CatchAllMiddleware)

"""Limits every request meets before any parsing, and the deadline of its chain calls.

`RequestLimitsMiddleware` (pure ASGI, so the readings hot path pays microseconds):

- a body larger than `max_body_bytes` is a 413 problem: refused on its Content-Length before
  a byte is read, or as soon as the streamed chunks pass the limit (nothing larger is held);
- a body nested deeper than `max_json_depth` is a 422 problem before any decoder sees it
  (the JSON decoders recurse once per level: 66,000 levels used to overflow the C stack);
- a decimal integer in the path or the query beyond the signed 64-bit range is a 422 problem
  (every integer the service stores or signs is at most 64 bits; sqlite3 raised on them).

`ChainDeadlineMiddleware` runs each request under one `ledger.chain.chain_deadline`: all the
chain calls of a request end within `chain_deadline_seconds`, whatever their number.

`restore_recursion_limit` undoes a dependency's process-wide change (see its docstring).
"""

from __future__ import annotations

import importlib
import itertools
import re
import sys
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import send_problem
from ledger.chain import chain_deadline

#: Python's own default. py_ecc (imported by eth-account, hence by web3) raises the limit to
#: 100,000 at import for its recursive pairing code, which this service never runs. With that
#: limit a deeply nested body overflows the C stack of the JSON decoder (the process dies, no
#: Python error) before Python's recursion guard trips; at 1,000 the guard trips first.
RECURSION_LIMIT = 1000

INT64_MAX = 2**63 - 1
_DECIMAL = re.compile(r"-?[0-9]+")
#: A JSON string, escapes included; an unterminated one runs to the end (never backtracks,
#: so the scan stays linear on hostile input).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
#: Opening brackets -> +1, closing -> -1 (as signed bytes).
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def restore_recursion_limit() -> None:
    """Set the interpreter's recursion limit back to Python's default (RECURSION_LIMIT).

    py_ecc is imported first, so its import-time change has happened and cannot come later.
    """
    importlib.import_module("py_ecc")
    sys.setrecursionlimit(RECURSION_LIMIT)


def json_depth(body: bytes) -> int:
    """The deepest bracket nesting of `body` read as JSON (brackets inside strings ignored).

    Unbalanced input counts its unclosed openings: a decoder recurses into them before it
    finds out the document is malformed. Linear time, the loops in C.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    steps = memoryview(brackets.translate(_STEPS)).cast("b")
    return max(itertools.accumulate(steps), default=0)


def _out_of_range(value: str) -> bool:
    if not _DECIMAL.fullmatch(value):
        return False
    digits = value.lstrip("-").lstrip("0")
    # More than 19 digits is beyond 2^63 (and int() would refuse 4,300 digits and more).
    return len(digits) > 19 or int(value) > INT64_MAX or int(value) < -INT64_MAX - 1


def _integer_out_of_range(scope: Scope) -> str | None:
    for segment in scope["path"].split("/"):
        if _out_of_range(segment):
            return f"the path segment {segment[:40]} is beyond the 64-bit integers"
    query = scope.get("query_string", b"")
    if query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if _out_of_range(value):
                return f"the query parameter {name[:40]} is beyond the 64-bit integers"
    return None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


class RequestLimitsMiddleware:
    """Body size, JSON depth and integer range, checked before the app sees the request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = _integer_out_of_range(scope)
        if reason is not None:
            await send_problem(
                scope, send, 422, "integer-out-of-range", "A number is out of range", reason
            )
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.count(b"[") + body.count(b"{") > self.max_json_depth:
            depth = json_depth(body)
            if depth > self.max_json_depth:
                await send_problem(
                    scope,
                    send,
                    422,
                    "json-too-deep",
                    "Request body nested too deeply",
                    f"the body nests {depth} levels; at most {self.max_json_depth} are accepted",
                    max_json_depth=self.max_json_depth,
                )
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await send_problem(
            scope,
            send,
            413,
            "body-too-large",
            "Request body too large",
            f"request bodies are limited to {self.max_body_bytes} bytes",
            max_body_bytes=self.max_body_bytes,
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the real channel (for the
    disconnect message)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class ChainDeadlineMiddleware:
    """Every chain call of a request (in any thread anyio runs it in) ends by one deadline."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with chain_deadline(self.seconds):
            await self.app(scope, receive, send)

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
import re
import sys
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import send_problem
from ledger.chain import end_deadline, start_deadline

#: Python's own default. py_ecc (imported by eth-account, hence by web3) raises the limit to
#: 100,000 at import for its recursive pairing code, which this service never runs. With that
#: limit a deeply nested body overflows the C stack of the JSON decoder (the process dies, no
#: Python error) before Python's recursion guard trips; at 1,000 the guard trips first.
RECURSION_LIMIT = 1000

INT64_MAX = 2**63 - 1
_DECIMAL = re.compile(r"-?[0-9]+")
#: A path segment or query value of 19 digits or more: the only ones that can be too large.
_LONG_DECIMAL = re.compile(r"(?:^|[/=])-?[0-9]{19,}(?:$|[/&])")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_NOT_QUOTES_OR_BRACKETS = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_PARENS = bytes.maketrans(b"[{]}", b"(())")


def restore_recursion_limit() -> None:
    """Set the interpreter's recursion limit back to Python's default (RECURSION_LIMIT).

    py_ecc is imported first, so its import-time change has happened and cannot come later.
    """
    importlib.import_module("py_ecc")
    sys.setrecursionlimit(RECURSION_LIMIT)


def _outside_strings(body: bytes) -> bytes:
    # Without its escaped backslashes, then its escaped quotes, every quote left delimits a
    # string: the text outside strings is every other piece between quotes (an unterminated
    # string runs to the end). A regex over the strings cost ~1 us a string.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
    # The common case in C, with no object per string (splitting a schedule's ~600 strings
    # was most of this check): kept to quotes and brackets, a string without brackets is a
    # pair of adjacent quotes. If such pairs (counted left to right) hold every quote, every
    # string was one (the first quote of all is an opening one, so it pairs only with the
    # quote after it, and so on), and the brackets left are exactly those outside strings.
    kept = unescaped.translate(None, _NOT_QUOTES_OR_BRACKETS)
    if kept.count(b'""') * 2 == kept.count(b'"'):
        return kept.translate(None, b'"')
    return b"".join(unescaped.split(b'"')[::2])


def json_deeper_than(body: bytes, limit: int) -> bool:
    """Whether `body`, read as JSON, nests brackets deeper than `limit` (brackets inside
    strings ignored; unclosed openings count: a decoder recurses into them before it finds
    out the document is malformed).

    Linear and in C, whatever the input: strings are cut out, brackets become "(" and ")",
    closings are appended to balance the openings, then each pass deletes every innermost
    pair "()" at once, which lowers the deepest level by exactly one; after `limit` passes a
    pair is left iff the nesting was deeper. A run of openings as long as the levels still
    allowed settles it early. (Malformed input with a stray closing may be called too deep:
    it is refused either way.)
    """
    walk = _outside_strings(body).translate(_PARENS, _NOT_BRACKETS)
    unclosed = walk.count(b"(") - walk.count(b")")
    if unclosed > 0:
        walk += b")" * unclosed
    for passes in range(limit):
        if b"(" * (limit - passes + 1) in walk:
            return True
        shorter = walk.replace(b"()", b"")
        if len(shorter) == len(walk):
            return False
        walk = shorter
    return b"()" in walk


def _out_of_range(value: str) -> bool:
    if not _DECIMAL.fullmatch(value):
        return False
    digits = value.lstrip("-").lstrip("0")
    # More than 19 digits is beyond 2^63 (and int() would refuse 4,300 digits and more).
    return len(digits) > 19 or int(value) > INT64_MAX or int(value) < -INT64_MAX - 1


def _integer_out_of_range(scope: Scope) -> str | None:
    path: str = scope["path"]
    if _LONG_DECIMAL.search(path):
        for segment in path.split("/"):
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
        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        # Fewer openings than the limit cannot nest deeper (two C counts: the common case).
        openings = body.count(b"[") + body.count(b"{")
        if openings > self.max_json_depth and json_deeper_than(body, self.max_json_depth):
            await send_problem(
                scope,
                send,
                422,
                "json-too-deep",
                "Request body nested too deeply",
                f"the body nests more than {self.max_json_depth} levels",
                max_json_depth=self.max_json_depth,
            )
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, counted chunk by chunk as it streams in; None when the request
        was answered (413) or the client went away."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away: nobody to answer
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            if not more and not chunks:
                if len(chunk) > self.max_body_bytes:
                    break
                return chunk  # the common case: one chunk, no copy
            size += len(chunk)
            if size > self.max_body_bytes:
                break
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)
        await self._too_large(scope, send)
        return None

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
        # Not `with chain_deadline(...)`: a generator context manager costs ~10 us a request.
        token = start_deadline(self.seconds)
        try:
            await self.app(scope, receive, send)
        finally:
            end_deadline(token)

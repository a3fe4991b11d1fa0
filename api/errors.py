"""Errors of the service, one root for the `api` package (the pure `api.settlement` rule
and the demo have their own).

Exception tree (each leaf carries its HTTP status and RFC 9457 problem type; `api.problems`
maps them, and ledger errors, to application/problem+json in one place)::

    ApiError                         root (`status`, `slug`, `title`, `facts`)
    ├── ConfigurationError           500  bad settings / missing deployment entry
    ├── ValidationFailedError        422  malformed body or field
    ├── AuthenticationError          401  missing / bad / expired token or signature
    ├── ForbiddenError               403  authenticated, but not allowed
    ├── NotFoundError                404  no such schedule / batch / household
    ├── ConflictError                409  the request contradicts stored or on-chain state
    ├── DatabaseUnavailableError     503  the database file is gone, replaced or unreadable
    └── ReadingRejectedError         4xx  a meter reading refused (reason in `slug`)
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_TYPE_PREFIX = "urn:quartier:problem:"


class ApiError(Exception):
    """Root of the service's errors; `facts` become extension members of the problem."""

    status: ClassVar[int] = 500
    default_slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    exit_code: ClassVar[int] = 1

    def __init__(self, detail: str, slug: str | None = None, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.slug = slug or self.default_slug
        self.facts = facts

    @property
    def problem_type(self) -> str:
        """The RFC 9457 `type` URI of this problem."""
        return PROBLEM_TYPE_PREFIX + self.slug


class ConfigurationError(ApiError):
    default_slug = "configuration"
    title = "Service misconfigured"


class ValidationFailedError(ApiError):
    status = 422
    default_slug = "validation-failed"
    title = "Request body is invalid"


class AuthenticationError(ApiError):
    status = 401
    default_slug = "unauthenticated"
    title = "Authentication required"


class ForbiddenError(ApiError):
    status = 403
    default_slug = "forbidden"
    title = "Not allowed"


class NotFoundError(ApiError):
    status = 404
    default_slug = "not-found"
    title = "Not found"


class ConflictError(ApiError):
    status = 409
    default_slug = "conflict"
    title = "Conflicts with the current state"


class DatabaseUnavailableError(ApiError):
    """The database cannot make a write durable (its file was deleted or replaced under the
    service, or it cannot be opened): nothing is acknowledged until it is back."""

    status = 503
    default_slug = "database-unavailable"
    title = "Database unavailable"


class _RejectionError(ApiError):
    """A refusal whose status depends on the reason (`slug`): see `STATUS_BY_SLUG`."""

    STATUS_BY_SLUG: ClassVar[dict[str, int]] = {}

    def __init__(self, detail: str, slug: str, **facts: Any) -> None:
        super().__init__(detail, slug, **facts)
        self.http_status = self.STATUS_BY_SLUG.get(slug, 422)


class ReadingRejectedError(_RejectionError):
    """A signed meter reading was refused; nothing was stored."""

    title = "Reading rejected"
    STATUS_BY_SLUG: ClassVar[dict[str, int]] = {
        "malformed-reading": 422,
        "invalid-reading-signature": 422,
        "reading-from-future": 422,
        "unknown-meter": 422,
        "meter-revoked": 403,
        "seq-not-increasing": 409,
        "interval-not-increasing": 409,
        "register-decreased": 409,
        "conflicting-reading": 409,
    }


def status_of(error: ApiError) -> int:
    """The HTTP status of an error (rejections vary with their reason)."""
    if isinstance(error, _RejectionError):
        return error.http_status
    return error.status

"""Errors raised anywhere in the engine or a provider, rendered by the provider.

An `ApiError` says *what* went wrong (its kind, a message, the field at fault);
each provider decides how it looks on the wire (status and envelope).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID = "invalid"
    PRECONDITION = "precondition"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"


DEFAULT_STATUS: dict[ErrorKind, int] = {
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.PAYLOAD_TOO_LARGE: 413,
    ErrorKind.INVALID: 400,
    ErrorKind.PRECONDITION: 412,
    ErrorKind.CONFLICT: 409,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
    ErrorKind.UNAVAILABLE: 503,
}

KIND_FOR_STATUS: dict[int, ErrorKind] = {status: kind for kind, status in DEFAULT_STATUS.items()}


class ApiError(Exception):
    """A request the sandbox refuses. Nothing has changed when one is raised."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, str]] | None = None,
        rule: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field
        self.code = code
        self.status = status
        self.headers = headers or {}
        self.details = details or []
        self.rule = rule  # the check that failed, e.g. the JSON Schema keyword ("required", "maximum")

    def __repr__(self) -> str:
        return f"ApiError({self.kind.value!r}, {self.message!r}, field={self.field!r})"

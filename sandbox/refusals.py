"""Why the sandbox refused a call, as its journal entry says (`reason`).

The engine checks a call in a fixed order (route, credential, faults, scopes,
rate limit, body size, validation, then the handler's own rules), so where an
error was raised follows from how far the call got and the error's kind; the
engine needs no bookkeeping on the way for it.
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import ApiError, ErrorKind

# The kind of an error raised before the handler ran -> the check that raised it.
BEFORE_HANDLER = {
    ErrorKind.UNAUTHORIZED: "auth",
    ErrorKind.FORBIDDEN: "scope",
    ErrorKind.RATE_LIMITED: "rate_limit",
    ErrorKind.PAYLOAD_TOO_LARGE: "body_size",
    ErrorKind.NOT_FOUND: "route",
    ErrorKind.METHOD_NOT_ALLOWED: "route",
}
# ... and of one a handler (or the provider's `before`) raised: its business rules.
IN_HANDLER = {
    ErrorKind.UNAUTHORIZED: "auth",
    ErrorKind.FORBIDDEN: "scope",
    ErrorKind.INVALID: "validation",
    ErrorKind.PRECONDITION: "state",
    ErrorKind.CONFLICT: "state",
    ErrorKind.NOT_FOUND: "not_found",
    ErrorKind.RATE_LIMITED: "rate_limit",
}


def refusal_stage(error: ApiError, *, routed: bool, handled: bool, faulted: bool) -> str:
    """Which check refused the call (`faulted`: a fault rule with a status fired for it).

    route | auth | fault | scope | rate_limit | body_size | validation | state | not_found | handler | internal."""
    if not routed:
        return "route"
    if faulted:
        return "fault"
    if error.kind is ErrorKind.INTERNAL:
        return "internal"
    if not handled:
        return BEFORE_HANDLER.get(error.kind, "validation")
    return IN_HANDLER.get(error.kind, "handler")


def refusal_reason(error: ApiError, *, routed: bool, handled: bool, faulted: bool) -> dict[str, Any]:
    """The journal's `reason`: the check that refused the call, the error's kind and message, field and rule."""
    return {
        "stage": refusal_stage(error, routed=routed, handled=handled, faulted=faulted),
        "kind": error.kind.value,
        "message": error.message,
        "field": error.field,
        "rule": error.rule,
    }

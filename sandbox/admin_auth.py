"""Who may use the admin API.

Bound to a loopback address the admin API is open, as it has always been: the
machine is the developer's own. Bound to any other address, `sandbox serve`
will not start without an admin token (`--admin-token` or
`SANDBOX_ADMIN_TOKEN`), and then every call under `/__sandbox` except
`/__sandbox/health` must send `Authorization: Bearer <token>`; any other gets a
401 in the admin API's envelope before anything else is looked at (so an
unknown admin path is a 401 too, and says nothing about what exists).
"""

from __future__ import annotations

import hmac
import ipaddress

from sandbox.errors import ApiError, ErrorKind

ENVIRONMENT_VARIABLE = "SANDBOX_ADMIN_TOKEN"
OPEN_PATHS = frozenset({"/__sandbox/health"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sandbox admin"'}


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def start_problem(host: str, token: str | None) -> str | None:
    """Why `sandbox serve` must not start with this host and admin token, or None."""
    if token is not None and not token.strip():
        return "the admin token is empty"
    if token is None and not is_loopback(host):
        return (
            f"--host {host} is reachable from other machines, and the admin API can reset or read every tenant: "
            f"give an admin token with --admin-token TOKEN or {ENVIRONMENT_VARIABLE}"
        )
    return None


class AdminGuard:
    """Checks the admin token on every admin call but health."""

    def __init__(self, token: str) -> None:
        self._expected = f"bearer {token}".encode()

    def refusal(self, path: str, headers: list[tuple[bytes, bytes]]) -> ApiError | None:
        """The 401 for a call without the token, or None when it may go on."""
        if path in OPEN_PATHS:
            return None
        for name, value in headers:
            if name.lower() == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if hmac.compare_digest(scheme.lower() + b" " + token.strip(), self._expected):
                    return None
                break
        return ApiError(
            ErrorKind.UNAUTHORIZED,
            "The admin API needs 'Authorization: Bearer <admin token>' (the token sandbox serve was started with).",
            headers=CHALLENGE,
        )


def admin_guard(token: str | None) -> AdminGuard | None:
    return AdminGuard(token) if token else None

"""Who may use the admin API.

Bound to a loopback address the admin API is open, as it has always been: the
machine is the developer's own. Bound to any other address, `sandbox serve`
will not start without an admin token (`--admin-token` or
`SANDBOX_ADMIN_TOKEN`), and then every call under `/__sandbox` must send
`Authorization: Bearer <token>`, except the operations whose spec says they
are open (`security: [{}]`: health); any other gets a 401 in the admin API's
envelope before anything else is looked at (so an unknown admin path is a 401
too, and says nothing about what exists).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from sandbox.errors import ApiError, ErrorKind
from sandbox.spec import Router

ENVIRONMENT_VARIABLE = "SANDBOX_ADMIN_TOKEN"
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


def open_operations(spec: dict[str, Any]) -> frozenset[str]:
    """The operationIds a spec (`$ref`s inlined) declares open: `security: [{}]`."""
    found = set()
    for item in (spec.get("paths") or {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("security") == [{}]:
                found.add(operation.get("operationId"))
    return frozenset(found)


class AdminGuard:
    """Checks the admin token on every admin call but the open ones (`open_operations`)."""

    def __init__(self, token: str, router: Router, mount: str, open_ids: frozenset[str]) -> None:
        self._expected = f"bearer {token}".encode()
        self._router = router
        self._mount = mount
        self._open_ids = open_ids

    def is_open(self, method: str, path: str) -> bool:
        match = self._router.match(path[len(self._mount) :] or "/")
        operation = match[0].operations.get(method.upper()) if match is not None else None
        return operation is not None and operation.operation_id in self._open_ids

    def refusal(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> ApiError | None:
        """The 401 for a call without the token, or None when it may go on."""
        if self.is_open(method, path):
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


def admin_guard(token: str | None, admin: Any) -> AdminGuard | None:
    """The guard for the admin service `admin` (an `engine.Service`), or None without a token."""
    if not token:
        return None
    open_ids = open_operations(admin.spec.resolved)
    return AdminGuard(token, admin.router, admin.mount, open_ids)

"""pytest fixtures for using the sandbox as a test double (registered as a `pytest11` plugin).

- `sandbox_server`: one real uvicorn server per test session (per xdist
  worker) on a free port; `.url`, `.engine`.
- `sandbox_app`: a fresh in-process ASGI app, for ASGI clients (no network).
- `sandbox_tenant`: a fresh credential per test on `sandbox_server`, with
  helpers for its clock, fixtures, faults, journal and snapshots. Credentials
  are random, so tests in parallel never see each other's state.
- `webhook_receiver`: a local HTTP server recording the webhooks it receives
  and checking their signature (`sandbox.webhook_receiver`).
- `--sandbox-coverage` (and `--sandbox-coverage-fail-under N`): a summary of
  the spec operations and statuses the session's calls to `sandbox_server`
  exercised, at the end of the session (sandbox.coverage_plugin).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from starlette.applications import Starlette

from sandbox.app import create_app
from sandbox.coverage_plugin import (  # noqa: F401 (pytest hooks, registered with this plugin)
    pytest_addoption,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
    served_engines,
)
from sandbox.engine import Engine, Settings
from sandbox.testing import running_server
from sandbox.webhook_receiver import WebhookReceiver, running_receiver


@dataclass
class SandboxServer:
    url: str
    app: Starlette

    @property
    def engine(self) -> Engine:
        return self.app.state.engine


class SandboxTenant:
    """One credential's world on a running sandbox, driven through the admin API."""

    def __init__(self, base_url: str, credential: str) -> None:
        self.base_url = base_url
        self.credential = credential

    def _admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = Request(
            f"{self.base_url}/__sandbox/tenants/{self.credential}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        try:
            with urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self._admin(method, path, body)
        if status >= 400:
            raise AssertionError(f"sandbox admin {method} {path} answered {status}: {answer}")
        return answer

    # clock
    def now(self) -> str:
        return self._ok("GET", "/clock")["now"]

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the tenant's clock forward; work due by then (e.g. Debitura tasks) is finished."""
        return self._ok("POST", "/clock", {"advance": seconds})

    def freeze(self, at: str | None = None) -> dict[str, Any]:
        change: dict[str, Any] = {"frozen": True}
        if at is not None:
            change["set"] = at
        return self._ok("POST", "/clock", change)

    # data
    def load(self, records: dict[str, Any]) -> dict[str, Any]:
        """Load records keyed by provider, e.g. {"payt": {"tasks": [...]}}; raises on invalid records."""
        return self._ok("POST", "/fixtures", records)

    def snapshot(self) -> dict[str, Any]:
        return self._ok("GET", "/state")

    def restore(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        return self._ok("PUT", "/state", snapshot)

    def reset(self) -> None:
        self._ok("POST", "/reset")

    # faults
    def fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule, e.g. fault(method="PATCH", path="/payt/v1/tasks/*", status=503, times=1)."""
        return self._ok("POST", "/faults", rule)

    def clear_faults(self) -> None:
        self._ok("DELETE", "/faults")

    # journal
    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Journaled calls, oldest first; filters: provider, method, path (glob), status."""
        query = "&".join(f"{key}={value}" for key, value in filters.items())
        return self._ok("GET", "/requests" + (f"?{query}" if query else ""))["requests"]

    def verify(
        self,
        method: str | None,
        path: str,
        count: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
    ) -> list[dict[str, Any]]:
        """Assert how many calls matched; raises AssertionError listing the calls that did."""
        expectation: dict[str, Any] = {"path": path}
        for key, value in (("method", method), ("count", count), ("at_least", at_least), ("at_most", at_most)):
            if value is not None:
                expectation[key] = value
        status, answer = self._admin("POST", "/requests/verify", expectation)
        if status == 417:
            calls = "\n".join(f"  {e['method']} {e['path']} -> {e['status']}" for e in answer["requests"])
            raise AssertionError(f"{answer['error']['message']}\nMatching calls:\n{calls or '  (none)'}")
        if status != 200:
            raise AssertionError(f"sandbox verify answered {status}: {answer}")
        return answer["requests"]

    # webhooks
    def subscribe(
        self, provider: str, url: str, events: list[str] | None = None, secret: str | None = None
    ) -> dict[str, Any]:
        """Subscribe a URL to a provider's events through the admin API (for providers without a webhook API)."""
        body: dict[str, Any] = {"provider": provider, "url": url}
        if events is not None:
            body["events"] = events
        if secret is not None:
            body["secret"] = secret
        return self._ok("POST", "/webhooks/subscriptions", body)

    def pause(self, subscription_id: str, paused: bool = True) -> dict[str, Any]:
        return self._ok("PATCH", f"/webhooks/subscriptions/{subscription_id}", {"paused": paused})

    def deliveries(self, wait: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
        """Webhook deliveries with their attempts (filters: provider, status, type), once none is mid-attempt.

        Waits up to `wait` seconds for attempts under way to finish, so what a
        receiver answered is recorded.
        """
        query = "&".join(f"{key}={value}" for key, value in filters.items())
        deadline = time.monotonic() + wait
        while True:
            found = self._ok("GET", "/webhooks/deliveries" + (f"?{query}" if query else ""))["deliveries"]
            if not any(delivery["status"] == "sending" for delivery in found) or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        return self._ok("POST", f"/webhooks/deliveries/{delivery_id}/redeliver")


@pytest.fixture(scope="session")
def sandbox_server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    app = create_app(Settings())
    served_engines(request.config).append(app.state.engine)
    with running_server(app) as url:
        yield SandboxServer(url, app)


@pytest.fixture
def sandbox_app() -> Starlette:
    return create_app(Settings())


@pytest.fixture
def sandbox_tenant(sandbox_server: SandboxServer) -> Iterator[SandboxTenant]:
    tenant = SandboxTenant(sandbox_server.url, f"pytest-{uuid.uuid4().hex}")
    yield tenant
    tenant.reset()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A local server receiving webhooks at `.url`; set `.secret` to have each signature checked."""
    with running_receiver() as receiver:
        yield receiver

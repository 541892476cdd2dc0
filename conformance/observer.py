"""A pytest plugin: every response the sandbox sends to Payt or Debitura clients in a test is checked
against the provider's own published document (`make conformance` loads it with `-p conformance.observer`).

It wraps `Engine.handle`, so it sees every app a test creates (in-process
clients and the real servers of `sandbox.testing` alike). A response is
checked when it comes from a provider listed in `DOCUMENTS`: its path, less
the service's mount, is looked up in the document (`/payt/v1/tasks/7` is
Payt's `/v1/tasks/{id}`, `/debitura/v1/cases` is Debitura's `/cases`), and
its JSON body validated against the document's schema for its status, where
the document has one. A test during which any response breaks its document
fails, naming each response and why.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest

from conformance.reference import ReferenceDocument, reference_dir
from sandbox.engine import Engine, WireResponse, path_keeping_encoded_slashes

# The providers whose own documents the sandbox answers to: the file each one's document is in, and
# whether a bare `$ref` property may be null (Debitura's document is Swashbuckle's, see nullable_to_type).
DOCUMENTS = {"payt": ("payt-openapi.json", False), "debitura": ("debitura-openapi.json", True)}
ROUTING_STATUSES = (404, 405)  # answers to paths or methods that name no operation


class Observer:
    """Collects the ways observed responses break their providers' documents."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0

    @functools.cached_property
    def documents(self) -> dict[str, ReferenceDocument]:
        folder = reference_dir()
        return {name: ReferenceDocument(folder / file, refs) for name, (file, refs) in DOCUMENTS.items()}

    def observe(
        self, engine: Engine, method: str, path: str, response: WireResponse, request: Request | None = None
    ) -> None:
        service = engine.service_for(path)
        if service is None or service.provider.name not in DOCUMENTS:
            return
        document = self.documents[service.provider.name]
        relative = path[len(service.mount) :] or "/"
        if document.operation_template(method, relative) is None and response.status in ROUTING_STATUSES:
            return  # nothing is served there, by the sandbox or the provider
        body = decoded(response)
        if body is None and document.operation_template(method, relative) is not None:
            return  # no JSON body to check (204, or a text answer)
        self.checked += 1
        selected = request is not None and selects_fields(service, request)
        for problem in document.response_errors(method, relative, response.status, body, selected):
            self.problems.append(f"{method} {path} answered {response.status}: {problem}")

    def take(self) -> list[str]:
        problems, self.problems = self.problems, []
        return problems


@dataclass
class Request:
    """What the observer keeps of a request: its query string and body, to see a sparse-fields selection."""

    query: bytes
    body: bytes = b""

    def values(self) -> dict[str, dict[str, Any]]:
        """The request's parameters by where they came from, as the engine names them ("query", "body")."""
        query = dict(parse_qsl(self.query.decode("latin-1")))
        try:
            body = json.loads(self.body) if self.body.lstrip().startswith(b"{") else dict(parse_qsl(self.body.decode()))
        except (ValueError, UnicodeDecodeError):
            body = {}
        return {"query": query, "body": body if isinstance(body, dict) else {}}


def selects_fields(service: Any, request: Request) -> bool:
    """Whether the request carries its spec's sparse-fields parameter (as `Service.selects_fields` decides)."""
    sparse = service.resources.declaration.sparse_fields if service.resources is not None else None
    if sparse is None:
        return False
    values = request.values()
    return any(name in values.get(where, {}) for where, name in sparse.sources)


def decoded(response: WireResponse) -> Any | None:
    content_type = dict(response.raw_headers).get(b"content-type", b"")
    if not response.body or not content_type.startswith(b"application/json"):
        return None
    return json.loads(response.body)


OBSERVER = Observer()


def observing(handle: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handle)
    async def observed(engine: Engine, scope: dict[str, Any], receive: Any) -> WireResponse:
        request = Request(scope.get("query_string", b""))

        async def recording() -> Any:  # the body, kept as the engine reads it
            message = await receive()
            request.body += message.get("body", b"")
            return message

        response = await handle(engine, scope, recording)
        # `%2F` stays encoded, as the engine routes it (a creditor reference `INV/2026/7` is one segment).
        OBSERVER.observe(engine, scope["method"].upper(), path_keeping_encoded_slashes(scope), response, request)
        return response

    return observed


def pytest_configure(config: pytest.Config) -> None:
    reference_dir()  # a missing folder is an error before any test runs, not a silent pass
    Engine.handle = observing(Engine.handle)  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    OBSERVER.take()
    outcome = yield
    problems = OBSERVER.take()
    if problems and outcome.excinfo is None:
        listed = "\n".join(problems[:20])
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        outcome.force_exception(AssertionError(f"responses that break the provider's own document:\n{listed}{more}"))

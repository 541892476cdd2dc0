"""The engine: from an HTTP request to a provider handler and back.

For every request it finds the service mounted at the path's prefix, matches
an operation of that service's spec (404 / 405 otherwise), reads the
credential and the tenant it names, validates the request against the
operation, runs the handler, renders errors in the provider's envelope,
journals the call and, when asked to, checks the response against the spec.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from sandbox import providers as provider_package
from sandbox.admin import Admin, provider_action
from sandbox.admin_auth import admin_guard
from sandbox.coverage import Hits
from sandbox.credentials import (
    TOKEN_FIXTURE_SCHEMA,
    CredentialReader,
    DeclaredCredentials,
    credential_reader,
    refusal_headers,
)
from sandbox.declared import DeclaredProvider
from sandbox.delivery import Dispatcher
from sandbox.errors import ApiError, ErrorKind
from sandbox.faults import FAULT_STATUSES, DroppedConnection, FaultRule, FaultSet
from sandbox.fixtures import Fixtures, load_fixture_dir
from sandbox.idempotency import HEADER as IDEMPOTENCY_HEADER
from sandbox.journal import DEFAULT_JOURNAL_LIMIT, DEFAULT_JOURNAL_RESPONSES
from sandbox.near_miss import suggestion
from sandbox.provider import Call, Handler, Provider, Reply
from sandbox.ratelimit import RateLimit, RateStatus, Window
from sandbox.refusals import refusal_reason
from sandbox.resources.layer import Resources, request_value
from sandbox.spec import ADMIN_SPEC, SPECS_DIR, Operation, Router, Spec, SpecError
from sandbox.sqlite_storage import SqliteStorage
from sandbox.tenants import Limits, Tenant, TenantRegistry
from sandbox.validation import RequestValidator, SchemaValidator, compile_schema

logger = logging.getLogger("sandbox")

DEFAULT_SPECS = SPECS_DIR
DEFAULT_FIXTURES = SPECS_DIR.parent / "fixtures"
MAX_BODY_BYTES = 1 << 20
RECORD_LOADS = frozenset({"loadFixtures", "restoreState"})  # admin operations that bring in many records


@dataclass
class Settings:
    specs_dir: Path = DEFAULT_SPECS
    fixtures_dir: Path | None = DEFAULT_FIXTURES
    # Check every response against its spec and answer 500 on a mismatch.
    # The test suite turns this on; a served sandbox leaves it off for speed.
    validate_responses: bool = False
    journal_limit: int = DEFAULT_JOURNAL_LIMIT
    max_body_bytes: int = MAX_BODY_BYTES
    only: list[str] | None = None  # serve only these providers
    # Fault rules applied to every tenant (see sandbox.faults), e.g. from --faults FILE.
    faults: list[dict[str, Any]] = field(default_factory=list)
    # Per-provider rate limits replacing the provider's own (None: unlimited).
    rate_limits: dict[str, RateLimit | None] = field(default_factory=dict)
    # After each admin call that loads or restores records (RECORD_LOADS), move every object
    # alive to Python's permanent GC generation (gc.freeze), so that full
    # collections stop walking the records: with 100,000 records each one took
    # ~0.2 s and made list latency grow with the number of records. `sandbox
    # serve` turns it on; in-process test apps leave the collector as it is.
    freeze_after_loads: bool = False
    # Webhook receivers: "open" accepts http:// and loopback or private hosts (where a developer's
    # receiver runs); "strict" refuses them, as the real providers do (`sandbox serve --webhooks strict`).
    webhooks: str = "open"
    # Sharing one sandbox (README "Sharing a sandbox"): tenants kept in SQLite at `state_path`;
    # at most `max_tenants` held in memory, those unused for `tenant_idle_seconds` let go;
    # the admin API's token; credentials "any" (each its own world) or "declared" (fixture tokens only).
    state_path: Path | None = None
    max_tenants: int | None = None
    tenant_idle_seconds: float | None = None
    admin_token: str | None = None
    credentials: str = "any"
    journal_responses: int | None = DEFAULT_JOURNAL_RESPONSES  # replies kept for the HAR export, server-wide


BoundHandler = Callable[[Call], Reply | Any]


class Service:
    """A provider bound to its spec: routes, request validators, response schemas.

    `extensions` are more specs served at the same mount, each with the
    handlers of its operations (the admin API serves the providers' admin
    specs this way).
    """

    def __init__(
        self, provider: Provider, spec: Spec, extensions: Sequence[tuple[Spec, dict[str, BoundHandler]]] = ()
    ) -> None:
        self.provider = provider
        self.spec = spec
        self.mount = provider.mount
        self.credential = credential_reader_of(provider, spec)
        self.resources = Resources(spec, provider.hooks, provider)
        provider.resources = self.resources
        provider.fixture_schemas = {
            "tokens": TOKEN_FIXTURE_SCHEMA,  # every provider can declare tokens (--credentials declared)
            **self.resources.fixture_schemas(),
            **provider.fixture_schemas,
        }
        served_here = set(provider.handlers) | set(self.resources.declaration.operations)
        own = {op_id: functools.partial(self._handler(op_id), provider) for op_id in served_here}
        self.handlers: dict[str, BoundHandler] = {}
        routes: set[tuple[str, str]] = set()
        for served, handlers in [(spec, own), *extensions]:
            declared = {op.operation_id for op in served.operations}
            missing = sorted(declared - set(handlers))
            stray = sorted(set(handlers) - declared)
            if missing or stray:
                raise SpecError(
                    f"{served.source}: operations without a handler: {missing or 'none'}; "
                    f"handlers without an operation: {stray or 'none'}"
                )
            for op in served.operations:
                if op.operation_id in self.handlers or (op.method, op.path) in routes:
                    raise SpecError(f"{served.source}: {op.operation_id} ({op.method} {op.path}) is served twice")
                routes.add((op.method, op.path))
                self.handlers[op.operation_id] = handlers[op.operation_id]
        self.operations = [op for served, _ in [(spec, own), *extensions] for op in served.operations]
        self.router = Router(self.operations)
        self.validators = {op.operation_id: RequestValidator(op) for op in self.operations}
        self._response_validators: dict[tuple[str, int], SchemaValidator | None] = {}

    def selects_fields(self, call: Call | None) -> bool:
        """Whether a call carries the spec's sparse-fields parameter (its answer holds only the chosen fields)."""
        sparse = self.resources.declaration.sparse_fields if self.resources is not None else None
        return call is not None and sparse is not None and request_value(call, sparse.sources) is not None

    def _handler(self, operation_id: str) -> Handler:
        """The provider's own handler for an operation, else the generic one; wrapped for idempotency if declared."""

        def generic(provider: Provider, call: Call) -> Reply:
            return self.resources.handle(call)

        handler = self.provider.handlers.get(operation_id, generic)
        replay = type(self.provider).idempotency  # read on the class: a plain function, not a bound method
        operation = next((op for op in self.spec.operations if op.operation_id == operation_id), None)
        headers = {p.name.lower() for p in operation.parameters if p.location == "header"} if operation else set()
        return replay(handler) if replay is not None and IDEMPOTENCY_HEADER.lower() in headers else handler

    def response_problem(self, operation: Operation, reply: Reply, partial: bool = False) -> str | None:
        """Why a reply breaks the spec, or None when it conforms.

        `partial`: the call chose its fields (a sparse selection), so members the schema requires may be absent.
        """
        documented, schema = operation.response_schema(reply.status)
        if not documented:
            return f"status {reply.status} is not documented for {operation.operation_id}"
        if reply.body is None or isinstance(reply.body, str | bytes) or schema is None:
            return None
        key = (operation.operation_id, reply.status)
        if key not in self._response_validators:
            self._response_validators[key] = compile_schema(schema)
        validator = self._response_validators[key]
        if validator is None:
            return None
        errors = validator.iter_errors(reply.body)
        error = next((e for e in errors if not (partial and e.validator == "required")), None)
        if error is None:
            return None
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        return f"response body of {operation.operation_id} ({reply.status}) at {where}: {error.message}"

    def error_reply(self, error: ApiError) -> Reply:
        status = self.provider.error_status(error)
        return Reply(self.provider.error_body(error, status), status, dict(error.headers))


def credential_reader_of(provider: Provider, spec: Spec) -> CredentialReader | None:
    """The provider's own `credential()` if it defines one, else what its spec's securitySchemes say."""
    if not provider.authenticated:
        return None
    if type(provider).credential is not Provider.credential:
        return provider.credential
    reader = credential_reader(spec.resolved)
    if reader is None:
        raise SpecError(
            f"{spec.source}: its securitySchemes and security do not say how to read a credential "
            f"(http bearer or basic, or apiKey in a header); give {provider.name} a credential() method"
        )
    return reader


class Engine:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.started_at = time.monotonic()
        self.services: list[Service] = []
        self.providers: dict[str, Provider] = {}
        self.specs: dict[str, Spec] = {}
        self.admin_specs: dict[str, Spec] = {}  # provider name -> its admin spec (test helpers)
        for name, provider_class in provider_package.discover().items():
            spec_path = self.settings.specs_dir / f"{name}.yaml"
            if not spec_path.exists() or (self.settings.only and name not in self.settings.only):
                continue
            provider = provider_class()
            spec = Spec.load(spec_path)
            self.add_service(provider, spec)
            admin_spec = self.load_admin_spec(provider)
            if admin_spec is not None:
                self.admin_specs[name] = admin_spec
        self.serve_declared_specs()
        admin_spec_path = self.settings.specs_dir / "sandbox.yaml"
        self.admin_spec = Spec.load(admin_spec_path if admin_spec_path.exists() else ADMIN_SPEC)
        extensions = []
        for name, spec in self.admin_specs.items():
            provider = self.providers[name]
            actions = {op_id: provider_action(provider, action) for op_id, action in provider.admin_actions.items()}
            extensions.append((spec, actions))
        self.admin = Service(Admin(), self.admin_spec, extensions)
        self.services.append(self.admin)
        self.services.sort(key=lambda s: len(s.mount), reverse=True)
        self.index_mounts()
        self._settling = {name: p for name, p in self.providers.items() if type(p).settle is not Provider.settle}
        self.fixtures: dict[str, Fixtures] = load_fixture_dir(self.settings.fixtures_dir, self.providers, self.specs)
        storage = SqliteStorage(self.settings.state_path) if self.settings.state_path else None
        limits = Limits(self.settings.max_tenants, self.settings.tenant_idle_seconds, self.settings.journal_responses)
        self.tenants = TenantRegistry(self.providers, self.fixtures_for, self.settings.journal_limit, storage, limits)
        self.admin_guard = admin_guard(self.settings.admin_token, self.admin)
        self.declared = DeclaredCredentials(self.fixtures_for) if self.settings.credentials == "declared" else None
        self.faults = FaultSet()
        for rule in self.settings.faults:
            self.faults.add(rule)
        self.webhooks = Dispatcher(self.tenants, self.providers, self.faults, strict=self.settings.webhooks == "strict")
        self.hits = Hits()  # calls per provider, operation and status since start (sandbox.coverage)

    def add_service(self, provider: Provider, spec: Spec) -> None:
        self.services.append(Service(provider, spec))
        self.providers[provider.name] = provider
        self.specs[provider.name] = spec

    def serve_declared_specs(self) -> None:
        """Serve every spec that declares its resources but has no provider module (sandbox.declared)."""
        for path in sorted(self.settings.specs_dir.glob("*.yaml")):
            name = path.stem
            if "." in name or name == "sandbox" or name in self.providers:
                continue
            if self.settings.only and name not in self.settings.only:
                continue
            spec = Spec.load(path)
            if "x-sandbox" in spec.raw:
                self.add_service(DeclaredProvider(spec), spec)

    def load_admin_spec(self, provider: Provider) -> Spec | None:
        """`specs/<name>.admin.yaml`: the provider's test helpers, under /__sandbox/tenants/{credential}/<name>/."""
        path = self.settings.specs_dir / f"{provider.name}.admin.yaml"
        if not path.exists():
            if provider.admin_actions:
                raise SpecError(f"{path}: missing, but {provider.name} declares admin actions")
            return None
        spec = Spec.load(path)
        prefix = f"/tenants/{{credential}}/{provider.name}/"
        outside = sorted(op.path for op in spec.operations if not op.path.startswith(prefix))
        if outside:
            raise SpecError(f"{path}: admin actions must be served under {prefix}, not {outside[0]}")
        return spec

    def fixtures_for(self, provider_name: str) -> Fixtures:
        return self.fixtures.get(provider_name, {})

    def all_specs(self) -> dict[str, Spec]:
        admin_specs = {spec.name: spec for spec in self.admin_specs.values()}
        return {**self.specs, "sandbox": self.admin_spec, **admin_specs}

    def service_for(self, path: str) -> Service | None:
        end = path.find("/", 1)
        candidates = self._mounted.get(path if end < 0 else path[:end])
        for service in self.services if candidates is None else candidates:
            if path == service.mount or path.startswith(service.mount + "/"):
                return service
        return None

    def index_mounts(self) -> None:
        """The services whose mount could serve a path, by the path's first segment (longest mounts first)."""
        self._mounted: dict[str, list[Service]] = {}
        for service in self.services:
            end = service.mount.find("/", 1)
            head = service.mount if end < 0 else service.mount[:end]
            if head in ("", "/"):  # a mount at the root could serve any path: look at every service
                self._mounted = {}
                return
            self._mounted.setdefault(head, []).append(service)

    def settle(self, tenant: Tenant) -> None:
        """Let each provider the tenant has used finish the work due by the tenant's time."""
        now = None
        for name, store in tenant.stores.items():
            provider = self._settling.get(name)
            if provider is None:
                continue  # nothing ever falls due for it: skip the call (this runs before every request)
            if now is None:
                now = tenant.clock.now()
            provider.settle(store, now)
        self.webhooks.pump(tenant)  # deliveries (and retries) due by now

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            response = await self.handle(scope, receive)
        except DroppedConnection:
            # Promise a body and send none: the server closes the connection mid-response.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
            return
        await response(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive) -> WireResponse:
        started = time.perf_counter()
        path = scope["path"]
        service = self.service_for(path)
        if service is None:
            mounts = ", ".join(sorted(s.mount for s in self.services))
            hint = suggestion(scope["method"].upper(), path, [(s.mount, s.operations) for s in self.services])
            error = ApiError(ErrorKind.NOT_FOUND, f"Nothing is served at {path}{hint or '.'} Mounted: {mounts}.")
            return self.render(self.admin.error_reply(error))
        if service is self.admin and self.admin_guard is not None:
            refused = self.admin_guard.refusal(scope["method"], path, scope["headers"])
            if refused is not None:
                return self.render(self.admin.error_reply(refused))
        exchange = Exchange(self, service, scope, receive)
        try:
            reply = await exchange.run()
        except DroppedConnection:
            if exchange.tenant is not None:
                exchange.journal(Reply(status=0), time.perf_counter() - started)
            if self.tenants.persistent:
                self.tenants.flush()
            raise
        finally:
            if exchange.entered:  # nothing below awaits: the tenant can be let go from here on
                self.tenants.leave(exchange.tenant)
        if self.webhooks.touched:
            self.webhooks.flush()  # what this call emitted goes out now that it is answered
        if exchange.operation is not None and self.settings.validate_responses:
            problem = service.response_problem(exchange.operation, reply, service.selects_fields(exchange.call))
            if problem is not None:
                logger.error("sandbox bug: %s", problem)
                exchange.refusal = ApiError(ErrorKind.INTERNAL, f"Sandbox bug: {problem}")
                reply = service.error_reply(exchange.refusal)
        if service is not self.admin:  # coverage (sandbox.coverage): one increment per call
            operation = exchange.operation
            if operation is None:
                self.hits.miss(service.provider.name)
            else:
                self.hits.counts[(service.provider.name, operation.operation_id, reply.status)] += 1
        if exchange.tenant is not None:
            exchange.journal(reply, time.perf_counter() - started)
        elif self.settings.freeze_after_loads and reply.status < 300 and self.loads_records(service, exchange):
            gc.collect()  # cheap: frozen objects are not walked; what is garbage now is not frozen
            gc.freeze()
        if self.tenants.persistent:
            self.tenants.flush()  # before the answer: what the client sees acknowledged is on disk
        return self.render(reply)

    def loads_records(self, service: Service, exchange: Exchange) -> bool:
        operation = exchange.operation
        return service is self.admin and operation is not None and operation.operation_id in RECORD_LOADS

    @staticmethod
    def render(reply: Reply) -> WireResponse:
        headers = dict(reply.headers)
        if reply.status == 204 or reply.body is None:
            return WireResponse(reply.status, headers, b"", None)
        if isinstance(reply.body, str | bytes):
            media_type = headers.pop("content-type", "text/plain")
            body = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
            return WireResponse(reply.status, headers, body, media_type)
        return WireResponse(reply.status, headers, encode_json(reply.body), "application/json")


class WireResponse:
    """A response as ASGI sends it, with the headers Starlette's `Response` would add (a lighter object)."""

    __slots__ = ("body", "raw_headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, media_type: str | None) -> None:
        self.status = status
        self.body = body
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        names = {name for name, _ in raw}
        if b"content-length" not in names and not (status < 200 or status in (204, 304)):
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        if media_type is not None and b"content-type" not in names:
            if media_type.startswith("text/") and "charset=" not in media_type.lower():
                media_type += "; charset=utf-8"
            raw.append((b"content-type", media_type.encode("latin-1")))
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


class Exchange:
    """One request's way through a service."""

    def __init__(self, engine: Engine, service: Service, scope: Scope, receive: Receive) -> None:
        self.engine = engine
        self.service = service
        self.provider = service.provider
        self.scope = scope
        self.receive = receive
        self.method = scope["method"].upper()
        self.path = scope["path"]
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.operation: Operation | None = None
        self.tenant: Tenant | None = None
        self.call: Call | None = None
        self.body = b""
        self.rate_headers: dict[str, str] = {}
        self.fault: FaultRule | None = None
        self.refusal: ApiError | None = None
        self.entered = False  # the tenant was taken with `enter` (and is given back with `leave`)

    async def run(self) -> Reply:
        try:
            reply = await self._dispatch()
        except ApiError as error:
            self.refusal = error
            reply = self.service.error_reply(error)
        except DroppedConnection:
            raise
        except Exception:
            logger.exception("unhandled error in %s %s", self.method, self.path)
            error = ApiError(ErrorKind.INTERNAL, "The sandbox failed to handle this request (a sandbox bug).")
            self.refusal = error
            reply = self.service.error_reply(error)
        added = self.provider.response_headers(self.call) if self.call is not None else None
        if added:  # (nothing changes reply.headers in place: an empty merge need not copy it)
            reply.headers = {**added, **reply.headers}
        if self.rate_headers:
            reply.headers = {**self.rate_headers, **reply.headers}
        return reply

    async def _dispatch(self) -> Reply:
        routing_path = path_keeping_encoded_slashes(self.scope)
        relative = routing_path[len(self.service.mount) :] or "/"
        match = self.service.router.match(relative)
        if match is None:
            self.tenant = self._tenant_of_unrouted_call()
            hint = suggestion(self.method, self.path, [(self.service.mount, self.service.operations)])
            raise ApiError(ErrorKind.NOT_FOUND, f"No operation matches {self.method} {self.path}{hint or '.'}")
        route, encoded_params = match
        if ENCODED_SLASH in relative:
            path_params = {name: value.replace(ENCODED_SLASH, "/") for name, value in encoded_params.items()}
        else:  # nothing to decode (the parameters are only read)
            path_params = encoded_params
        operation = route.operations.get(self.method)
        if operation is None:
            self.tenant = self._tenant_of_unrouted_call()
            allowed = ", ".join(sorted(route.operations))
            hint = suggestion(self.method, self.path, [(self.service.mount, self.service.operations)])
            raise ApiError(
                ErrorKind.METHOD_NOT_ALLOWED,
                f"{self.method} is not allowed on {self.path}; allowed: {allowed}{hint or '.'}",
                headers={"Allow": allowed},
            )
        self.operation = operation
        credential = self.service.credential(self.headers) if self.service.credential is not None else None
        store = now = None
        if credential is not None:
            registry = self.engine.tenants
            if self.engine.declared is not None:
                self._check_declared(credential)
            self.tenant = registry.enter(credential)
            self.entered = True
            store = registry.store(self.tenant, self.provider)
            self.engine.settle(self.tenant)
            now = self.tenant.clock.now()
            method, path = self.method, self.path
            rule = self.tenant.faults.firing(method, path) or self.engine.faults.firing(method, path)
            if rule is not None:
                await self._apply_fault(rule)
            self.provider.authorize(credential, store, operation)
            self._count_against_rate_limit()
        if "content-length" in self.headers or "transfer-encoding" in self.headers:
            self.body = await self._read_body()  # (else HTTP/1.1 says there is none: no coroutine to await)
        parsed = self.service.validators[operation.operation_id].parse(
            path_params,
            query_items(self.scope["query_string"]),
            self.headers,
            self.body,
            self.headers.get("content-type"),
        )
        self.call = Call(  # by position, in the order Call declares its fields (a third of the cost of keywords)
            operation,
            parsed.path,
            parsed.query,
            parsed.headers,
            parsed.body,
            parsed.media_type,
            self.headers,  # raw_headers
            credential,
            self.tenant,
            store,
            now,
            self.base_url(),
            self.engine,
            self.service.resources,
        )
        self.provider.before(self.call)
        handler = self.service.handlers[operation.operation_id]
        if store is None:
            result = handler(self.call)
        else:
            with store.transaction():  # a handler that raises leaves nothing it wrote behind
                result = handler(self.call)
        if type(result) is Reply:
            return result
        if type(result) in (dict, list):  # JSON, never awaitable: the Awaitable check costs ~1 µs
            return Reply(result)
        if inspect.isawaitable(result):  # a handler that waits on something outside (a webhook test post)
            result = await result
        return result if isinstance(result, Reply) else Reply(result)

    def _tenant_of_unrouted_call(self) -> Tenant | None:
        """The tenant of a call that matched no operation, if it carries a credential: its journal shows the miss."""
        if self.service.credential is None:
            return None
        try:
            credential = self.service.credential(self.headers)
        except ApiError:
            return None
        return self.engine.tenants.get(credential) if credential else None

    def _check_declared(self, credential: str) -> None:
        """`--credentials declared`: a 401 for a credential the fixtures do not declare, or one expired."""
        assert self.engine.declared is not None and self.service.credential is not None
        headers = refusal_headers(self.service.credential)
        tenants = self.engine.tenants
        self.engine.declared.check(
            self.provider.name, credential, lambda: tenants.get(credential).clock.timestamp(), headers
        )

    async def _apply_fault(self, rule: FaultRule) -> None:
        """Delay, fail or drop this call for the fault rule that fired for it; a failed call runs no handler."""
        self.fault = rule
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.drop:
            raise DroppedConnection()
        if rule.status is not None:
            raise self._fault_error(rule)

    def _fault_error(self, rule: FaultRule) -> ApiError:
        assert rule.status is not None
        headers: dict[str, str] = {}
        if rule.status == 429:
            limit = self.engine.settings.rate_limits.get(self.provider.name, self.provider.rate_limit)
            headers = self.provider.rate_limit_headers(RateStatus(limit.limit if limit else 0, 0, 1, allowed=False))
        return ApiError(
            FAULT_STATUSES[rule.status],
            f"Injected fault {rule.id}: this call was answered {rule.status} on purpose.",
            status=rule.status,
            headers=headers,
        )

    def _count_against_rate_limit(self) -> None:
        assert self.tenant is not None
        name = self.provider.name
        rule = self.engine.settings.rate_limits.get(name, self.provider.rate_limit)
        if rule is None:
            return
        key = f"rate_limit:{name}"
        window = self.tenant.meters.get(key)
        if window is None:
            window = self.tenant.meters[key] = Window(self.tenant.clock.timestamp())
        status = window.hit(rule, self.tenant.clock.timestamp())
        self.rate_headers = self.provider.rate_limit_headers(status)
        if not status.allowed:
            raise ApiError(
                ErrorKind.RATE_LIMITED,
                f"Rate limit of {rule.limit} requests per {rule.window_seconds:g} s exceeded; "
                f"retry in {status.reset_in} s.",
            )

    async def _read_body(self) -> bytes:
        limit = self.engine.settings.max_body_bytes
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit)
        if not declared and "transfer-encoding" not in self.headers:
            return b""  # HTTP/1.1: a request with neither header has no body
        chunks: list[bytes] = []
        size = 0
        while True:  # the ASGI messages themselves: Starlette's Request.stream() costs more per request
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _too_large(limit: int) -> ApiError:
        return ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes.")

    def base_url(self) -> str:
        scope = self.scope
        host = self.headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{self.service.mount}"

    def journal(self, reply: Reply, seconds: float) -> None:
        assert self.tenant is not None
        journal = self.tenant.journal
        journal.record(
            {
                "id": journal.next_id(),
                "time": self.tenant.clock.now(),
                "provider": self.provider.name,
                "operation": self.operation.operation_id if self.operation else None,
                "method": self.method,
                "path": self.path,
                "query": self.scope["query_string"].decode("latin-1"),
                "headers": self.headers,
                "body": self.body[:65536].decode("utf-8", errors="replace") if self.body else None,
                "status": reply.status,
                "duration_ms": round(seconds * 1000, 3),
                "fault": self.fault.id if self.fault else None,
                "reason": None if self.refusal is None else self._refusal_reason(),
                "response": reply,  # for the HAR export (sandbox.har); not listed as JSON. See Journal.record.
            }
        )

    def _refusal_reason(self) -> dict[str, Any]:
        assert self.refusal is not None
        handled = self.call is not None
        faulted = self.fault is not None and self.fault.status is not None and not handled
        return refusal_reason(self.refusal, routed=self.operation is not None, handled=handled, faulted=faulted)


ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def query_items(query_string: bytes) -> tuple[tuple[str, str], ...]:
    """`parse_qsl` of a raw query string; short ones are remembered, as clients repeat the same queries."""
    if len(query_string) > 512:
        return _parse_query(query_string)
    return _remembered_query(query_string)


def _parse_query(query_string: bytes) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


_remembered_query = functools.lru_cache(maxsize=4096)(_parse_query)


def encode_json(body: Any) -> bytes:
    """Compact UTF-8 JSON, as `json.dumps(separators=(",", ":"), ensure_ascii=False)` writes it.

    orjson writes the same bytes about ten times faster (a page of 100 tasks:
    ~1 ms -> ~0.1 ms); it spells very small floats without an exponent
    (0.00001, not 1e-05) and NaN as null. What it cannot encode (non-string
    keys, integers beyond 64 bits) or would encode where json refuses
    (datetimes, dataclasses) goes to the json module. Subclasses of dict and
    list (the store's read-only records) are encoded natively, as json does.
    """
    try:
        return orjson.dumps(body, option=ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


ENCODED_SLASH = "%2F"


def path_keeping_encoded_slashes(scope: Scope) -> str:
    """The request path decoded, except that `%2F` stays as is.

    An identifier may contain a slash (a creditor reference such as
    `INV/2026/7`, sent as `INV%2F2026%2F7`); routing on the decoded path would
    split it into segments.
    """
    raw = scope.get("raw_path")
    if not raw or b"%" not in raw:  # nothing percent-encoded: the decoded path is the raw one
        return scope["path"]
    text = raw.decode("latin-1").split("?", 1)[0]
    text = text.replace("%2F", "%252F").replace("%2f", "%252F")
    decoded = unquote(text, encoding="utf-8", errors="replace")
    return decoded if decoded.replace(ENCODED_SLASH, "/") == scope["path"] else scope["path"]

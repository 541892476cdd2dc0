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
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sandbox import providers as provider_package
from sandbox.clock import iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.faults import FAULT_STATUSES, DroppedConnection, FaultRule, FaultSet
from sandbox.fixtures import Fixtures, load_fixture_dir
from sandbox.journal import DEFAULT_JOURNAL_LIMIT
from sandbox.provider import Call, Provider, Reply
from sandbox.ratelimit import RateLimit, RateStatus, Window
from sandbox.resources.layer import Resources
from sandbox.spec import Operation, Router, Spec, SpecError
from sandbox.tenants import Tenant, TenantRegistry
from sandbox.validation import RequestValidator, SchemaValidator, compile_schema

logger = logging.getLogger("sandbox")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPECS = PROJECT_ROOT / "specs"
DEFAULT_FIXTURES = PROJECT_ROOT / "fixtures"
ADMIN_SPEC = DEFAULT_SPECS / "sandbox.yaml"
MAX_BODY_BYTES = 1 << 20
RECORD_LOADS = frozenset({"loadFixtures", "restoreState"})  # admin operations that bring in many records
SECRET_HEADERS = frozenset({"authorization", "xapikey", "x-api-key", "proxy-authorization"})


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


class Service:
    """A provider bound to its spec: routes, request validators, response schemas."""

    def __init__(self, provider: Provider, spec: Spec) -> None:
        self.provider = provider
        self.spec = spec
        self.mount = provider.mount
        self.router = Router(spec.operations)
        self.validators = {op.operation_id: RequestValidator(op) for op in spec.operations}
        self._response_validators: dict[tuple[str, int], SchemaValidator | None] = {}
        self.resources = Resources(spec, provider.hooks, provider)
        provider.resources = self.resources
        declared = {op.operation_id for op in spec.operations}
        served = set(provider.handlers) | set(self.resources.declaration.operations)
        missing = sorted(declared - served)
        stray = sorted(set(provider.handlers) - declared)
        if missing or stray:
            raise SpecError(
                f"{spec.source}: operations without a handler or a declared resource role: {missing or 'none'}; "
                f"handlers without an operation: {stray or 'none'}"
            )

    def response_problem(self, operation: Operation, reply: Reply) -> str | None:
        """Why a reply breaks the spec, or None when it conforms."""
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
        error = next(iter(validator.iter_errors(reply.body)), None)
        if error is None:
            return None
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        return f"response body of {operation.operation_id} ({reply.status}) at {where}: {error.message}"

    def error_reply(self, error: ApiError) -> Reply:
        status = self.provider.error_status(error)
        return Reply(self.provider.error_body(error, status), status, dict(error.headers))


class Engine:
    def __init__(self, settings: Settings | None = None) -> None:
        from sandbox.admin import Admin

        self.settings = settings or Settings()
        self.started_at = time.monotonic()
        self.services: list[Service] = []
        self.providers: dict[str, Provider] = {}
        self.specs: dict[str, Spec] = {}
        for name, provider_class in provider_package.discover().items():
            spec_path = self.settings.specs_dir / f"{name}.yaml"
            if not spec_path.exists() or (self.settings.only and name not in self.settings.only):
                continue
            provider = provider_class()
            spec = Spec.load(spec_path)
            self.services.append(Service(provider, spec))
            self.providers[name] = provider
            self.specs[name] = spec
        admin_spec_path = self.settings.specs_dir / "sandbox.yaml"
        self.admin_spec = Spec.load(admin_spec_path if admin_spec_path.exists() else ADMIN_SPEC)
        self.admin = Service(Admin(), self.admin_spec)
        self.services.append(self.admin)
        self.services.sort(key=lambda s: len(s.mount), reverse=True)
        self.fixtures: dict[str, Fixtures] = load_fixture_dir(self.settings.fixtures_dir, self.providers, self.specs)
        self.tenants = TenantRegistry(self.providers, self.fixtures_for, self.settings.journal_limit)
        self.faults = FaultSet()
        for rule in self.settings.faults:
            self.faults.add(rule)

    def fixtures_for(self, provider_name: str) -> Fixtures:
        return self.fixtures.get(provider_name, {})

    def all_specs(self) -> dict[str, Spec]:
        return {**self.specs, "sandbox": self.admin_spec}

    def service_for(self, path: str) -> Service | None:
        for service in self.services:
            if path == service.mount or path.startswith(service.mount + "/"):
                return service
        return None

    def settle(self, tenant: Tenant) -> None:
        tenant.settle(self.providers)

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            response = await self.handle(Request(scope, receive))
        except DroppedConnection:
            # Promise a body and send none: the server closes the connection mid-response.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
            return
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        path = request.scope["path"]
        service = self.service_for(path)
        if service is None:
            mounts = ", ".join(sorted(s.mount for s in self.services))
            error = ApiError(ErrorKind.NOT_FOUND, f"Nothing is served at {path}. Mounted: {mounts}.")
            return self.render(self.admin.error_reply(error))
        exchange = Exchange(self, service, request)
        try:
            reply = await exchange.run()
        except DroppedConnection:
            if exchange.tenant is not None:
                exchange.journal(Reply(status=0), time.perf_counter() - started)
            raise
        if exchange.operation is not None and self.settings.validate_responses:
            problem = service.response_problem(exchange.operation, reply)
            if problem is not None:
                logger.error("sandbox bug: %s", problem)
                reply = service.error_reply(ApiError(ErrorKind.INTERNAL, f"Sandbox bug: {problem}"))
        if exchange.tenant is not None:
            exchange.journal(reply, time.perf_counter() - started)
        elif self.settings.freeze_after_loads and reply.status < 300 and self.loads_records(service, exchange):
            gc.collect()  # cheap: frozen objects are not walked; what is garbage now is not frozen
            gc.freeze()
        return self.render(reply)

    def loads_records(self, service: Service, exchange: Exchange) -> bool:
        operation = exchange.operation
        return service is self.admin and operation is not None and operation.operation_id in RECORD_LOADS

    @staticmethod
    def render(reply: Reply) -> Response:
        headers = dict(reply.headers)
        if reply.status == 204 or reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        if isinstance(reply.body, str | bytes):
            media_type = headers.pop("content-type", "text/plain")
            return Response(reply.body, status_code=reply.status, headers=headers, media_type=media_type)
        content = encode_json(reply.body)
        return Response(content, status_code=reply.status, headers=headers, media_type="application/json")


class Exchange:
    """One request's way through a service."""

    def __init__(self, engine: Engine, service: Service, request: Request) -> None:
        self.engine = engine
        self.service = service
        self.provider = service.provider
        self.request = request
        self.method = request.method.upper()
        self.path = request.scope["path"]
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]}
        self.operation: Operation | None = None
        self.tenant: Tenant | None = None
        self.call: Call | None = None
        self.body = b""
        self.rate_headers: dict[str, str] = {}
        self.fault: FaultRule | None = None

    async def run(self) -> Reply:
        try:
            reply = await self._dispatch()
        except ApiError as error:
            reply = self.service.error_reply(error)
        except DroppedConnection:
            raise
        except Exception:
            logger.exception("unhandled error in %s %s", self.method, self.path)
            error = ApiError(ErrorKind.INTERNAL, "The sandbox failed to handle this request (a sandbox bug).")
            reply = self.service.error_reply(error)
        if self.call is not None:
            reply.headers = {**self.provider.response_headers(self.call), **reply.headers}
        reply.headers = {**self.rate_headers, **reply.headers}
        return reply

    async def _dispatch(self) -> Reply:
        routing_path = path_keeping_encoded_slashes(self.request.scope)
        relative = routing_path[len(self.service.mount) :] or "/"
        match = self.service.router.match(relative)
        if match is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"No such endpoint: {self.path}.")
        route, encoded_params = match
        path_params = {name: value.replace(ENCODED_SLASH, "/") for name, value in encoded_params.items()}
        operation = route.operations.get(self.method)
        if operation is None:
            allowed = ", ".join(sorted(route.operations))
            raise ApiError(
                ErrorKind.METHOD_NOT_ALLOWED,
                f"{self.method} is not allowed on {self.path}; allowed: {allowed}.",
                headers={"Allow": allowed},
            )
        self.operation = operation
        credential = self.provider.credential(self.headers) if self.provider.authenticated else None
        store = now = None
        if credential is not None:
            registry = self.engine.tenants
            self.tenant = registry.get(credential)
            store = registry.store(self.tenant, self.provider)
            self.engine.settle(self.tenant)
            now = self.tenant.clock.now()
            await self._apply_fault()
            self.provider.authorize(credential, store, operation)
            self._count_against_rate_limit()
        self.body = await self._read_body()
        parsed = self.service.validators[operation.operation_id].parse(
            path_params,
            list(query_items(self.request.scope["query_string"])),
            self.headers,
            self.body,
            self.headers.get("content-type"),
        )
        self.call = Call(
            operation=operation,
            path=parsed.path,
            query=parsed.query,
            headers=parsed.headers,
            body=parsed.body,
            media_type=parsed.media_type,
            raw_headers=self.headers,
            credential=credential,
            tenant=self.tenant,
            store=store,
            now=now,
            base_url=self.base_url(),
            engine=self.engine,
            resources=self.service.resources,
        )
        self.provider.before(self.call)
        if store is None:
            return self._run_handler(operation.operation_id)
        with store.transaction():  # a handler that raises leaves nothing it wrote behind
            return self._run_handler(operation.operation_id)

    def _run_handler(self, operation_id: str) -> Reply:
        assert self.call is not None
        handler = self.provider.handlers.get(operation_id)
        if handler is None:
            return self.service.resources.handle(self.call)
        result = handler(self.provider, self.call)
        return result if isinstance(result, Reply) else Reply(result)

    async def _apply_fault(self) -> None:
        """Delay, fail or drop this call if a fault rule fires for it; a failed call runs no handler."""
        assert self.tenant is not None
        rule = self.tenant.faults.firing(self.method, self.path) or self.engine.faults.firing(self.method, self.path)
        if rule is None:
            return
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
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _too_large(limit: int) -> ApiError:
        return ApiError(ErrorKind.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes.")

    def base_url(self) -> str:
        scope = self.request.scope
        host = self.headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{self.service.mount}"

    def journal(self, reply: Reply, seconds: float) -> None:
        assert self.tenant is not None
        self.tenant.journal.record(
            {
                "time": iso8601(self.tenant.clock.now()),
                "provider": self.provider.name,
                "operation": self.operation.operation_id if self.operation else None,
                "method": self.method,
                "path": self.path,
                "query": self.request.scope["query_string"].decode("latin-1"),
                "headers": masked_headers(self.headers),
                "body": self.body[:65536].decode("utf-8", errors="replace") if self.body else None,
                "status": reply.status,
                "duration_ms": round(seconds * 1000, 3),
                "fault": self.fault.id if self.fault else None,
            }
        )


ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


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
    (datetimes, dataclasses, subclasses of str, int, dict and list) goes to the json module.
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
    if not raw:
        return scope["path"]
    text = raw.decode("latin-1").split("?", 1)[0]
    text = text.replace("%2F", "%252F").replace("%2f", "%252F")
    decoded = unquote(text, encoding="utf-8", errors="replace")
    return decoded if decoded.replace(ENCODED_SLASH, "/") == scope["path"] else scope["path"]


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: mask(value) if name in SECRET_HEADERS else value for name, value in headers.items()}


def mask(secret: str) -> str:
    """Keep an auth scheme and, for long secrets, their last four characters."""
    scheme, _, value = secret.partition(" ")
    if not value:
        scheme, value = "", secret
    hidden = "****" + value[-4:] if len(value) >= 16 else "****"
    return f"{scheme} {hidden}" if scheme else hidden

"""What a provider module implements, and what its handlers receive.

A provider is one module in `sandbox/providers/` with one `Provider`
subclass: its name (which names its spec and fixtures files), how it reads a
credential, how its errors look, and one handler per `operationId` of its spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from sandbox.delivery import Dispatcher
from sandbox.errors import DEFAULT_STATUS, ApiError, ErrorKind
from sandbox.events import WebhookStyle
from sandbox.faults import FaultSet
from sandbox.ratelimit import RateLimit, RateStatus
from sandbox.reply import Reply
from sandbox.resources.layer import Resources
from sandbox.spec import Operation, Spec
from sandbox.store import Record, Store
from sandbox.tenants import Tenant, TenantRegistry


@dataclass
class Call:
    """One validated request, as a handler sees it."""

    operation: Operation
    path: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, Any]  # declared header parameters, by their spec names
    body: Any
    media_type: str | None
    raw_headers: dict[str, str]  # every request header, lower-cased names
    credential: str | None
    tenant: Tenant | None
    store: Store | None
    now: datetime | None
    base_url: str
    engine: Sandbox
    resources: Resources | None = None  # the provider's declared resources (see sandbox.resources)

    @property
    def records(self) -> Store:
        """The tenant's store for this provider (every authenticated call has one)."""
        assert self.store is not None, "only authenticated calls have a tenant store"
        return self.store

    @property
    def clock_now(self) -> datetime:
        """The tenant clock's time when the call arrived (every authenticated call has one)."""
        assert self.now is not None, "only authenticated calls have a tenant clock"
        return self.now

    @property
    def grant(self) -> Record | None:
        """The fixture record that limits this credential, if one was declared."""
        if self.store is None or self.credential is None:
            return None
        return self.store.get("tokens", self.credential)


class Sandbox(Protocol):
    """What a handler may use of the engine that runs it (`call.engine`; the admin API needs it).

    `sandbox.engine.Engine` is one. It is described here rather than imported
    so that no module of `sandbox/` imports the engine back (no import cycles).
    """

    providers: dict[str, Provider]
    specs: dict[str, Spec]
    tenants: TenantRegistry
    faults: FaultSet
    webhooks: Dispatcher

    def settle(self, tenant: Tenant) -> None: ...

    def all_specs(self) -> dict[str, Spec]: ...


Handler = Callable[[Any, Call], Reply | Any]
__all__ = ["Call", "Handler", "Provider", "Reply", "handles", "hook"]


# What each decorator below marks a provider method with, and the class table collecting the marked methods.
MARKS = {"operation_id": "handlers", "resource_hook": "hooks", "admin_operation_id": "admin_actions"}


def marked(attribute: str, value: Any) -> Callable[[Handler], Handler]:
    def mark(function: Handler) -> Handler:
        setattr(function, attribute, value)
        return function

    return mark


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    """Bind a provider method to the spec operation with this `operationId`."""
    return marked("operation_id", operation_id)


def hook(resource: str, point: str) -> Callable[[Handler], Handler]:
    """Bind a provider method to a point of a declared resource's generic handlers.

    Points: `write` (call, old, draft) before any write — `old` is None on create,
    `draft` None on delete; change `draft` in place or raise an ApiError;
    `present` (call, record) -> the record as the wire shows it;
    `written` (call, old, new) after a record was stored (`old` None: created, `new` None: deleted),
    e.g. to emit an event (sandbox.events).
    `visible` (call) -> a predicate of the records this call's lists may show, or None for all.
    """
    return marked("resource_hook", (resource, point))


def admin_action(operation_id: str) -> Callable[[Handler], Handler]:
    """Bind a provider method to an operation of its admin spec, `specs/<name>.admin.yaml`.

    Those operations are test helpers served by the admin API, under
    `/__sandbox/tenants/{credential}/<name>/...`, with no credential. The
    method gets a `Call` for the tenant named by `{credential}`: `call.records`
    is that tenant's store for this provider (seeded on first use, due work
    settled) and `call.clock_now` the tenant clock's time. Errors are rendered
    in the admin API's envelope.
    """
    return marked("admin_operation_id", operation_id)


class Provider:
    name: ClassVar[str]
    # Where the provider is served; defaults to "/<name>".
    mount: ClassVar[str] = ""
    # Fixture collections and the schema their records must satisfy: the name
    # of a schema in the spec's components, or an inline JSON schema.
    fixture_schemas: ClassVar[dict[str, str | dict[str, Any]]] = {}
    # How error kinds map to HTTP statuses where they differ from DEFAULT_STATUS.
    error_statuses: ClassVar[dict[ErrorKind, int]] = {}
    # Whether calls need a credential (the admin API does not).
    authenticated: ClassVar[bool] = True
    # The real API's request limit per credential (None: unlimited).
    rate_limit: ClassVar[RateLimit | None] = None
    # The field of a fixture `tokens` record that lists what the token may do;
    # operations name what they need in their spec's security requirement.
    grant_field: ClassVar[str] = "scopes"
    # Replay for an `Idempotency-Key` (e.g. `sandbox.idempotency.idempotent(...)`): the engine wraps with it
    # the handler, the provider's own or a generic one, of every operation whose spec declares that header.
    idempotency: ClassVar[Callable[[Handler], Handler] | None] = None
    # The provider's webhooks (event types, signature, retries: sandbox.events); None: it sends none.
    webhooks: ClassVar[WebhookStyle | None] = None

    # The provider's declared resources (set by the engine when it binds the provider to its spec).
    resources: Resources | None = None
    handlers: ClassVar[dict[str, Handler]]
    hooks: ClassVar[dict[tuple[str, str], Handler]]
    # Test helpers of the admin spec (`@admin_action`), by operationId.
    admin_actions: ClassVar[dict[str, Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tables: dict[str, dict[Any, Handler]] = {table: {} for table in MARKS.values()}
        for klass in reversed(cls.__mro__):
            for attribute in vars(klass).values():
                for mark, table in MARKS.items():
                    key = getattr(attribute, mark, None)
                    if key is not None:
                        tables[table][key] = attribute
        for table, methods in tables.items():
            setattr(cls, table, methods)
        if not cls.mount and hasattr(cls, "name"):
            cls.mount = f"/{cls.name}"

    def credential(self, headers: dict[str, str]) -> str:
        """The credential (tenant key) of a request; raise an UNAUTHORIZED ApiError if none.

        Define it only when the spec's `securitySchemes` do not say enough:
        otherwise the engine reads the credential as they say (`sandbox.credentials`).
        """
        raise NotImplementedError

    def error_body(self, error: ApiError, status: int) -> Any:
        """The provider's error envelope for an error."""
        raise NotImplementedError

    def error_code(self, error: ApiError) -> str:
        """The error's own code, else the one the spec's `x-sandbox.error-codes` gives its kind."""
        codes = self.resources.declaration.error_codes if self.resources is not None else {}
        return error.code or codes.get(error.kind.value) or error.kind.value

    def error_status_for_invalid(self) -> int:
        """The status this provider answers a request that fails validation with."""
        return self.error_statuses.get(ErrorKind.INVALID) or DEFAULT_STATUS[ErrorKind.INVALID]

    def error_status(self, error: ApiError) -> int:
        return error.status or self.error_statuses.get(error.kind) or DEFAULT_STATUS[error.kind]

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None:
        """Put fixture records into a tenant's store, declared resources with the fields they leave out filled.

        Records are copies, already validated.
        """
        for collection, records in fixtures.items():
            for record in records:
                if self.resources is not None:
                    record = self.resources.with_defaults(collection, record)
                store.put(collection, record, key=self.fixture_key(collection, record))

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        """Problems with references between records (e.g. a task naming an unknown parent).

        `store` holds records already loaded (when loading into a live tenant).
        Each problem names the collection, record index and field. The scope and
        references of declared resources are checked besides (`Resources.fixture_references`).
        """
        return []

    def fixture_key(self, collection: str, record: Record) -> object:
        return record["token"] if collection == "tokens" else record["id"]

    def authorize(self, credential: str, store: Store, operation: Operation) -> None:
        """Refuse an operation whose scopes the credential's fixture grant does not list."""
        grant = store.get("tokens", credential)
        if grant is None or self.grant_field not in grant:
            return
        for scope in operation.scopes:
            if scope not in grant[self.grant_field]:
                raise ApiError(ErrorKind.FORBIDDEN, f"Missing permission: {scope}")

    def settle(self, store: Store, now: datetime) -> None:
        """Finish work that was due by `now` (called before each call and after clock moves)."""

    def before(self, call: Call) -> None:
        """Checks every call passes before its handler runs (permissions, rate limits)."""

    def rate_limit_headers(self, status: RateStatus) -> dict[str, str]:
        """Headers that tell a client where it stands against the rate limit."""
        headers = {"Retry-After": str(status.reset_in)} if not status.allowed else {}
        return headers

    def response_headers(self, call: Call) -> dict[str, str]:
        """Headers added to every response to an authenticated call."""
        return {}

"""The `x-sandbox` block of a spec: what a provider's resources are, as data.

One block per provider spec, at its top level (see docs/ARCHITECTURE.md for
the whole format with a worked example). It says, once for the provider, its
wire conventions (timestamps, paging, scope) and, per resource: collection,
id style, schemas, timestamps, references, filters and sorting, which
operation plays which role, and its state machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from sandbox.errors import ApiError, ErrorKind
from sandbox.messages import as_json
from sandbox.resources.schema import X_SANDBOX
from sandbox.spec import Spec, SpecError
from sandbox.validation import compile_check

# The exact predicate answers a valid block in microseconds; jsonschema only runs to explain an invalid one.
VALID_DECLARATION = compile_check(X_SANDBOX)


def declaration_problem(raw: Any) -> ValidationError | None:
    if VALID_DECLARATION is not None and VALID_DECLARATION(raw):
        return None
    return best_match(Draft202012Validator(X_SANDBOX).iter_errors(raw))

ROLES = frozenset({"list", "retrieve", "create", "update", "delete", "action"})
ID_STYLES = frozenset({"integer", "string-sequence", "uuid"})
TIMESTAMP_FORMATS = frozenset({"iso8601", "iso8601-ms", "unix"})
PAGING_STYLES = frozenset({"cursor", "page-links", "offset-limit", "page-metadata", "none"})
MATCHES = frozenset({"equals", "one-of", "after", "before", "at-most", "at-least", "operators", "fields", "metadata"})


@dataclass(frozen=True)
class Refusal:
    """An error a declaration names: its kind, a message template and an optional code."""

    kind: ErrorKind
    message: str
    code: str | None = None

    def error(self, **variables: Any) -> ApiError:
        """The ApiError to raise, its message filled in (`{id}`, `{value!r}`, ...).

        `{name}` shows a value as text (None reads `null`); `{name!r}` shows it as JSON (`"INV-7"`, `null`).
        """
        values = {key: _Shown(value) for key, value in variables.items()}
        message = self.message.format_map(_Lenient(values))
        return ApiError(self.kind, message, code=self.code, field=variables.get("field"))

    @classmethod
    def parse(cls, raw: dict[str, Any] | None, default_kind: ErrorKind, default_message: str) -> Refusal:
        raw = raw or {}
        return cls(ErrorKind(raw.get("kind", default_kind.value)), raw.get("message", default_message), raw.get("code"))


class _Shown:
    """A message value: as text for `{name}`, as JSON (not Python's repr) for `{name!r}`."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return format("null" if self.value is None else self.value, spec)

    def __repr__(self) -> str:
        return as_json(self.value)


class _Lenient(dict):
    """Leaves a placeholder the message names but the caller does not fill as it is."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Scope:
    """Where records live: each record's `field` names a record of `collection` (a company, an administration)."""

    collection: str
    field: str
    sources: tuple[tuple[str, str], ...]  # (the Call's attribute, name): "header:X" is ("headers", "X")
    grant: str | None
    internal: bool
    unknown: Refusal
    denied: Refusal
    # Refuse a scope outside the token's grant as `denied` before looking whether it exists,
    # so a limited token cannot probe which scopes exist.
    denied_first: bool = False


@dataclass(frozen=True)
class Paging:
    style: str
    size: str = "per_page"  # the page-size parameter
    position: str = "page"  # page number, offset or cursor parameter
    default_size: int = 100
    max_size: int | None = None
    items: str | None = None  # envelope member holding the items (cursor, page-metadata)


@dataclass(frozen=True)
class Filter:
    param: str
    field: str
    match: str
    type: str = "string"  # operand type for `operators`: integer, date, date-time, string
    values: dict[str, str] = field(default_factory=dict)  # accepted spellings -> stored value (one-of)
    fields: tuple[str, ...] = ()  # `fields` match: which fields may be named
    booleans: tuple[str, ...] = ()  # `fields` match: which of them are booleans
    case_insensitive: bool = False
    default: Any = None  # the value assumed when the parameter is absent
    unknown: Refusal | None = None  # one-of with `values`: the refusal of a value not among them ({value})


@dataclass(frozen=True)
class Sorting:
    param: str
    grammar: str  # "space" (`name desc,id`) or "colon" (`name:desc,id`)
    fields: dict[str, str]  # lower-cased spelling -> field
    unknown: str  # "refuse" or "ignore"
    nulls: str  # "first" or "last"
    dates: frozenset[str]  # fields holding ISO 8601 date-times (compared as instants)


@dataclass(frozen=True)
class Transition:
    operation: str
    sources: frozenset[str]  # states it may start from (empty: any)
    target: str | None  # state it moves to (None: stays)
    requirement: str
    sets: dict[str, Any]  # fields it sets to fixed values
    from_body: tuple[str, ...]  # fields it copies from the request body
    permission: str | None  # its holder may do the operation from any state; others get a 403 naming it


@dataclass(frozen=True)
class StateMachine:
    field: str
    initial: str | None
    refused: Refusal
    transitions: dict[str, Transition]


@dataclass(frozen=True)
class Reference:
    field: str
    resource: str
    missing: Refusal
    nullable: bool = True


@dataclass(frozen=True)
class Parent:
    """A list of the records that belong to one record of another resource (a case's tasks)."""

    resource: str
    field: str  # the listed records' field naming the parent
    param: str  # the path parameter holding the parent's id


@dataclass(frozen=True)
class Options:
    """How one operation departs from its role's defaults."""

    by: str | None = None  # retrieve: by this alternate key (see Resource.keys) instead of the id
    param: str | None = None  # retrieve by: the path parameter holding the key
    parent: Parent | None = None  # list: only the records of the parent the path names
    paging: str | None = None  # list: another paging style than the provider's ("none": every match)
    not_found: Refusal | None = None


@dataclass(frozen=True)
class Key:
    """An alternate key: at most one record holds each value (`duplicate` refuses a second one)."""

    field: str
    case_insensitive: bool
    duplicate: Refusal | None


@dataclass(frozen=True)
class Resource:
    name: str  # also its collection
    id_style: str
    schema: str | None  # the wire schema (component name)
    fixture_schema: str | None
    created: str | None
    updated: str | None
    touch: bool  # every update moves the updated timestamp, even one that changes nothing else
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    partitions: tuple[str, ...]  # fields the list index is grouped by, besides the scope
    filters: tuple[Filter, ...]
    sorting: Sorting | None
    references: tuple[Reference, ...]
    hidden: frozenset[str]  # fields never sent on the wire
    not_found: Refusal
    roles: dict[str, str]  # operationId -> role
    states: StateMachine | None
    scoped: bool
    defaults: dict[str, Any]
    optional: frozenset[str]  # fields sent only when a sparse field selection asks for them
    options: dict[str, Options] = field(default_factory=dict)  # operationId -> how it departs from its role
    keys: dict[str, Key] = field(default_factory=dict)  # alternate keys, by field
    retention: Retention | None = None  # lists show only records this recent on the tenant clock


@dataclass(frozen=True)
class Retention:
    """A list shows only the records whose `field` (a date-time) lies within the last `days` of the tenant clock."""

    field: str
    days: int


@dataclass(frozen=True)
class SparseFields:
    """A parameter choosing the fields of a response: `{"only": ["id", {"user": ["name"]}]}`."""

    sources: tuple[tuple[str, str], ...]  # as Scope.sources


@dataclass
class Declaration:
    timestamps: str = "iso8601"
    uuid_namespace: str = "5b0c5d1e-4f3a-5c7e-9d21-0d3b1e7a9c42"
    sparse_fields: SparseFields | None = None
    error_codes: dict[str, str] = field(default_factory=dict)  # error kind -> the provider's code for it
    omit_absent: bool = False  # a field a record does not hold stays off the wire, in a selection too (else null)
    paging: Paging = field(default_factory=lambda: Paging("none"))
    scope: Scope | None = None
    resources: dict[str, Resource] = field(default_factory=dict)
    # operationId -> (resource, role)
    operations: dict[str, tuple[Resource, str]] = field(default_factory=dict)


def load_declaration(spec: Spec) -> Declaration:
    raw = spec.raw.get("x-sandbox")
    if raw is None:
        return Declaration()
    where = f"{spec.source}: x-sandbox"
    problem = declaration_problem(raw)
    if problem is not None:
        place = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem.absolute_path)
        raise SpecError(f"{where}{place}: {problem.message}")
    declaration = Declaration(
        timestamps=choice(raw.get("timestamps", "iso8601"), TIMESTAMP_FORMATS, f"{where}.timestamps"),
        paging=parse_paging(raw.get("paging"), where),
        scope=parse_scope(raw.get("scope"), where),
        uuid_namespace=raw.get("uuid-namespace", Declaration.uuid_namespace),
        error_codes=dict(raw.get("error-codes") or {}),
        omit_absent=raw.get("absent-fields") == "omit",
        sparse_fields=SparseFields(tuple(request_source(source, where) for source in raw["sparse-fields"]["from"]))
        if "sparse-fields" in raw
        else None,
    )
    known = {op.operation_id for op in spec.operations}
    for name, body in (raw.get("resources") or {}).items():
        resource = parse_resource(name, body or {}, declaration, f"{where}.resources.{name}")
        declaration.resources[name] = resource
        for operation_id, role in resource.roles.items():
            if operation_id not in known:
                raise SpecError(f"{where}.resources.{name}: no operation {operation_id!r} in the spec")
            if operation_id in declaration.operations:
                raise SpecError(f"{where}: operation {operation_id!r} is declared by two resources")
            declaration.operations[operation_id] = (resource, role)
    for resource in declaration.resources.values():
        for reference in resource.references:
            if reference.resource not in declaration.resources and reference.resource != getattr(
                declaration.scope, "collection", None
            ):
                raise SpecError(f"{where}.resources.{resource.name}: reference to unknown {reference.resource!r}")
    return declaration


def choice(value: Any, allowed: frozenset[str], where: str) -> str:
    if value not in allowed:
        raise SpecError(f"{where}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def parse_paging(raw: dict[str, Any] | None, where: str) -> Paging:
    if raw is None:
        return Paging("none")
    style = choice(raw.get("style"), PAGING_STYLES, f"{where}.paging.style")
    defaults = {
        "cursor": ("per_page", "cursor"),
        "page-links": ("per_page", "page"),
        "offset-limit": ("limit", "offset"),
        "page-metadata": ("PageSize", "Page"),
        "none": ("", ""),
    }[style]
    return Paging(
        style=style,
        size=raw.get("size", defaults[0]),
        position=raw.get("position", defaults[1]),
        default_size=int(raw.get("default-size", 100)),
        max_size=raw.get("max-size"),
        items=raw.get("items"),
    )


CALL_ATTRIBUTES = {"query": "query", "header": "headers", "path": "path", "body": "body"}


def request_source(source: str, where: str) -> tuple[str, str]:
    """`header:Wethod-Company` as the Call attribute and name it is read from: ("headers", "Wethod-Company")."""
    place, _, name = source.partition(":")
    if place not in CALL_ATTRIBUTES or not name:
        raise SpecError(f"{where}: {source!r} is not query:NAME, body:NAME, header:NAME or path:NAME")
    return CALL_ATTRIBUTES[place], name


def parse_scope(raw: dict[str, Any] | None, where: str) -> Scope | None:
    if raw is None:
        return None
    sources = raw["from"] if isinstance(raw["from"], list) else [raw["from"]]
    return Scope(
        collection=raw["collection"],
        field=raw["field"],
        sources=tuple(request_source(source, where) for source in sources),
        grant=raw.get("grant"),
        internal=bool(raw.get("internal", False)),
        unknown=Refusal.parse(raw.get("unknown"), ErrorKind.NOT_FOUND, "Unknown {scope}."),
        denied=Refusal.parse(raw.get("denied"), ErrorKind.FORBIDDEN, "No access to {scope}."),
        denied_first=bool(raw.get("denied-first", False)),
    )


def parse_order(raw: Any) -> tuple[tuple[str, bool], ...]:
    terms = raw if isinstance(raw, list) else [raw or "id"]
    return tuple((term.lstrip("-"), term.startswith("-")) for term in terms)


def parse_filter(param: str, raw: dict[str, Any] | str) -> Filter:
    if isinstance(raw, str):
        raw = {"match": raw}
    values = raw.get("values") or {}
    return Filter(
        param=param,
        field=raw.get("field", param),
        match=choice(raw.get("match", "equals"), MATCHES, f"filter {param}.match"),
        type=raw.get("type", "string"),
        values={str(k).lower(): v for k, v in values.items()},
        fields=tuple(raw.get("fields", ())),
        booleans=tuple(raw.get("booleans", ())),
        case_insensitive=bool(raw.get("case-insensitive", False)),
        default=raw.get("default"),
        unknown=Refusal.parse(raw["unknown"], ErrorKind.INVALID, "{value}") if "unknown" in raw else None,
    )


def parse_sorting(raw: dict[str, Any] | None) -> Sorting | None:
    if raw is None:
        return None
    return Sorting(
        param=raw.get("param", "sort"),
        grammar=raw.get("grammar", "space"),
        fields={name.lower(): name for name in raw["fields"]},
        unknown=raw.get("unknown", "refuse"),
        nulls=raw.get("nulls", "first"),
        dates=frozenset(raw.get("dates", ())),
    )


def parse_states(raw: dict[str, Any] | None, where: str) -> StateMachine | None:
    if raw is None:
        return None
    transitions = {}
    for operation_id, body in (raw.get("transitions") or {}).items():
        body = body or {}
        sources = body.get("from", [])
        transitions[operation_id] = Transition(
            operation=operation_id,
            sources=frozenset([sources] if isinstance(sources, str) else sources),
            target=body.get("to"),
            requirement=body.get("requirement", f"{operation_id} is not allowed"),
            sets=dict(body.get("set") or {}),
            from_body=tuple(body.get("from-body", ())),
            permission=body.get("permission"),
        )
    return StateMachine(
        field=raw.get("field", "status"),
        initial=raw.get("initial"),
        refused=Refusal.parse(raw.get("refused"), ErrorKind.CONFLICT, "{requirement}"),
        transitions=transitions,
    )


def parse_resource(name: str, raw: dict[str, Any], declaration: Declaration, where: str) -> Resource:
    roles: dict[str, str] = {}
    options: dict[str, Options] = {}
    for operation_id, body in (raw.get("operations") or {}).items():
        body = {"role": body} if isinstance(body, str) else body
        roles[operation_id] = choice(body.get("role"), ROLES, f"{where}.operations.{operation_id}")
        options[operation_id] = parse_options(body, name)
    # A parent's field is a partition of the list index, so a parent's records are one lookup away.
    declared_partitions = tuple(raw.get("partitions", ()))
    parents = tuple(o.parent.field for o in options.values() if o.parent and o.parent.field not in declared_partitions)
    timestamps = raw.get("timestamps") or {}
    scoped = bool(raw.get("scoped", declaration.scope is not None))
    hidden = set(raw.get("hidden", ()))
    if scoped and declaration.scope is not None and declaration.scope.internal:
        hidden.add(declaration.scope.field)
    references = tuple(
        Reference(
            field=field_name,
            resource=body["resource"],
            missing=Refusal.parse(
                body.get("missing"), ErrorKind.INVALID, f"{field_name} {{value}} does not name a {body['resource']}."
            ),
            nullable=bool(body.get("nullable", True)),
        )
        for field_name, body in (raw.get("references") or {}).items()
    )
    return Resource(
        name=name,
        id_style=choice(raw.get("id", "integer"), ID_STYLES, f"{where}.id"),
        schema=raw.get("schema"),
        fixture_schema=raw.get("fixtures", raw.get("schema")),
        created=timestamps.get("created"),
        updated=timestamps.get("updated"),
        touch=timestamps.get("touch") == "always",
        order=parse_order(raw.get("order")),
        partitions=declared_partitions + tuple(dict.fromkeys(parents)),
        filters=tuple(parse_filter(param, body) for param, body in (raw.get("filters") or {}).items()),
        sorting=parse_sorting(raw.get("sort")),
        references=references,
        hidden=frozenset(hidden),
        not_found=Refusal.parse(raw.get("not-found"), ErrorKind.NOT_FOUND, f"{name} {{id}} not found."),
        roles=roles,
        states=parse_states(raw.get("states"), where),
        scoped=scoped,
        defaults=dict(raw.get("defaults") or {}),
        optional=frozenset(raw.get("optional", ())),
        options=options,
        keys={
            field_name: Key(
                field=field_name,
                case_insensitive=bool((body or {}).get("case-insensitive", False)),
                duplicate=Refusal.parse((body or {})["duplicate"], ErrorKind.CONFLICT, "")
                if (body or {}).get("duplicate")
                else None,
            )
            for field_name, body in (raw.get("keys") or {}).items()
        },
        retention=Retention(raw["retention"]["field"], int(raw["retention"]["days"])) if "retention" in raw else None,
    )


def parse_options(raw: dict[str, Any], resource: str) -> Options:
    parent = raw.get("parent")
    return Options(
        by=raw.get("by"),
        param=raw.get("param", raw.get("by")),
        parent=Parent(parent["resource"], parent["field"], parent.get("param", "id")) if parent else None,
        paging=raw.get("paging"),
        not_found=Refusal.parse(raw["not-found"], ErrorKind.NOT_FOUND, "") if "not-found" in raw else None,
    )

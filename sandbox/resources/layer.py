"""The resource layer: generic handlers for the operations a spec's `x-sandbox` block declares.

`Resources` is built once per provider from its spec. For an operation
declared with a role (list, retrieve, create, update, delete, action) and no
handler of the provider's own, the engine calls `Resources.handle`, which:

1. finds the scope the call acts in (and refuses an unknown or forbidden one),
2. finds the record (retrieve, update, delete, action) or refuses with the
   resource's `not-found`,
3. checks the state machine's transition for the operation (a refused one
   answers the declared error and changes nothing),
4. builds the new record (body fields, defaults, ids, timestamps from the
   tenant clock, transition target and `set` fields), checks references,
5. calls the provider's hooks (`@hook(resource, "write")` and friends) for the
   business rules no table can say,
6. writes through the store (so the request is all-or-nothing) and answers the
   record as the wire shows it, with the provider's paging conventions for lists.

A provider's own handlers use the same pieces (`find`, `save`, `present`,
`page`) through `call.resources`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.clock import iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.reply import Reply
from sandbox.resources import fixture_rules
from sandbox.resources.declaration import Declaration, Resource, load_declaration
from sandbox.resources.fields import Selection, parse_selection, select
from sandbox.resources.keys import KeyIndex, key_value
from sandbox.resources.listing import Listing
from sandbox.spec import Spec
from sandbox.store import Record, Store, same, thaw
from sandbox.uuids import uuid5_text

Hook = Callable[..., Any]
ABSENT = object()  # what a record holds for a field it does not have


class Resources(Listing):
    """One provider's declared resources, and the generic behaviour they get."""

    def __init__(self, spec: Spec, hooks: dict[tuple[str, str], Hook] | None = None, owner: Any = None) -> None:
        self.spec = spec
        self.declaration: Declaration = load_declaration(spec)
        self.hooks = hooks or {}
        self.owner = owner  # the provider instance hooks are bound to
        self._namespace = uuid.UUID(self.declaration.uuid_namespace)
        self._success: dict[str, int] = {}
        self._bound_hooks = {key: function.__get__(owner) for key, function in self.hooks.items()}
        # Per resource: a plain copy of a record without the fields shown only when a sparse selection asks.
        self._plain = {name: copier(tuple(r.hidden | r.optional)) for name, r in self.declaration.resources.items()}
        self._last_instant: Any = None
        self._last_stamp: Any = None
        self._roles = {
            "list": self._list,
            "retrieve": self._retrieve,
            "create": self._create,
            "update": self._update,
            "delete": self._delete,
            "action": self._action,
        }
        self._schemas = {
            name: (spec.component_schema(resource.schema).get("properties") or {}) if resource.schema else {}
            for name, resource in self.declaration.resources.items()
        }
        self._properties = {name: list(schema) for name, schema in self._schemas.items()}
        # The fields a sparse selection may name, with the nested fields of those that are objects.
        self._selectable = {
            name: {field: nested_properties(prop) for field, prop in schema.items()}
            for name, schema in self._schemas.items()
        }
        self._fillers = {
            name: fixture_rules.fillers(resource, self._schemas[name])
            for name, resource in self.declaration.resources.items()
        }

    # -- fixtures -------------------------------------------------------------

    def fixture_schemas(self) -> dict[str, str]:
        """Each declared resource's fixture schema, by collection."""
        return {
            name: resource.fixture_schema
            for name, resource in self.declaration.resources.items()
            if resource.fixture_schema is not None
        }

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        """Fixture records whose scope, references or alternate keys break the declarations."""
        return fixture_rules.problems(self.declaration, fixtures, store)

    def coerce(self, resource: Resource, name: str, value: Any) -> Any:
        """A body value as the field stores it: JSON Schema counts 1.0 as an integer, so store it as 1."""
        schema = self._schemas[resource.name].get(name)
        if isinstance(value, float) and value.is_integer() and "integer" in types_of(schema):
            return int(value)
        return value

    # -- dispatch -----------------------------------------------------------

    def resource(self, name: str) -> Resource:
        return self.declaration.resources[name]

    def handle(self, call: Any) -> Reply:
        resource, role = self.declaration.operations[call.operation.operation_id]
        return self._roles[role](call, resource)

    def hook(self, resource: Resource, point: str) -> Hook | None:
        """The provider's hook for a point of a resource, bound to the provider (None: there is none)."""
        return self._bound_hooks.get((resource.name, point))

    # -- time and ids ---------------------------------------------------------

    def timestamp(self, call: Any) -> Any:
        """Now on the tenant clock in the provider's timestamp format."""
        instant = call.clock_now
        if instant is not self._last_instant:  # a request stamps several fields with the same instant
            self._last_instant, self._last_stamp = instant, format_time(instant, self.declaration.timestamps)
        return self._last_stamp

    def new_id(self, store: Store, resource: Resource) -> Any:
        while True:
            number = store.next_id(resource.name)
            if resource.id_style == "integer":
                candidate: Any = number
            elif resource.id_style == "string-sequence":
                candidate = str(number)
            else:
                candidate = uuid5_text(self._namespace, f"{resource.name}:{number}")
            if store.get(resource.name, candidate) is None:
                return candidate

    # -- scope and lookup -----------------------------------------------------

    def scope_value(self, call: Any) -> str | None:
        """The scope (company, administration) the call names, checked: it exists and the token may use it."""
        scope = self.declaration.scope
        if scope is None:
            return None
        value = request_value(call, scope.sources)
        if value is None:
            return None
        store = call.records
        grant = call.grant or {}
        allowed = grant.get(scope.grant) if scope.grant else None
        denied = allowed is not None and value not in allowed
        if denied and scope.denied_first:
            raise scope.denied.error(scope=value, reachable=reachable(store, scope.collection, allowed))
        if store.get(scope.collection, value) is None:
            raise scope.unknown.error(scope=value, reachable=reachable(store, scope.collection, allowed))
        if denied:
            raise scope.denied.error(scope=value, reachable=reachable(store, scope.collection, allowed))
        return value

    def lookup(self, call: Any, resource: Resource, key: Any, scope: str | None = None) -> Record | None:
        """A record by id within the call's scope, or None."""
        if isinstance(key, float) and key.is_integer():
            key = int(key)  # a JSON number such as 5.0 names record 5
        text = str(key)
        if resource.id_style == "integer" and text.isdigit():
            text = text.lstrip("0") or "0"
        elif resource.id_style == "uuid":
            text = text.lower()
        record = call.records.get(resource.name, text)
        if record is None:
            return None
        scope_field = self.declaration.scope.field if self.declaration.scope is not None else None
        if resource.scoped and scope_field is not None and scope is not None and record.get(scope_field) != scope:
            return None
        return record

    def find(self, call: Any, resource: Resource | str | None = None, key: Any = None) -> Record:
        """The record the call's path names (or `key`), in the call's scope; the resource's not-found otherwise."""
        resource = self._resource_of(call, resource)
        scope = self.scope_value(call) if resource.scoped else None
        key = call.path.get("id") if key is None else key
        record = self.lookup(call, resource, key, scope)
        if record is None:
            raise resource.not_found.error(id=short(str(key)), scope=scope)
        return record

    def _resource_of(self, call: Any, resource: Resource | str | None) -> Resource:
        if resource is None:
            return self.declaration.operations[call.operation.operation_id][0]
        if type(resource) is str:
            return self.declaration.resources[resource]
        return resource  # type: ignore[return-value]

    # -- presenting -----------------------------------------------------------

    def present(self, call: Any, resource: Resource | str, record: Record, selection: Selection | None = None) -> Any:
        """A record as the wire shows it: the provider's `present` hook, hidden fields dropped, fields selected."""
        resource = self._resource_of(call, resource)
        if selection is not None:
            return select(record, selection, resource.hidden, resource.defaults, self.declaration.omit_absent)
        shown_hook = self._bound_hooks.get((resource.name, "present"))
        if shown_hook is not None:
            return shown_hook(call, record)
        return self._plain[resource.name](record)

    def presenter(
        self, call: Any, resource: Resource | str | None, selection: Selection | None = None
    ) -> Callable[[Record], Any]:
        """`present` for many records of one call (a list page): what to do is decided once."""
        resource = self._resource_of(call, resource)
        if selection is not None:
            hidden, defaults, omit = resource.hidden, resource.defaults, self.declaration.omit_absent
            return lambda record: select(record, selection, hidden, defaults, omit)
        shown_hook = self.hook(resource, "present")
        if shown_hook is not None:
            return lambda record: shown_hook(call, record)
        return self._plain[resource.name]

    def selection(self, call: Any, resource: Resource | str | None = None) -> Selection | None:
        """The fields the call's sparse-fields parameter chooses (None: the default fields)."""
        sparse = self.declaration.sparse_fields
        if sparse is None:
            return None
        raw = request_value(call, sparse.sources)
        if raw is None:
            return None
        return parse_selection(raw, self._selectable[self._resource_of(call, resource).name])

    def with_defaults(self, collection: str, record: Record) -> Record:
        """A fixture record with what it leaves out filled in (see `fixture_rules.with_defaults`)."""
        defaults = self._fillers.get(collection)
        return record if defaults is None else fixture_rules.with_defaults(record, defaults)

    # -- writing --------------------------------------------------------------

    def save(self, call: Any, resource: Resource | str, record: Record, changes: dict[str, Any]) -> Record:
        """Apply changes to a stored record; only a real change moves its updated timestamp."""
        resource = self._resource_of(call, resource)
        changed = {}
        for name, value in changes.items():
            current = record.get(name, ABSENT)
            if current != value or isinstance(current, bool) != isinstance(value, bool):  # `same`, inlined
                changed[name] = value
        if not changed and not resource.touch:
            return record
        if resource.updated:
            changed[resource.updated] = self.timestamp(call)
        stored = call.records.update(resource.name, store_key(record), changed)
        self.written(call, resource, record, stored)
        return stored

    def written(self, call: Any, resource: Resource, old: Record | None, new: Record | None) -> None:
        """Tell the provider's `written` hook (events) of a record created, changed or deleted."""
        hook = self._bound_hooks.get((resource.name, "written"))
        if hook is not None:
            hook(call, old, new)

    def check_references(self, call: Any, resource: Resource, draft: Record, old: Record | None) -> None:
        scope = draft.get(self.declaration.scope.field) if self.declaration.scope and resource.scoped else None
        for reference in resource.references:
            value = draft.get(reference.field)
            if value is None or (old is not None and same(old.get(reference.field), value)):
                continue
            target = self.declaration.resources.get(reference.resource)
            found = (
                self.lookup(call, target, value, scope)
                if target is not None
                else call.records.get(reference.resource, value)
            )
            if found is None:
                raise reference.missing.error(value=value, scope=scope, field=reference.field)

    def check_transition(self, call: Any, resource: Resource, record: Record) -> None:
        machine = resource.states
        if machine is None:
            return
        transition = machine.transitions.get(call.operation.operation_id)
        if transition is None or not transition.sources or record.get(machine.field) in transition.sources:
            return
        if transition.permission:  # it lets its holder do the operation from any state; without it, 403
            if has_permission(call, transition.permission, getattr(self.owner, "grant_field", "scopes")):
                return
            raise ApiError(ErrorKind.FORBIDDEN, f"Missing permission: {transition.permission}")
        raise machine.refused.error(
            id=record.get("id"),
            state=record.get(machine.field),
            requirement=transition.requirement,
        )

    # -- generic handlers -----------------------------------------------------

    def _retrieve(self, call: Any, resource: Resource) -> Reply:
        selection = self.selection(call, resource)
        options = resource.options.get(call.operation.operation_id)
        if options is None or options.by is None:
            return Reply(self.present(call, resource, self.find(call, resource), selection))
        value = call.path[options.param or options.by]
        record = self.by_key(call.records, resource, options.by, value)
        if record is None:
            raise (options.not_found or resource.not_found).error(id=short(str(value)), value=value)
        return Reply(self.present(call, resource, record, selection))

    # -- alternate keys -------------------------------------------------------

    def by_key(self, store: Store, resource: Resource, field: str, value: Any) -> Record | None:
        """The record whose alternate key `field` is `value` (see the resource's `keys`)."""
        key = resource.keys[field]
        found = self.key_index(store, resource, field).get(key_value(key, value))
        return None if found is None else store.get(resource.name, found)

    def key_index(self, store: Store, resource: Resource, field: str) -> KeyIndex:
        key = resource.keys[field]
        return store.derived(
            f"key:{resource.name}:{field}",
            lambda store: KeyIndex(store.collection(resource.name), key),
            watches=(resource.name,),
        )

    def check_keys(self, store: Store, resource: Resource, draft: Record, old: Record | None) -> None:
        """Refuse a record whose alternate key another record already holds (the key's `duplicate`)."""
        for field, key in resource.keys.items():
            value = draft.get(field)
            if key.duplicate is None or value is None or (old is not None and same(old.get(field), value)):
                continue
            owner = self.key_index(store, resource, field).get(key_value(key, value))
            if owner is not None and owner != store_key(draft):
                raise key.duplicate.error(value=value, field=field)

    def _create(self, call: Any, resource: Resource) -> Reply:
        store = call.records
        scope = self.scope_value(call) if resource.scoped else None
        body = call.body or {}
        now = self.timestamp(call)
        draft: Record = {}
        if scope is not None and self.declaration.scope is not None:
            draft[self.declaration.scope.field] = scope
        for name in self._properties[resource.name] or ["id"]:
            if name == "id":
                draft["id"] = None
            elif name in (resource.created, resource.updated):
                draft[name] = now
            elif resource.states is not None and name == resource.states.field and resource.states.initial:
                draft[name] = resource.states.initial
            elif name in body:
                draft[name] = self.coerce(resource, name, body[name])
            elif name in resource.defaults or not self.declaration.omit_absent:
                draft[name] = thaw(resource.defaults.get(name))
        self.check_references(call, resource, draft, None)
        write = self.hook(resource, "write")
        if write is not None:
            write(call, None, draft)
        if draft.get("id") is None:
            draft["id"] = self.new_id(store, resource)
        self.check_keys(store, resource, draft, None)
        stored = store.insert(resource.name, draft)
        self.written(call, resource, None, stored)
        return Reply(self.present(call, resource, stored), self.success_status(call))

    def _update(self, call: Any, resource: Resource) -> Reply:
        record = self.find(call, resource)
        self.check_transition(call, resource, record)
        draft = dict(record)
        for name, value in (call.body or {}).items():
            if name in self._properties[resource.name]:
                draft[name] = self.coerce(resource, name, value)
        self.check_references(call, resource, draft, record)
        return self._write(call, resource, record, draft)

    def _action(self, call: Any, resource: Resource) -> Reply:
        record = self.find(call, resource)
        self.check_transition(call, resource, record)
        draft = dict(record)
        machine = resource.states
        transition = machine.transitions.get(call.operation.operation_id) if machine else None
        if transition is not None and machine is not None:
            if transition.target is not None:
                draft[machine.field] = transition.target
            draft.update(thaw(transition.sets))
            body = call.body or {}
            for name in transition.from_body:
                if name in body:
                    draft[name] = body[name]
        return self._write(call, resource, record, draft)

    def _write(self, call: Any, resource: Resource, record: Record, draft: Record) -> Reply:
        write = self.hook(resource, "write")
        if write is not None:
            write(call, record, draft)
        self.check_keys(call.records, resource, draft, record)
        changes = {}
        for name, value in draft.items():
            current = record.get(name, ABSENT)
            if current != value or isinstance(current, bool) != isinstance(value, bool):  # `same`, inlined
                changes[name] = value
        stored = self.save(call, resource, record, changes) if changes or resource.touch else record
        return Reply(self.present(call, resource, stored), self.success_status(call))

    def _delete(self, call: Any, resource: Resource) -> Reply:
        record = self.find(call, resource)
        self.check_transition(call, resource, record)
        write = self.hook(resource, "write")
        if write is not None:
            write(call, record, None)
        call.records.remove(resource.name, store_key(record))
        self.written(call, resource, record, None)
        status = self.success_status(call)
        return Reply(None, status)

    def success_status(self, call: Any) -> int:
        """The operation's success status: the lowest 2xx its spec documents."""
        operation = call.operation
        status = self._success.get(operation.operation_id)
        if status is None:
            codes = [int(code) for code in operation.responses if code.isdigit() and code.startswith("2")]
            status = self._success[operation.operation_id] = min(codes) if codes else 200
        return status


def format_time(instant: datetime, style: str) -> Any:
    if style == "unix":
        return int(instant.timestamp())
    if style == "iso8601-ms":
        t = instant.astimezone(UTC)
        return (
            f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
            f".{t.microsecond // 1000:03d}Z"
        )
    return iso8601(instant)


def copier(dropped: tuple[str, ...]) -> Callable[[Record], Record]:
    """A function giving a record as the wire shows it, without some fields (run for every record of a page).

    A stored record is read-only, so one that holds none of those fields is shown as it is, uncopied.
    """
    if not dropped:
        return lambda record: record
    if len(dropped) == 1:
        (only,) = dropped

        def without_one(record: Record) -> Record:
            if only not in record:
                return record
            shown = {**record}  # from a FrozenRecord, faster than dict(record)
            del shown[only]
            return shown

        return without_one

    def without_some(record: Record) -> Record:
        if not any(name in record for name in dropped):
            return record
        shown = {**record}  # a copy in C, then a few pops: faster than a comprehension
        for name in dropped:
            shown.pop(name, None)
        return shown

    return without_some


def request_value(call: Any, sources: tuple[tuple[str, str], ...]) -> Any:
    """The first value the call carries of (its attribute, name) pairs: ("query", "x"), ("body", "x"), ..."""
    for attribute, name in sources:
        container = getattr(call, attribute)
        if isinstance(container, dict) and name in container:
            return container[name]
    return None


def reachable(store: Store, collection: str, allowed: list[str] | None) -> str:
    keys = [key for key in store.collection(collection) if allowed is None or key in allowed]
    return ", ".join(keys) or "none"


def has_permission(call: Any, permission: str, grant_field: str) -> bool:
    """Whether the call's token may do `permission` (a token without a fixture grant may do anything)."""
    grant = call.grant
    return grant is None or grant_field not in grant or permission in grant[grant_field]


def types_of(schema: dict[str, Any] | None) -> list[str]:
    kind = (schema or {}).get("type")
    return [kind] if isinstance(kind, str) else list(kind or [])


def short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def store_key(record: Record) -> str:
    return str(record["id"])


def nested_properties(prop: dict[str, Any]) -> set[str] | None:
    for candidate in [prop, prop.get("items") or {}, *(prop.get("oneOf") or []), *(prop.get("anyOf") or [])]:
        if isinstance(candidate, dict) and candidate.get("properties"):
            return set(candidate["properties"])
        items = candidate.get("items") if isinstance(candidate, dict) else None
        if isinstance(items, dict) and items.get("properties"):
            return set(items["properties"])
    return None

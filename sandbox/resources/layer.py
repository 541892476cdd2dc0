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

import bisect
import heapq
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from sandbox.clock import iso8601, parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.reply import Reply
from sandbox.resources import operators
from sandbox.resources.declaration import Declaration, Filter, Key, Options, Refusal, Resource, load_declaration
from sandbox.resources.fields import Selection, parse_selection, select
from sandbox.resources.indexes import Group, ListIndex
from sandbox.spec import Spec
from sandbox.store import Record, Store, same, thaw

Hook = Callable[..., Any]


class Resources:
    """One provider's declared resources, and the generic behaviour they get."""

    def __init__(self, spec: Spec, hooks: dict[tuple[str, str], Hook] | None = None, owner: Any = None) -> None:
        self.spec = spec
        self.declaration: Declaration = load_declaration(spec)
        self.hooks = hooks or {}
        self.owner = owner  # the provider instance hooks are bound to
        self._namespace = uuid.UUID(self.declaration.uuid_namespace)
        self._operations = {op.operation_id: op for op in spec.operations}
        self._schemas = {
            name: (spec.component_schema(resource.schema).get("properties") or {}) if resource.schema else {}
            for name, resource in self.declaration.resources.items()
        }
        self._properties = {name: list(schema) for name, schema in self._schemas.items()}

    # -- fixtures -------------------------------------------------------------

    def fixture_schemas(self) -> dict[str, str]:
        """Each declared resource's fixture schema, by collection."""
        return {
            name: resource.fixture_schema
            for name, resource in self.declaration.resources.items()
            if resource.fixture_schema is not None
        }

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        """Records whose scope or declared references name nothing (in the fixtures or the live store)."""
        scope = self.declaration.scope
        problems: list[str] = []
        for collection, records in fixtures.items():
            resource = self.declaration.resources.get(collection)
            if resource is None:
                continue
            for index, record in enumerate(records or []):
                where = f"{collection}[{index}] (id={record.get('id')!r})"
                scope_key = record.get(scope.field) if scope is not None and resource.scoped else None
                if (
                    scope is not None
                    and resource.scoped
                    and known(fixtures, store, scope.collection, scope_key) is None
                ):
                    problems.append(f"{where}: field '{scope.field}': no {singular(scope.collection)} {scope_key!r}")
                    continue
                for reference in resource.references:
                    value = record.get(reference.field)
                    if value is None:
                        continue
                    target = known(fixtures, store, reference.resource, value)
                    if target is None or (
                        scope is not None and scope_key is not None and target.get(scope.field) != scope_key
                    ):
                        within = f" in {singular(scope.collection)} {scope_key!r}" if scope and scope_key else ""
                        problems.append(
                            f"{where}: field '{reference.field}': no {singular(reference.resource)} {value!r}{within}"
                        )
            problems.extend(duplicate_keys(collection, resource, records or [], store))
        return problems

    def coerce(self, resource: Resource, name: str, value: Any) -> Any:
        """A body value as the field stores it: JSON Schema counts 1.0 as an integer, so store it as 1."""
        schema = self._schemas[resource.name].get(name)
        if isinstance(value, float) and value.is_integer() and "integer" in types_of(schema):
            return int(value)
        return value

    # -- dispatch -----------------------------------------------------------

    def serves(self, operation_id: str) -> bool:
        return operation_id in self.declaration.operations

    def resource(self, name: str) -> Resource:
        return self.declaration.resources[name]

    def handle(self, call: Any) -> Reply:
        resource, role = self.declaration.operations[call.operation.operation_id]
        handler = getattr(self, f"_{role}")
        return handler(call, resource)

    def hook(self, resource: Resource, point: str) -> Hook | None:
        found = self.hooks.get((resource.name, point))
        return None if found is None else found.__get__(self.owner)

    # -- time and ids ---------------------------------------------------------

    def timestamp(self, call: Any) -> Any:
        """Now on the tenant clock in the provider's timestamp format."""
        return format_time(call.clock_now, self.declaration.timestamps)

    def new_id(self, store: Store, resource: Resource) -> Any:
        while True:
            number = store.next_id(resource.name)
            if resource.id_style == "integer":
                candidate: Any = number
            elif resource.id_style == "string-sequence":
                candidate = str(number)
            else:
                candidate = str(uuid.uuid5(self._namespace, f"{resource.name}:{number}"))
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
        variables = {"scope": value, "reachable": reachable(store, scope.collection, allowed)}
        if scope.denied_first and allowed is not None and value not in allowed:
            raise refusal(scope.denied, **variables)
        if store.get(scope.collection, value) is None:
            raise refusal(scope.unknown, **variables)
        if allowed is not None and value not in allowed:
            raise refusal(scope.denied, **variables)
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
            raise refusal(resource.not_found, id=short(str(key)), scope=scope)
        return record

    def _resource_of(self, call: Any, resource: Resource | str | None) -> Resource:
        if isinstance(resource, Resource):
            return resource
        if isinstance(resource, str):
            return self.declaration.resources[resource]
        return self.declaration.operations[call.operation.operation_id][0]

    # -- presenting -----------------------------------------------------------

    def present(self, call: Any, resource: Resource | str, record: Record, selection: Selection | None = None) -> Any:
        """A record as the wire shows it: the provider's `present` hook, hidden fields dropped, fields selected."""
        resource = self._resource_of(call, resource)
        shown_hook = self.hook(resource, "present")
        if shown_hook is not None:
            shown = shown_hook(call, record)
        elif resource.hidden or resource.optional:
            shown = {k: v for k, v in record.items() if k not in resource.hidden and k not in resource.optional}
        else:
            shown = dict(record)
        if selection is not None:
            return select(record, selection, resource.hidden)
        return shown

    def selection(self, call: Any, resource: Resource | str | None = None) -> Selection | None:
        """The fields the call's sparse-fields parameter chooses (None: the default fields)."""
        sparse = self.declaration.sparse_fields
        if sparse is None:
            return None
        raw = request_value(call, sparse.sources)
        if raw is None:
            return None
        return parse_selection(raw, self._selectable(self._resource_of(call, resource)))

    def _selectable(self, resource: Resource) -> dict[str, set[str] | None]:
        schema = self.spec.component_schema(resource.schema) if resource.schema else {}
        fields: dict[str, set[str] | None] = {}
        for name, prop in (schema.get("properties") or {}).items():
            fields[name] = nested_properties(prop)
        return fields

    def with_defaults(self, collection: str, record: Record) -> Record:
        """A fixture record of a declared resource with the fields it leaves out: the declared `defaults`,
        else null where the wire schema allows it (in the schema's property order, after the given fields)."""
        resource = self.declaration.resources.get(collection)
        if resource is None:
            return record
        filled = dict(record)
        schema = self.spec.component_schema(resource.schema) if resource.schema else {}
        for name, prop in (schema.get("properties") or {}).items():
            if name in filled:
                continue
            if name in resource.defaults:
                filled[name] = thaw(resource.defaults[name])
            elif nullable(prop):
                filled[name] = None
        return filled

    # -- writing --------------------------------------------------------------

    def save(self, call: Any, resource: Resource | str, record: Record, changes: dict[str, Any]) -> Record:
        """Apply changes to a stored record; only a real change moves its updated timestamp."""
        resource = self._resource_of(call, resource)
        unchanged = all(field in record and same(record[field], value) for field, value in changes.items())
        if unchanged and not resource.touch:
            return record
        if resource.updated:
            changes = {**changes, resource.updated: self.timestamp(call)}
        return call.records.update(resource.name, store_key(record), changes)

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
                raise refusal(reference.missing, value=value, scope=scope, field=reference.field)

    def check_transition(self, call: Any, resource: Resource, record: Record) -> None:
        machine = resource.states
        if machine is None:
            return
        transition = machine.transitions.get(call.operation.operation_id)
        if transition is None or not transition.sources or record.get(machine.field) in transition.sources:
            return
        grant_field = getattr(self.owner, "grant_field", "scopes")
        if transition.permission and not has_permission(call, transition.permission, grant_field):
            raise ApiError(ErrorKind.FORBIDDEN, f"Missing permission: {transition.permission}")
        raise refusal(
            machine.refused,
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
            raise refusal(options.not_found or resource.not_found, id=short(str(value)), value=value)
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
                raise refusal(key.duplicate, value=value, field=field)

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
            else:
                draft[name] = thaw(resource.defaults.get(name))
        self.check_references(call, resource, draft, None)
        write = self.hook(resource, "write")
        if write is not None:
            write(call, None, draft)
        if draft.get("id") is None:
            draft["id"] = self.new_id(store, resource)
        self.check_keys(store, resource, draft, None)
        stored = store.insert(resource.name, draft)
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
        changes = {name: value for name, value in draft.items() if name not in record or not same(record[name], value)}
        stored = self.save(call, resource, record, changes) if changes or resource.touch else record
        return Reply(self.present(call, resource, stored), self.success_status(call))

    def _delete(self, call: Any, resource: Resource) -> Reply:
        record = self.find(call, resource)
        self.check_transition(call, resource, record)
        write = self.hook(resource, "write")
        if write is not None:
            write(call, record, None)
        call.records.remove(resource.name, store_key(record))
        status = self.success_status(call)
        return Reply(None, status)

    def success_status(self, call: Any) -> int:
        codes = [int(code) for code in call.operation.responses if code.isdigit() and code.startswith("2")]
        return min(codes) if codes else 200

    # -- lists ------------------------------------------------------------------

    def _list(self, call: Any, resource: Resource) -> Reply:
        options = resource.options.get(call.operation.operation_id) or Options()
        if options.parent is None:
            return self.page(call, resource, style=options.paging)
        parent = self.find(call, options.parent.resource, call.path[options.parent.param])
        return self.page(call, resource, style=options.paging, within={options.parent.field: parent["id"]})

    def index(self, store: Store, resource: Resource) -> ListIndex:
        scope = self.declaration.scope
        group_fields = ((scope.field,) if scope is not None and resource.scoped else ()) + resource.partitions
        filter_fields = {f.field: f.type for f in resource.filters if f.match == "operators"}
        order_key = order_key_of(resource)

        def build(store: Store) -> ListIndex:
            return ListIndex(store.collection(resource.name).values(), group_fields, filter_fields, order_key)

        return store.derived(f"list:{resource.name}", build, watches=(resource.name,))

    def page(
        self,
        call: Any,
        resource: Resource | str | None = None,
        style: str | None = None,
        within: dict[str, Any] | None = None,
    ) -> Reply:
        """One page of a resource's list, filtered, sorted and paged as the provider does it.

        `style` overrides the provider's paging style; `within` keeps only records
        whose (partition) fields hold these values (a parent's children).
        """
        resource = self._resource_of(call, resource)
        store = call.records
        query = call.query
        scope = self.scope_value(call) if resource.scoped else None
        selection = self.selection(call, resource)
        index = self.index(store, resource)
        operator_filters = operators.parse_filters(
            query, {f.param: f.type for f in resource.filters if f.match == "operators"}
        )
        operator_filters = [
            operators.Filter(self._filter_field(resource, c.field), c.operator, c.operands) for c in operator_filters
        ]
        wanted: dict[str, set[Any] | None] = {name: {value} for name, value in (within or {}).items()}
        residual: list[Callable[[Record], bool]] = []
        for spec_filter in resource.filters:
            if spec_filter.match == "operators":
                continue
            values = filter_values(spec_filter, query)
            if values is None:
                continue
            if spec_filter.field in resource.partitions and spec_filter.match in ("equals", "one-of"):
                wanted[spec_filter.field] = values
            else:
                residual.append(matcher(spec_filter, values))
        groups = self._groups(index, resource, scope, wanted)
        present_hook = self.hook(resource, "present")
        records = store.collection(resource.name)
        key_of = store_key_of(resource)
        order = sort_terms(resource, query)

        def shown(record: Record) -> Any:
            return self.present(call, resource, record, selection)

        paging = self.declaration.paging
        style = style or paging.style
        kinds = {f.field: f.type for f in resource.filters if f.match == "operators"}

        def keep(record: Record) -> bool:
            return all(test(record) for test in residual) and passes(operator_filters, kinds, record)

        if order or (residual and present_hook is not None):
            # Filters and sorting see records as shown (with the fields a hook computes, such as a status).
            view = [present_hook(call, r) if present_hook else r for r in self._candidates(groups, records, key_of)]
            matching = [r for r in view if keep(r)]
            sort_records(matching, order, resource)
            size, start = self._page_window(call)
            window = matching[start : start + size]
            items = window if present_hook else [shown(r) for r in window]
            return self._paged(call, resource, items, len(matching), style)
        if style == "none":
            return Reply([shown(r) for r in self._candidates(groups, records, key_of) if keep(r)])
        if style == "offset-limit":
            offset, limit = query.get(paging.position, 0), query.get(paging.size, paging.default_size)
            if len(groups) == 1 and not residual:
                keys = groups[0].select(operator_filters, offset, limit)
                return Reply([shown(records[key_of(k)]) for k in keys])
            matches = (r for r in self._candidates(groups, records, key_of) if keep(r))
            return Reply([shown(r) for r in islice(matches, offset, offset + limit)])
        if style == "cursor":
            start_key = self._cursor_start(call, resource, scope)
            size = query.get(paging.size, paging.default_size)
            matches = (r for r in self._candidates(groups, records, key_of, start_key) if keep(r))
            chosen = list(islice(matches, size + 1))
            body: dict[str, Any] = {paging.items or "data": [shown(r) for r in chosen[:size]]}
            if len(chosen) > size:
                body["pagination"] = {paging.position: str(chosen[size - 1]["id"])}
            return Reply(body)
        size, start = self._page_window(call)
        if not residual and not operator_filters:
            total = sum(len(group) for group in groups)
            window = list(islice(self._candidates(groups, records, key_of, skip=start), size))
        else:
            matching = [r for r in self._candidates(groups, records, key_of) if keep(r)]
            total, window = len(matching), matching[start : start + size]
        return self._paged(call, resource, [shown(r) for r in window], total, style)

    def _filter_field(self, resource: Resource, param: str) -> str:
        return next(f.field for f in resource.filters if f.param == param)

    def _groups(
        self, index: ListIndex, resource: Resource, scope: str | None, wanted: dict[str, set[Any] | None]
    ) -> list[Group]:
        scoped = self.declaration.scope is not None and resource.scoped
        if not wanted and not resource.partitions:
            return [index.group((scope,) if scoped else ())]
        chosen = []
        for key, group in index.groups.items():
            values = key[1:] if scoped else key
            if scoped and key[0] != scope:
                continue
            if all(
                wanted.get(field) is None or value in wanted[field]  # type: ignore[operator]
                for field, value in zip(resource.partitions, values, strict=True)
            ):
                chosen.append(group)
        return chosen

    @staticmethod
    def _candidates(
        groups: list[Group], records: Any, key_of: Callable[[Any], str], start: Any = None, skip: int = 0
    ) -> Iterator[Record]:
        """Records of the chosen groups in list order (after the order key `start`, when given; less `skip` first)."""
        if len(groups) == 1:
            ids = groups[0].ids
            first = (0 if start is None else groups[0].position_after(start)) + skip
            return (records[key_of(ids[i])] for i in range(first, len(ids)))
        lists = [g.ids if start is None else g.ids[g.position_after(start) :] for g in groups]
        firsts = split_positions(lists, skip) if skip else [0] * len(lists)
        tails = [islice(ids, first, None) for ids, first in zip(lists, firsts, strict=True)]
        return (records[key_of(k)] for k in heapq.merge(*tails))

    def _cursor_start(self, call: Any, resource: Resource, scope: str | None) -> Any:
        paging = self.declaration.paging
        if paging.position not in call.query:
            return None
        cursor = call.query[paging.position]
        record = self.lookup(call, resource, cursor, scope)
        if record is None:
            owner = self.declaration.scope
            within = f" of {owner.collection.removesuffix('s')} {scope}" if owner and scope is not None else ""
            raise ApiError(
                ErrorKind.INVALID,
                f"{paging.position} is invalid: {cursor!r} is not a {resource.name.removesuffix('s')}{within}; "
                f"pass the pagination.{paging.position} of the previous page.",
                field=paging.position,
            )
        return order_key_of(resource)(record)

    def _page_window(self, call: Any) -> tuple[int, int]:
        paging = self.declaration.paging
        size = call.query.get(paging.size, paging.default_size)
        if paging.max_size is not None:
            size = min(max(size, 1), paging.max_size)
        number = max(call.query.get(paging.position, 1), 1)
        return size, (number - 1) * size

    def _paged(self, call: Any, resource: Resource, items: list[Any], total: int, style: str) -> Reply:
        """A page of shown items in the paging style, with its metadata."""
        paging = self.declaration.paging
        size, start = self._page_window(call)
        number = start // size + 1 if size else 1
        if style == "page-links":
            last = max(1, -(-total // size))
            headers = {"Link": link_header(call, number, size, last, paging), "X-Total-Count": str(total)}
            return Reply(items, headers=headers)
        if style == "page-metadata":
            return Reply({"page": page_data(total, number, size, len(items)), paging.items or resource.name: items})
        return Reply(items)


class KeyIndex(dict):
    """Alternate key value -> store key, for one key of one resource; the first record holding a value keeps it."""

    def __init__(self, records: Any, key: Key) -> None:
        super().__init__()
        self.key = key
        for store_key_, record in records.items():
            self._add(store_key_, record)

    def _add(self, record_key: str, record: Record) -> None:
        value = record.get(self.key.field)
        if value is not None:
            self.setdefault(key_value(self.key, value), record_key)

    def apply(self, change: Any) -> bool:
        if change.old is not None:
            value = change.old.get(self.key.field)
            if value is not None and self.get(key_value(self.key, value)) == change.key:
                del self[key_value(self.key, value)]
        if change.new is not None:
            self._add(change.key, change.new)
        return True


def duplicate_keys(collection: str, resource: Resource, records: list[Record], store: Store | None) -> list[str]:
    """Fixture records holding an alternate key value another record (loaded or stored) holds already."""
    problems: list[str] = []
    replaced = {str(record.get("id")) for record in records}
    for field, key in resource.keys.items():
        stored = store.collection(collection).values() if store is not None else ()
        owners = {key_value(key, r[field]): r["id"] for r in stored if r.get(field) and str(r["id"]) not in replaced}
        for index, record in enumerate(records):
            value = record.get(field)
            if value is None:
                continue
            owner = owners.setdefault(key_value(key, value), record.get("id"))
            if owner != record.get("id"):
                problems.append(
                    f"{collection}[{index}] (id={record.get('id')!r}): field '{field}': {value!r} is already "
                    f"used by {collection} {owner!r}"
                )
    return problems


def key_value(key: Key, value: Any) -> Any:
    return str(value).strip().upper() if key.case_insensitive else value


# -- values -----------------------------------------------------------------------


def split_positions(lists: list[list[Any]], count: int) -> list[int]:
    """How many of the `count` smallest keys of several sorted lists (keys unique) each list holds, by bisection."""

    def rank(key: Any) -> int:  # how many keys of all lists are smaller
        return sum(bisect.bisect_left(ids, key) for ids in lists)

    positions = []
    for ids in lists:
        low, high = 0, len(ids)
        while low < high:  # the first position whose key is not among the `count` smallest
            middle = (low + high) // 2
            if rank(ids[middle]) < count:
                low = middle + 1
            else:
                high = middle
        positions.append(low)
    return positions


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


def refusal(declared: Refusal, **variables: Any) -> ApiError:
    values = {key: "null" if value is None else value for key, value in variables.items()}
    message = declared.message.format_map(_Lenient(values))
    return ApiError(declared.kind, message, code=declared.code, field=variables.get("field"))


class _Lenient(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def request_value(call: Any, sources: tuple[str, ...]) -> Any:
    """The first of `query:x`, `body:x`, `header:X`, `path:x` the call carries."""
    for source in sources:
        place, _, name = source.partition(":")
        container = {"query": call.query, "header": call.headers, "path": call.path}.get(place)
        if place == "body":
            container = call.body if isinstance(call.body, dict) else {}
        if container is not None and name in container:
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


def singular(collection: str) -> str:
    return collection[:-3] + "y" if collection.endswith("ies") else collection.removesuffix("s")


def known(fixtures: dict[str, list[Record]], store: Store | None, collection: str, key: Any) -> Record | None:
    """A record by key among fixtures being loaded (keyed by id, or slug) and those already stored."""
    for record in fixtures.get(collection) or []:
        if str(record.get("id", record.get("slug"))) == str(key):
            return record
    return store.get(collection, key) if store is not None else None


def short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def store_key(record: Record) -> str:
    return str(record["id"])


def store_key_of(resource: Resource) -> Callable[[Any], str]:
    """From an order key back to the record's store key."""
    if resource.order == (("id", False),):
        if resource.id_style == "string-sequence":
            return lambda key: key[2]
        return str
    return lambda key: str(key[-1])


def order_key_of(resource: Resource) -> Callable[[Record], Any]:
    """A record's position in its list: the resource's `order` terms, ending with its id (unique)."""
    if resource.order == (("id", False),):
        if resource.id_style == "string-sequence":
            return lambda record: id_order(record["id"])
        return lambda record: record["id"]
    terms = [term for term in resource.order if term[0] != "id"]

    def key(record: Record) -> tuple[Any, ...]:
        parts: list[Any] = []
        for field, descending in terms:
            value = comparable(record.get(field))
            parts.append(-value if descending else value)
        return (*parts, record["id"])

    return key


def id_order(record_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, before any other ids in text order; the id itself last."""
    return (0, int(record_id), record_id) if record_id.isdigit() else (1, 0, record_id)


def comparable(value: Any) -> Any:
    """Timestamps as seconds (ISO 8601 in any zone), numbers as they are; missing ones sort first."""
    if isinstance(value, str):
        try:
            return parse_iso8601(value).timestamp()
        except (ValueError, OverflowError):
            return 0.0
    return 0.0 if value is None else value


def nullable(prop: dict[str, Any]) -> bool:
    """Whether a (resolved) schema property accepts null: `type: [x, "null"]`, a null alternative or enum value."""
    kinds = prop.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or None in (prop.get("enum") or ()):
        return True
    return any(nullable(alternative) for alternative in [*(prop.get("oneOf") or []), *(prop.get("anyOf") or [])])


def nested_properties(prop: dict[str, Any]) -> set[str] | None:
    for candidate in [prop, prop.get("items") or {}, *(prop.get("oneOf") or []), *(prop.get("anyOf") or [])]:
        if isinstance(candidate, dict) and candidate.get("properties"):
            return set(candidate["properties"])
        items = candidate.get("items") if isinstance(candidate, dict) else None
        if isinstance(items, dict) and items.get("properties"):
            return set(items["properties"])
    return None


# -- filters and sorting ------------------------------------------------------------


def filter_values(spec_filter: Filter, query: dict[str, Any]) -> set[Any] | Any | None:
    raw = query.get(spec_filter.param, spec_filter.default)
    if raw is None:
        return None
    if spec_filter.match == "one-of":
        items = raw if isinstance(raw, list) else [part.strip() for part in str(raw).split(",") if part.strip()]
        values = set()
        for item in items:
            text = str(item)
            if spec_filter.values:
                mapped = spec_filter.values.get(text.strip().lower())
                if mapped is None and spec_filter.unknown is not None:
                    raise refusal(spec_filter.unknown, value=item, field=spec_filter.param)
                if mapped is None:
                    raise ApiError(
                        ErrorKind.INVALID,
                        f"{spec_filter.param}: unknown value {item!r}; use one of "
                        f"{', '.join(dict.fromkeys(spec_filter.values.values()))}.",
                        field=spec_filter.param,
                    )
                text = mapped
            values.add(text.lower() if spec_filter.case_insensitive else text)
        return values
    if spec_filter.match == "equals":
        return {raw}
    return raw


def matcher(spec_filter: Filter, values: Any) -> Callable[[Record], bool]:
    field = spec_filter.field
    if spec_filter.match == "after":
        bound = comparable(values)
        return lambda record: record.get(field) is not None and comparable(record.get(field)) > bound
    if spec_filter.match == "fields":
        return fields_matcher(spec_filter, values)
    if spec_filter.match == "metadata":
        wanted = dict(values)
        return lambda record: all((record.get(field) or {}).get(k) == v for k, v in wanted.items())
    if spec_filter.case_insensitive:
        return lambda record: str(record.get(field) or "").lower() in values
    return lambda record: str_or(record.get(field)) in values


def str_or(value: Any) -> Any:
    return value if not isinstance(value, int | float) or isinstance(value, bool) else str(value)


def fields_matcher(spec_filter: Filter, wanted: dict[str, Any]) -> Callable[[Record], bool]:
    """`filter[name]=value` on any of the declared fields; booleans accept true/1."""
    for name in wanted:
        if name not in spec_filter.fields:
            raise ApiError(
                ErrorKind.INVALID,
                f"Invalid filter field: {name} (filterable: {', '.join(spec_filter.fields)})",
                field=spec_filter.param,
            )
    expected = {}
    for name, value in wanted.items():
        if name in spec_filter.booleans:
            value = value is True or str(value).lower() in ("true", "1")
        elif isinstance(value, str) and name == "currency":
            value = value.lower()
        expected[name] = value

    def test(record: Record) -> bool:
        for name, value in expected.items():
            actual = record.get(name)
            if isinstance(value, str) and isinstance(actual, int | float) and not isinstance(actual, bool):
                actual = str(actual)
            if actual != value or isinstance(actual, bool) != isinstance(value, bool):
                return False
        return True

    return test


def passes(conditions: list[operators.Filter], kinds: dict[str, str], record: Record) -> bool:
    return all(
        condition.matches(operators.record_key(record, condition.field, kinds[condition.field]))
        for condition in conditions
    )


def sort_terms(resource: Resource, query: dict[str, Any]) -> list[tuple[str, bool]]:
    sorting = resource.sorting
    if sorting is None or not query.get(sorting.param):
        return []
    terms: list[tuple[str, bool]] = []
    for part in str(query[sorting.param]).split(","):
        if sorting.grammar == "colon":
            name, _, direction = part.strip().partition(":")
        else:
            words = part.split()
            if not words:
                continue
            name, direction = words[0], words[1] if len(words) > 1 else ""
        direction = direction.strip().lower() or "asc"
        field = sorting.fields.get(name.strip().lower())
        if field is None or direction not in ("asc", "desc"):
            if sorting.unknown == "ignore":
                continue
            allowed = ", ".join(sorted(sorting.fields.values()))
            raise ApiError(ErrorKind.INVALID, f"Invalid sort field: {name} (sortable: {allowed})", field=sorting.param)
        terms.append((field, direction == "desc"))
    return terms


def sort_records(records: list[Record], order: list[tuple[str, bool]], resource: Resource) -> None:
    sorting = resource.sorting
    if not order or sorting is None:
        return
    for field, descending in reversed(order):
        dated = field in sorting.dates

        def value(record: Record, field: str = field, dated: bool = dated) -> Any:
            raw = record.get(field)
            return comparable(raw) if dated and raw is not None else raw

        known = [r for r in records if value(r) is not None]
        missing = [r for r in records if value(r) is None]
        known.sort(key=value, reverse=descending)
        # "first" means smallest: before the others ascending, after them descending; "last" is always last.
        nulls_first = sorting.nulls == "first" and not descending
        records[:] = missing + known if nulls_first else known + missing


# -- page answers ---------------------------------------------------------------------


def page_data(total: int, page: int, size: int, count: int) -> Record:
    return {
        "totalResults": total,
        "pageSize": size,
        "currentPage": page,
        "responseCount": count,
        "totalPages": -(-total // size),
    }


def link_header(call: Any, page: int, per_page: int, last: int, paging: Any) -> str:
    """Links to the list's pages, keeping the other query parameters, percent-encoded (no raw `,` or `;`)."""
    kept: list[tuple[str, str]] = []
    for name, value in call.query.items():
        if name in (paging.position, paging.size):
            continue
        if isinstance(value, dict):
            kept.extend((f"{name}[{key}]", query_text(item)) for key, item in value.items())
        else:
            kept.append((name, query_text(value)))
    base = call.base_url + call.operation.path

    def url(number: int) -> str:
        params = [*kept, (paging.position, str(number))]
        if per_page != paging.default_size:
            params.append((paging.size, str(per_page)))
        return f"{base}?{urlencode(params)}"

    links = [("self", page), ("first", 1)]
    if page > 1:
        links.append(("previous", page - 1))
    if page < last:
        links.append(("next", page + 1))
    links.append(("last", last))
    return ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in links)


def query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

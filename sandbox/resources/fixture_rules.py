"""What the declarations say about fixture records: the fields they may leave out, and the checks they must pass.

Problems name the collection, the record and the field, as every fixture
problem does (`tasks[2] (id='7'): field 'administration_id': no administration 'adm_9'`).
"""

from __future__ import annotations

from typing import Any

from sandbox.resources.declaration import Declaration, Resource
from sandbox.resources.keys import duplicate_keys
from sandbox.store import Record, Store, thaw

Fillers = tuple[tuple[str, Any], ...]


def fillers(resource: Resource, properties: dict[str, Any]) -> Fillers:
    """The fields a record may leave out and what they default to: the declared `defaults`, else null
    where the wire schema allows it (in the schema's property order). An `optional` field (shown only when
    a selection asks) is stored only when given: a selection shows its default, and a record without it
    goes on the wire uncopied."""
    found = []
    for name, prop in properties.items():
        if name in resource.optional:
            continue
        if name in resource.defaults:
            found.append((name, resource.defaults[name]))
        elif nullable(prop):
            found.append((name, None))
    return tuple(found)


def with_defaults(record: Record, defaults: Fillers) -> Record:
    """Fill in, in place, the fields a fixture record (a copy, about to be stored) leaves out, after the given ones."""
    for name, default in defaults:
        if name not in record:
            record[name] = thaw(default)
    return record


def problems(declaration: Declaration, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
    """Records whose scope or declared references name nothing (in the fixtures or the live store), or
    whose alternate key another record holds."""
    found: list[str] = []
    for collection, records in fixtures.items():
        resource = declaration.resources.get(collection)
        if resource is None:
            continue
        for index, record in enumerate(records or []):
            where = f"{collection}[{index}] (id={record.get('id')!r})"
            broken = record_problems(declaration, resource, record, fixtures, store)
            found.extend(f"{where}: {problem}" for problem in broken)
        found.extend(duplicate_keys(collection, resource, records or [], store))
    return found


def record_problems(
    declaration: Declaration, resource: Resource, record: Record, fixtures: dict[str, list[Record]], store: Store | None
) -> list[str]:
    scope = declaration.scope if resource.scoped else None
    scope_key = record.get(scope.field) if scope is not None else None
    if scope is not None and known(fixtures, store, scope.collection, scope_key) is None:
        return [f"field '{scope.field}': no {singular(scope.collection)} {scope_key!r}"]
    found = []
    for reference in resource.references:
        value = record.get(reference.field)
        if value is None:
            continue
        target = known(fixtures, store, reference.resource, value)
        elsewhere = scope is not None and target is not None and target.get(scope.field) != scope_key
        if target is None or elsewhere:
            within = f" in {singular(scope.collection)} {scope_key!r}" if scope is not None else ""
            found.append(f"field '{reference.field}': no {singular(reference.resource)} {value!r}{within}")
    return found


def known(fixtures: dict[str, list[Record]], store: Store | None, collection: str, key: Any) -> Record | None:
    """A record by key among fixtures being loaded (keyed by id, or slug) and those already stored."""
    for record in fixtures.get(collection) or []:
        if str(record.get("id", record.get("slug"))) == str(key):
            return record
    return store.get(collection, key) if store is not None else None


def nullable(prop: dict[str, Any]) -> bool:
    """Whether a (resolved) schema property accepts null: `type: [x, "null"]`, a null alternative or enum value."""
    kinds = prop.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds) or None in (prop.get("enum") or ()):
        return True
    return any(nullable(alternative) for alternative in [*(prop.get("oneOf") or []), *(prop.get("anyOf") or [])])


def singular(collection: str) -> str:
    return collection[:-3] + "y" if collection.endswith("ies") else collection.removesuffix("s")

"""Reading, paging, editing and removing one provider's records, the way fixture loading sees them.

A record is shown as a fixture would state it: fields whose name starts with
`_` are the sandbox's own bookkeeping (a provider's derived or scheduled
state) and are kept apart. Edits are validated by `fixture_problems` and stored
by the provider's `seed`, exactly as `POST /tenants/{credential}/fixtures`
does, so an edit can put into a tenant nothing a fixture file could not.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from sandbox.fixtures import fixture_problems
from sandbox.provider import Provider
from sandbox.spec import Spec
from sandbox.store import ENGINE_COLLECTION_PREFIX, Record, Store, thaw

BOOKKEEPING = "_"
# Every fixture problem reads "<where>: field '<field>': <message>" (sandbox.fixtures).
_POSITION = re.compile(r"\[\d+\](?= \()")  # "tasks[3] (id=...)": a removal shifts the positions after it
_FIELD_PROBLEM = re.compile(r"field '(?P<field>[^']*)': (?P<message>.*)$", re.DOTALL)


class RecordProblems(Exception):
    """An edit refused: each problem with the field it is about."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems

    def by_field(self) -> list[dict[str, str]]:
        return [field_problem(problem) for problem in self.problems]


def field_problem(problem: str) -> dict[str, str]:
    found = _FIELD_PROBLEM.search(problem)
    if found is None:
        return {"field": "(record)", "message": problem}
    return {"field": found.group("field"), "message": found.group("message")}


def shown(record: Mapping[str, Any]) -> Record:
    return {name: value for name, value in record.items() if not name.startswith(BOOKKEEPING)}


def bookkeeping(record: Mapping[str, Any]) -> Record:
    return {name: value for name, value in record.items() if name.startswith(BOOKKEEPING)}


def collection_names(provider: Provider, store: Store) -> list[str]:
    """The provider's collections held, then those a fixture may fill that are still empty."""
    held = [name for name in store.names() if not name.startswith(ENGINE_COLLECTION_PREFIX)]
    return [*held, *sorted(name for name in provider.fixture_schemas if name not in held)]


def matching(records: Mapping[str, Record], query: str | None) -> Iterator[tuple[str, Record]]:
    if not query:
        yield from records.items()
        return
    needle = query.casefold()
    # A record's JSON holds every value (and the field names): a fast test that rules most records out.
    # JSON escapes quotes, backslashes and control characters, so a needle with any skips it.
    prefilter = not any(char in needle for char in '"\\') and needle.isprintable()
    for key, record in records.items():
        if prefilter and needle not in orjson.dumps(record).decode("utf-8").casefold():
            continue
        if needle in record_text(record):
            yield key, record


def record_text(record: Record) -> str:
    """Every scalar of a record (bookkeeping left out) as JSON spells it, one a line, case-folded."""
    parts: list[str] = []
    pending = [value for name, value in record.items() if not name.startswith(BOOKKEEPING)]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        else:
            parts.append(JSON_WORDS.get(value, value) if type(value) is bool or value is None else str(value))
    return "\n".join(parts).casefold()


JSON_WORDS: dict[object, str] = {None: "null", True: "true", False: "false"}


def page(records: Mapping[str, Record], query: str | None, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """How many records match, and the `limit` of them from `offset`."""
    if not query:
        window = itertools.islice(records.items(), offset, offset + limit)
        return len(records), [{"key": key, "record": shown(record)} for key, record in window]
    found = list(matching(records, query))
    return len(found), [{"key": key, "record": shown(record)} for key, record in found[offset : offset + limit]]


def record_key(provider: Provider, collection: str, record: Record) -> str | None:
    try:
        return str(provider.fixture_key(collection, record))
    except (KeyError, TypeError):
        return None  # the schema's `required` reports the missing key


def key_field(provider: Provider, collection: str, record: Record) -> str:
    """The field holding the record's key (`id`, `token`, `slug`, ...)."""
    key = record_key(provider, collection, record)
    return next((name for name, value in record.items() if str(value) == key), "id")


def save(
    provider: Provider, spec: Spec, store: Store, collection: str, record: Record, old: Record | None, source: str
) -> str:
    """Validate `record` as a fixture record and store it (keeping `old`'s bookkeeping); its key.

    Raises RecordProblems, storing nothing, when fixture loading would refuse it.
    """
    problems = fixture_problems(provider, spec, {collection: [record]}, source, store)
    if problems:
        raise RecordProblems(problems)
    kept = bookkeeping(old) if old is not None else {}
    draft = thaw({**record, **{name: value for name, value in kept.items() if name not in record}})
    with store.transaction():
        provider.seed(store, {collection: [draft]})
    return str(provider.fixture_key(collection, record))


def key_problems(
    provider: Provider, collection: str, record: Record, key: str, store: Store, adding: bool, source: str
) -> list[str]:
    """Problems with the record's key: on an add it must be new, on a replace it must stay `key`."""
    given = record_key(provider, collection, record)
    if given is None:
        return []
    field = key_field(provider, collection, record)
    where = f"{source}: {collection}[0] ({field}={given!r})"
    if adding and store.get(collection, given) is not None:
        return [f"{where}: field '{field}': {collection} already holds {given!r}; edit that record instead"]
    if not adding and given != key:
        return [f"{where}: field '{field}': the key cannot change (it is {key!r}); add a new record instead"]
    return []


def reference_problems(provider: Provider, store: Store) -> set[str]:
    """What fixture loading would say of the references between the records the store holds now.

    Only the cross-checks (declared scope and references, the provider's own),
    not each record's schema: an edit never makes another record invalid, a
    removal can only leave one pointing at nothing.
    """
    data = {name: [thaw(shown(record)) for record in store.collection(name).values()] for name in store.names()}
    found = [*provider.fixture_references(data, store)]
    if provider.resources is not None:
        found.extend(declared_reference_problems(provider, store))
    return {_POSITION.sub("", problem) for problem in found}


def declared_reference_problems(provider: Provider, store: Store) -> Iterator[str]:
    """Records whose declared scope or references name a record the store does not hold."""
    assert provider.resources is not None
    declaration = provider.resources.declaration
    for collection, resource in declaration.resources.items():
        fields = [(reference.field, reference.resource) for reference in resource.references]
        if resource.scoped and declaration.scope is not None:
            fields.append((declaration.scope.field, declaration.scope.collection))
        if not fields:
            continue
        for key, record in store.collection(collection).items():
            for field, target in fields:
                value = record.get(field)
                if value is not None and store.get(target, value) is None:
                    yield f"{collection} {key!r}: field '{field}': no {target} record {value!r}"


def remove(provider: Provider, store: Store, collection: str, key: str) -> None:
    """Remove a record; raise RecordProblems (and remove nothing) if that leaves others referring to nothing."""
    before = reference_problems(provider, store)
    with store.transaction():
        store.remove(collection, key)
        broken = sorted(reference_problems(provider, store) - before)
        if broken:
            raise RecordProblems(broken)

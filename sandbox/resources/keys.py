"""Alternate keys of a resource: lookups by another field (a reference, a number) and their uniqueness."""

from __future__ import annotations

from typing import Any

from sandbox.resources.declaration import Key, Resource
from sandbox.store import Record, Store


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

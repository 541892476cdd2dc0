"""A tenant's records for one provider: named collections of JSON-ready dicts.

Everything in a `Store` is plain data (dicts, lists, strings, numbers), so a
tenant's whole world can be exported as JSON and restored exactly.
"""

from __future__ import annotations

import copy
from typing import Any

Record = dict[str, Any]


class Store:
    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Record]] = {}
        self.sequences: dict[str, int] = {}
        # Bumped whenever a record is added or removed, so providers can cache
        # derived indexes (such as sort orders) and know when to rebuild them.
        self.version = 0

    def collection(self, name: str) -> dict[str, Record]:
        """Records of a collection by their id (as a string), in insertion order."""
        found = self.collections.get(name)
        if found is None:
            found = self.collections[name] = {}
        return found

    def get(self, name: str, record_id: object) -> Record | None:
        return self.collection(name).get(str(record_id))

    def put(self, name: str, record: Record, key: object | None = None) -> Record:
        record_key = str(record["id"] if key is None else key)
        records = self.collection(name)
        if record_key not in records:
            self.version += 1
        records[record_key] = record
        return record

    def remove(self, name: str, record_id: object) -> Record | None:
        removed = self.collection(name).pop(str(record_id), None)
        if removed is not None:
            self.version += 1
        return removed

    def next_id(self, name: str) -> int:
        """The next integer id for a collection, above every id already in it."""
        current = self.sequences.get(name)
        if current is None:
            numeric = [int(key) for key in self.collection(name) if key.isdigit()]
            current = max(numeric, default=0)
        current += 1
        self.sequences[name] = current
        return current

    def to_json(self) -> dict[str, Any]:
        return {
            "collections": {name: list(records.values()) for name, records in self.collections.items()},
            "sequences": dict(self.sequences),
            "keys": {name: list(records) for name, records in self.collections.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Store:
        store = cls()
        keys = data.get("keys", {})
        for name, records in data.get("collections", {}).items():
            names = keys.get(name) or [str(r["id"]) for r in records]
            store.collections[name] = dict(zip(names, copy.deepcopy(records), strict=True))
        store.sequences = dict(data.get("sequences", {}))
        return store

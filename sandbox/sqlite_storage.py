"""Tenants kept in SQLite (`sandbox serve --state PATH`): a restart serves the same worlds.

What is on disk, per tenant: its state (`save_tenant`: clock and fault rules),
and per provider store the collections it holds itself (`Store` copies a
collection from its base on the first write, so a tenant that never wrote one
keeps reading it from the fixtures), each record as JSON in its collection's
order, and the store's sequences. Stores work in memory as before; every write
is logged by the store (`Store.log`) and `flush()` writes what changed in one
SQLite transaction. The engine flushes before it answers a request, so a write
the client saw acknowledged is in the database file (WAL mode; `synchronous =
NORMAL` keeps it through the process being killed, not through the machine
losing power).

Anything a provider or the engine writes through a `Store` is persisted this
way, whatever collection it is in.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from sandbox.store import Bases, Record, Store, freeze

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    credential TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stores (
    credential TEXT NOT NULL,
    provider TEXT NOT NULL,
    based INTEGER NOT NULL,          -- 1: collections not listed below are the fixtures' (shared base)
    sequences TEXT NOT NULL,
    PRIMARY KEY (credential, provider)
);
CREATE TABLE IF NOT EXISTS collections (
    credential TEXT NOT NULL,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (credential, provider, name)
);
CREATE TABLE IF NOT EXISTS records (
    credential TEXT NOT NULL,
    provider TEXT NOT NULL,
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,       -- the collection's order (a replaced record keeps its place)
    data TEXT NOT NULL,
    PRIMARY KEY (credential, provider, collection, key)
);
"""


def encode(value: Any) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # integers beyond 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class Persisted:
    """A store's link to the storage: tells it the store has changes to write."""

    __slots__ = ("credential", "provider", "storage")

    def __init__(self, storage: SqliteStorage, credential: str, provider: str) -> None:
        self.storage = storage
        self.credential = credential
        self.provider = provider

    def changed(self, store: Store) -> None:
        self.storage._dirty[(self.credential, self.provider)] = store


class SqliteStorage:
    persistent = True

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0.1)
        # One process per file: each holds its tenants in memory, so a second one would serve stale worlds.
        # The exclusive lock is taken by the first write (the schema) and held until the process ends.
        self.db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executescript(SCHEMA)
        # Stores of tenants held in memory; stores with changes not yet written.
        self._stores: dict[str, dict[str, Store]] = {}
        self._dirty: dict[tuple[str, str], Store] = {}
        self._tenant_states: dict[str, dict[str, Any]] = {}
        # Rows known to be on disk, per credential: (provider, None) for a store, (provider, name) for a
        # collection; a write to a known store or collection skips re-inserting them.
        self._known: dict[str, set[tuple[str, str | None]]] = {}
        self._replaced: set[str] = set()  # tenants whose stores were swapped for restored ones
        self._position = self.db.execute("SELECT COALESCE(MAX(position), 0) FROM records").fetchone()[0]

    def close(self) -> None:
        self.flush()
        self.db.close()

    # -- stores ------------------------------------------------------------------

    def open(self, credential: str, provider: str, base: Store) -> Store:
        stores = self._stores.get(credential)
        if stores is None:
            stores = self._stores[credential] = {}
        store = stores.get(provider)
        if store is None:
            store = self._load(credential, provider, base)
            if store is None:
                store = Store(base)
                store.log = Persisted(self, credential, provider)
                self._dirty[(credential, provider)] = store  # a new store is written (with its sequences)
            stores[provider] = store
        return store

    def stores(self, credential: str, bases: Bases) -> dict[str, Store]:
        held = self._stores.get(credential, {})
        rows = self.db.execute("SELECT provider FROM stores WHERE credential = ?", (credential,)).fetchall()
        for (provider,) in rows:
            if provider not in held:
                self.open(credential, provider, bases(provider))
        return dict(self._stores.get(credential, {}))

    def _load(self, credential: str, provider: str, base: Store) -> Store | None:
        row = self.db.execute(
            "SELECT based, sequences FROM stores WHERE credential = ? AND provider = ?", (credential, provider)
        ).fetchone()
        if row is None:
            return None
        based, sequences = row
        store = Store(base) if based else Store()
        owned: dict[str, dict[str, Record]] = {
            name: {}
            for (name,) in self.db.execute(
                "SELECT name FROM collections WHERE credential = ? AND provider = ?", (credential, provider)
            )
        }
        records = self.db.execute(
            "SELECT collection, key, data FROM records WHERE credential = ? AND provider = ? ORDER BY position",
            (credential, provider),
        )
        for collection, key, data in records:
            owned.setdefault(collection, {})[key] = freeze(decode(data))
        store.adopt(owned, decode(sequences))
        store.log = Persisted(self, credential, provider)
        self._known.setdefault(credential, set()).update([(provider, None), *((provider, name) for name in owned)])
        return store

    def replace(self, credential: str, stores: dict[str, Store]) -> None:
        self.flush()
        self._replaced.add(credential)  # its old rows go in the same transaction as the new ones
        self._known.pop(credential, None)
        self._stores[credential] = dict(stores)
        for provider, store in stores.items():
            store.log = Persisted(self, credential, provider)
            self._dirty[(credential, provider)] = store
            store.rewrite_all()

    # -- tenants ------------------------------------------------------------------

    def load_tenant(self, credential: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT state FROM tenants WHERE credential = ?", (credential,)).fetchone()
        return None if row is None else decode(row[0])

    def save_tenant(self, credential: str, state: dict[str, Any]) -> None:
        self._tenant_states[credential] = state

    def release(self, credential: str) -> None:
        self.flush()
        self._stores.pop(credential, None)
        self._known.pop(credential, None)

    def drop(self, credential: str) -> bool:
        self.flush()
        held = self._stores.pop(credential, None) is not None
        with self.db:
            self.db.execute("BEGIN")
            found = self.db.execute("DELETE FROM tenants WHERE credential = ?", (credential,)).rowcount
            self._delete_stores(credential)
        return held or found > 0

    def drop_all(self) -> None:
        self.flush()
        self._stores.clear()
        self._known.clear()
        with self.db:
            self.db.execute("BEGIN")
            for table in ("tenants", "stores", "collections", "records"):
                self.db.execute(f"DELETE FROM {table}")

    def _delete_stores(self, credential: str) -> None:
        self._known.pop(credential, None)
        for table in ("stores", "collections", "records"):
            self.db.execute(f"DELETE FROM {table} WHERE credential = ?", (credential,))

    # -- writing ------------------------------------------------------------------

    def flush(self) -> None:
        """Write every change logged since the last flush, in one transaction."""
        if not self._dirty and not self._tenant_states:
            return
        dirty, self._dirty = self._dirty, {}
        states, self._tenant_states = self._tenant_states, {}
        replaced, self._replaced = self._replaced, set()
        db = self.db
        db.execute("BEGIN")
        try:
            for credential in replaced:
                for table in ("stores", "collections", "records"):
                    db.execute(f"DELETE FROM {table} WHERE credential = ?", (credential,))
            if states:
                db.executemany(
                    "INSERT INTO tenants (credential, state) VALUES (?, ?) "
                    "ON CONFLICT (credential) DO UPDATE SET state = excluded.state",
                    [(credential, encode(state)) for credential, state in states.items()],
                )
            for (credential, provider), store in dirty.items():
                self._write_store(credential, provider, store)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _write_store(self, credential: str, provider: str, store: Store) -> None:
        db = self.db
        changes = store.take_changes()
        known = self._known.get(credential)
        if known is None:
            known = self._known[credential] = set()
        if (provider, None) not in known or changes.sequences:
            db.execute(
                "INSERT INTO stores (credential, provider, based, sequences) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (credential, provider) DO UPDATE SET sequences = excluded.sequences",
                (credential, provider, int(store.base is not None), encode(store.sequences)),
            )
            known.add((provider, None))
        where = (credential, provider)
        for name in changes.whole:
            self._own(known, where, name)
            db.execute("DELETE FROM records WHERE credential = ? AND provider = ? AND collection = ?", (*where, name))
            self._insert(where, name, store.collection(name).items())
        for name, keys in changes.records.items():
            if name in changes.whole:
                continue
            self._own(known, where, name)
            records = store.collection(name)
            for key, removed in keys.items():
                record = records.get(key)
                if record is None or removed:
                    db.execute(
                        "DELETE FROM records WHERE credential = ? AND provider = ? AND collection = ? AND key = ?",
                        (*where, name, key),
                    )
                if record is None:
                    continue
                self._position += 1
                db.execute(
                    "INSERT INTO records (credential, provider, collection, key, position, data) "
                    "VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (credential, provider, collection, key) DO UPDATE SET data = excluded.data",
                    (*where, name, key, self._position, encode(record)),
                )

    def _own(self, known: set[tuple[str, str | None]], where: tuple[str, str], name: str) -> None:
        """Mark a collection as the store's own on disk (once)."""
        if (where[1], name) not in known:
            self.db.execute(
                "INSERT OR IGNORE INTO collections (credential, provider, name) VALUES (?, ?, ?)", (*where, name)
            )
            known.add((where[1], name))

    def _insert(self, where: tuple[str, str], name: str, records: Iterable[tuple[str, Record]]) -> None:
        rows = []
        for key, record in records:
            self._position += 1
            rows.append((*where, name, key, self._position, encode(record)))
        self.db.executemany(
            "INSERT INTO records (credential, provider, collection, key, position, data) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

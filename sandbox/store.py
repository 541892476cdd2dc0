"""A tenant's records for one provider: named collections of read-only JSON-ready records.

Every write goes through the store (`put`, `insert`, `update`, `remove`,
`next_id`), for three reasons:
- **All or nothing.** Inside `transaction()` every write is logged with its
  inverse; when the block raises, the store undoes them, so a refused request
  leaves nothing behind whatever its handler wrote first.
- **Read-only records.** Stored records are `FrozenRecord`s (nested dicts and
  lists frozen too): a handler that reads one cannot change it behind the
  store's back. `thaw(record)` gives a mutable copy to build the next version.
- **One change signal.** Derived indexes (`derived()`) are told of every
  change to the collections they watch; an index that can apply a change keeps
  itself current, any other is dropped and rebuilt on its next use.

Everything stored is plain data (dicts, lists, strings, numbers), so a tenant's
world exports to JSON and restores exactly. `Storage` is the seam through
which tenants obtain their stores (`MemoryStorage` here,
`sandbox.sqlite_storage.SqliteStorage` on disk).

**Copy on write.** A store made with a `base` (its provider's records as the
fixtures seed them, built once) shares the base's collections until it writes
one: the first write copies that collection, so a tenant that only reads costs
a few small objects. It also uses the base's derived indexes for every index
whose watched collections it has not written.

**A log of changes.** A store with a `log` (a persistent storage's) remembers
which records, sequences and collections changed and tells the log it has
changes; the storage writes them (`take_changes`) before the request is answered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar

Record = dict[str, Any]


# Collections the engine keeps in a provider's store for itself (events, webhook deliveries,
# idempotency keys) are named with this prefix: they are not the provider's records.
ENGINE_COLLECTION_PREFIX = "sandbox."


class ReadOnlyError(TypeError):
    """A stored record was changed in place instead of through the store."""


def _refuse(*_: Any, **__: Any) -> Any:
    raise ReadOnlyError("stored records are read-only: change them with store.update(...) (thaw() gives a copy)")


class FrozenRecord(dict):
    """A dict that refuses to change (a stored record, or a dict nested in one)."""

    __slots__ = ()
    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _refuse

    def __copy__(self) -> FrozenRecord:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenRecord:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_frozen_record, (dict(self),))


class FrozenList(list):
    """A list that refuses to change (a list nested in a stored record)."""

    __slots__ = ()
    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __iadd__ = __imul__ = _refuse

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenList:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_frozen_list, (list(self),))


def _frozen_record(items: dict[str, Any]) -> FrozenRecord:
    return FrozenRecord(items)


def _frozen_list(items: list[Any]) -> FrozenList:
    return FrozenList(items)


CONTAINERS = (dict, list)


def freeze(value: Any) -> Any:
    """`value` with every dict and list in it made read-only (frozen parts are reused as they are)."""
    kind = type(value)
    if kind is dict:
        frozen = FrozenRecord(value)  # one copy, made in C; then only nested containers are replaced
        for key, item in value.items():
            if type(item) in CONTAINERS:
                dict.__setitem__(frozen, key, freeze(item))
        return frozen
    if kind is list:  # items already frozen (or scalars) are taken as they are, without a call each
        return FrozenList([freeze(item) if type(item) in CONTAINERS else item for item in value])
    return value


def appended(items: Sequence[Any], item: Any) -> FrozenList:
    """A stored list with one item more: a frozen list's items are shared, not walked again.

    For lists that grow by one on every write (a task's comments), where
    `freeze([*items, item])` would visit every earlier item each time.
    """
    if type(items) is FrozenList:
        grown = FrozenList(items)  # a copy made in C
        list.append(grown, freeze(item))
        return grown
    return freeze([*items, item])


def thaw(value: Any) -> Any:
    """A mutable deep copy of a (frozen) record or value."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    return value


class Change(NamedTuple):
    """One write: `old` is None for an insert, `new` is None for a removal."""

    collection: str
    key: str
    old: Record | None
    new: Record | None


class Derived(Protocol):
    """What `Store.derived` builds. `apply` is optional: without it, any watched change drops the index."""

    def apply(self, change: Change) -> bool:
        """Bring the index up to date with one change; False if it cannot (it is then rebuilt)."""
        ...


T = TypeVar("T")


class ChangeLog(Protocol):
    """Told when a store has changes to write (a persistent storage)."""

    def changed(self, store: Store) -> None: ...


class Changes(NamedTuple):
    """What a store changed since its last `take_changes`.

    `records`: collection -> key -> whether the key was removed on the way (a
    removed key that is back must go to the end of its collection's order);
    `whole`: collections to write entire (copied from the base, or restored).
    """

    records: dict[str, dict[str, bool]]
    sequences: set[str]
    whole: set[str]


NOTHING: frozenset[str] = frozenset()


class Store:
    """The records of one provider in one tenant."""

    # Slots: a tenant has one store per provider, and a shared sandbox holds many tenants.
    __slots__ = ("_changes", "_collections", "_derived", "_owned", "_undo", "base", "log", "sequences")

    def __init__(self, base: Store | None = None) -> None:
        # With a base, the collections and sequences are the base's objects until the first write.
        self._collections: dict[str, dict[str, Record]] = {} if base is None else base._collections
        self.sequences: dict[str, int] = {} if base is None else base.sequences
        # name -> (index, collections it watches, whether it is the base's)
        self._derived: dict[str, tuple[Any, frozenset[str], bool]] = {}
        self._undo: list[Callable[[], None]] | None = None
        self.base = base
        self._owned = NOTHING  # with a base: the collections this store holds itself (copied or created)
        self.log: ChangeLog | None = None
        self._changes: Changes | None = None

    # -- reading ------------------------------------------------------------

    def collection(self, name: str) -> Mapping[str, Record]:
        """Records of a collection by their key (a string), in insertion order; read-only."""
        found = self._collections.get(name)
        if found is None:
            self._own_names()
            found = self._collections[name] = {}
        return MappingProxyType(found)

    def get(self, name: str, key: object) -> Record | None:
        found = self._collections.get(name)
        return None if found is None else found.get(str(key))

    def count(self, name: str) -> int:
        return len(self._collections.get(name, ()))

    def names(self) -> list[str]:
        return list(self._collections)

    # -- writing ------------------------------------------------------------

    def put(self, name: str, record: Mapping[str, Any], key: object | None = None) -> Record:
        """Insert or replace a record (keyed by `key`, else its `id`); returns the stored, frozen record."""
        record_key = str(record["id"] if key is None else key)
        stored = record if type(record) is FrozenRecord else freeze(record if type(record) is dict else dict(record))
        self._write(name, record_key, stored)
        return stored

    def insert(self, name: str, record: Mapping[str, Any], key: object | None = None) -> Record:
        """`put` for a record that must be new."""
        record_key = str(record["id"] if key is None else key)
        if self.get(name, record_key) is not None:
            raise KeyError(f"{name} already holds {record_key!r}")
        return self.put(name, record, record_key)

    def update(self, name: str, key: object, changes: Mapping[str, Any]) -> Record:
        """The record with `changes` applied (a new frozen record replaces the old one)."""
        record_key = str(key)
        old = self.get(name, record_key)
        if old is None:
            raise KeyError(f"{name} holds no {record_key!r}")
        for field, value in changes.items():
            if field not in old or not same(old[field], value):
                break
        else:
            return old  # nothing changes
        for value in changes.values():
            if type(value) in CONTAINERS:
                changes = {field: freeze(value) for field, value in changes.items()}
                break
        new = FrozenRecord({**old, **changes})
        self._write(name, record_key, new)
        return new

    def remove(self, name: str, key: object) -> Record | None:
        record_key = str(key)
        if self.get(name, record_key) is None:
            return None
        return self._write(name, record_key, None)

    def next_id(self, name: str) -> int:
        """The next integer of a collection's sequence, above every numeric key already in it."""
        current = self.sequences.get(name)
        if current is None:
            current = max((int(key) for key in self._collections.get(name, ()) if key.isdigit()), default=0)
        self.set_sequence(name, current + 1)
        return current + 1

    def set_sequence(self, name: str, value: int) -> None:
        previous = self.sequences.get(name)
        if self.base is not None and self.sequences is self.base.sequences:
            self.sequences = dict(self.sequences)
        self.sequences[name] = value
        if self.log is not None:
            self.changes().sequences.add(name)
            self.log.changed(self)
        if self._undo is not None:
            self._undo.append(lambda: self._restore_sequence(name, previous))

    def _restore_sequence(self, name: str, previous: int | None) -> None:
        if previous is None:
            self.sequences.pop(name, None)
        else:
            self.sequences[name] = previous

    def _write(self, name: str, key: str, new: Record | None) -> Record | None:
        if self.base is not None and name not in self._owned:
            self._copy(name)
        records = self._collections.get(name)
        created = records is None
        if records is None:
            records = self._collections[name] = {}
        old = records.get(key)
        if self._undo is not None:
            if old is not None and new is not None:  # a replacement keeps its place: put the old one back
                self._undo.append(functools.partial(self._write, name, key, old))
            else:
                self._undo.append(self._undoing(name, key, old, created, removing=new is None))
        if new is None:
            del records[key]
        else:
            records[key] = new
        if self._derived:
            self._signal(Change(name, key, old, new))
        if self.log is not None:
            self._logged(name, key, new is None)
        return old

    def _own_names(self) -> None:
        """Give this store its own mapping of collections (it starts as the base's)."""
        if self.base is not None and self._collections is self.base._collections:
            self._collections = dict(self._collections)

    def _copy(self, name: str) -> None:
        """Make a collection this store's own (before its first write to it), a copy of the base's."""
        self._own_names()
        found = self._collections.get(name)
        if found is not None:
            self._collections[name] = dict(found)
        self._owned = self._owned | {name}
        if self._derived:
            self._drop_borrowed(name)
        if self.log is not None:
            self.changes().whole.add(name)
            self.log.changed(self)

    def changes(self) -> Changes:
        """The changes logged since the last `take_changes`."""
        if self._changes is None:
            self._changes = Changes({}, set(), set())
        return self._changes

    def _logged(self, name: str, key: str, removed: bool) -> None:
        changes = self.changes()
        keys = changes.records.get(name)
        if keys is None:
            keys = changes.records[name] = {}
        keys[key] = removed or keys.get(key, False)
        assert self.log is not None
        self.log.changed(self)

    def adopt(self, collections: dict[str, dict[str, Record]], sequences: dict[str, int]) -> None:
        """Take records read back from disk as this store's own collections (replacing the base's)."""
        self._own_names()
        for name, records in collections.items():
            self._collections[name] = records
            self._drop_borrowed(name)
        if self.base is not None:
            self._owned = self._owned | set(collections)
        self.sequences = dict(sequences)

    def take_changes(self) -> Changes:
        """The changes since the last call (for the log to write), forgetting them."""
        changes, self._changes = self.changes(), None
        return changes

    def rewrite_all(self) -> None:
        """Log every collection and sequence as changed (a store restored from a snapshot)."""
        if self.log is not None:
            self.changes().whole.update(self._collections)
            self.changes().sequences.update(self.sequences)
            self.log.changed(self)

    def _undoing(self, name: str, key: str, old: Record | None, created: bool, removing: bool) -> Callable[[], None]:
        """The step that puts a record back as it was (in its place, for a removed one)."""
        records = self._collections[name]
        # Replacing a key keeps its place in the dict; only a removed record needs its place remembered.
        position = list(records).index(key) if removing else None

        def undo() -> None:
            self._write(name, key, old) if old is not None or key in records else None
            if position is not None and list(records).index(key) != position:
                ordered = list(records.items())
                ordered.insert(position, ordered.pop())
                records.clear()
                records.update(ordered)
            if created and not records:
                del self._collections[name]

        return undo

    # -- all or nothing -----------------------------------------------------

    def transaction(self) -> Transaction:
        """`with store.transaction():` undoes every write made in the block if it raises.

        Nested blocks join the outer one; a nested block that raises undoes its own writes at once (so a
        caller that catches the error, such as a bulk request refusing one record, keeps the others).
        """
        return Transaction(self)

    # -- derived indexes ----------------------------------------------------

    def derived(self, name: str, build: Callable[[Store], T], watches: tuple[str, ...]) -> T:
        """The index `name`, built by `build(store)` on first use and after a change it could not apply.

        While the store has written none of the watched collections, the base's index serves it.
        """
        found = self._derived.get(name)
        if found is None:
            base = self.base
            if base is not None and self._owned.isdisjoint(watches):
                index = base.derived(name, build, watches)
                self._derived[name] = (index, base._derived[name][1], True)  # dropped by the first write it watches
                return index
            index = build(self)
            self._derived[name] = (index, frozenset(watches), False)
            return index
        return found[0]

    def _drop_borrowed(self, collection: str) -> None:
        """Forget the base's indexes that watch a collection this store is about to hold itself."""
        for name, (_, watches, borrowed) in list(self._derived.items()):
            if borrowed and collection in watches:
                del self._derived[name]

    def _signal(self, change: Change) -> None:
        for name, (index, watches, _) in list(self._derived.items()):
            if change.collection not in watches:
                continue
            apply = getattr(index, "apply", None)
            if apply is None or not apply(change):
                del self._derived[name]

    # -- export -------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "collections": {name: list(records.values()) for name, records in self._collections.items()},
            "sequences": dict(self.sequences),
            "keys": {name: list(records) for name, records in self._collections.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Store:
        store = cls()
        keys = data.get("keys", {})
        for name, records in data.get("collections", {}).items():
            names = keys.get(name) or [str(r["id"]) for r in records]
            store._collections[name] = dict(zip(names, (freeze(r) for r in records), strict=True))
        store.sequences = dict(data.get("sequences", {}))
        return store


class Transaction:
    """The all-or-nothing block of `Store.transaction` (a class: it runs around every request).

    A block inside another undoes only its own writes when it raises (a bulk handler refuses one
    record and keeps the others); the outermost block undoes everything.
    """

    __slots__ = ("logged", "mark", "outer", "store")

    def __init__(self, store: Store) -> None:
        self.store = store
        self.outer = False
        self.mark = 0
        self.logged: Changes | None = None

    def __enter__(self) -> Store:
        store = self.store
        self.outer = store._undo is None
        if self.outer:
            store._undo = []
            if store.log is not None:  # what to log if the block is undone: only what was logged before it
                changes = store._changes
                self.logged = (
                    Changes({}, set(), set())
                    if changes is None
                    else Changes({n: dict(k) for n, k in changes.records.items()}, set(changes.sequences), set())
                )
        else:
            self.mark = len(store._undo)  # type: ignore[arg-type]
        return store

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if not self.outer:
            if kind is not None:
                # The change log keeps naming what this block wrote: the storage writes those records
                # as they now are (restored), which is harmless.
                store = self.store
                undo, store._undo = store._undo or [], None  # undoing records no new undo steps
                mine, undo[self.mark :] = undo[self.mark :], []
                for step in reversed(mine):
                    step()
                store._undo = undo
            return
        store = self.store
        undo, store._undo = store._undo, None
        if kind is not None and undo:
            for step in reversed(undo):
                step()
            if self.logged is not None:
                # Undone writes leave the records as they were; a collection copied from the base stays
                # copied (and must be written whole), which is what `whole` still says.
                store._changes = Changes(self.logged.records, self.logged.sequences, store.changes().whole)


def same(old: Any, new: Any) -> bool:
    """Equal values of the same JSON type (1 and 1.0 are the same number, True and 1 are not)."""
    return old == new and isinstance(old, bool) == isinstance(new, bool)


Bases = Callable[[str], Store]  # provider name -> its seeded base store (shared copy on write)


class Storage(Protocol):
    """Where tenants' stores and state come from: `MemoryStorage`, or `SqliteStorage` on disk.

    `persistent` storages are asked to `flush` before every answer, and keep
    what `save_tenant` gives them (a tenant's clock and faults).
    """

    persistent: bool

    def open(self, credential: str, provider: str, base: Store) -> Store:
        """The store of one provider in one tenant: the one it has, else a new one sharing `base`'s records."""
        ...

    def stores(self, credential: str, bases: Bases) -> dict[str, Store]:
        """Every store a tenant has, by provider."""
        ...

    def drop(self, credential: str) -> bool:
        """Forget every store and the state of a tenant; whether it had any."""
        ...

    def drop_all(self) -> None:
        """Forget every tenant."""
        ...

    def release(self, credential: str) -> None:
        """Let go of a tenant's stores in memory (a persistent storage keeps them on disk)."""
        ...

    def replace(self, credential: str, stores: dict[str, Store]) -> None:
        """Swap a tenant's stores for restored ones."""
        ...

    def load_tenant(self, credential: str) -> dict[str, Any] | None:
        """A tenant's saved state (`save_tenant`), or None."""
        ...

    def save_tenant(self, credential: str, state: dict[str, Any]) -> None: ...

    def flush(self) -> None:
        """Make every change so far durable."""
        ...


class MemoryStorage:
    """Stores kept in this process's memory (the default): a released tenant is gone."""

    persistent = False

    def __init__(self) -> None:
        self._stores: dict[str, dict[str, Store]] = {}

    def open(self, credential: str, provider: str, base: Store) -> Store:
        stores = self._stores.get(credential)
        if stores is None:
            stores = self._stores[credential] = {}
        store = stores.get(provider)
        if store is None:
            store = stores[provider] = Store(base)
        return store

    def stores(self, credential: str, bases: Bases) -> dict[str, Store]:
        return dict(self._stores.get(credential, {}))

    def drop(self, credential: str) -> bool:
        return self._stores.pop(credential, None) is not None

    def drop_all(self) -> None:
        self._stores.clear()

    def release(self, credential: str) -> None:
        self._stores.pop(credential, None)

    def replace(self, credential: str, stores: dict[str, Store]) -> None:
        self._stores[credential] = dict(stores)

    def load_tenant(self, credential: str) -> dict[str, Any] | None:
        return None

    def save_tenant(self, credential: str, state: dict[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass

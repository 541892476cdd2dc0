"""The store: read-only records, all-or-nothing transactions, derived indexes told of every change."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from sandbox.store import Change, FrozenList, ReadOnlyError, Store, appended, freeze, thaw


def test_stored_records_are_read_only_all_the_way_down() -> None:
    store = Store()
    stored = store.put("invoices", {"id": 1, "items": [{"amount": 5}], "meta": {"a": 1}})
    with pytest.raises(ReadOnlyError):
        stored["id"] = 2
    with pytest.raises(ReadOnlyError):
        stored["items"].append({"amount": 1})
    with pytest.raises(ReadOnlyError):
        stored["items"][0]["amount"] = 6
    with pytest.raises(ReadOnlyError):
        stored["meta"].update(b=2)
    with pytest.raises(TypeError):
        store.collection("invoices")["2"] = {"id": 2}  # type: ignore[index]
    copied = thaw(stored)
    copied["items"][0]["amount"] = 6
    assert store.get("invoices", 1)["items"][0]["amount"] == 5
    assert copy.deepcopy(stored) == stored and pickle.loads(pickle.dumps(stored)) == stored
    assert json.loads(json.dumps(stored)) == {"id": 1, "items": [{"amount": 5}], "meta": {"a": 1}}


def test_appended_shares_the_frozen_items_and_freezes_the_new_one() -> None:
    comments = freeze([{"id": "1"}, {"id": "2", "tags": ["a"]}])
    grown = appended(comments, {"id": "3", "tags": ["b"]})
    assert type(grown) is FrozenList and grown == [{"id": "1"}, {"id": "2", "tags": ["a"]}, {"id": "3", "tags": ["b"]}]
    assert all(new is old for new, old in zip(grown, comments, strict=False))  # no copy of what was frozen
    assert comments == [{"id": "1"}, {"id": "2", "tags": ["a"]}]  # the stored list is left as it was
    with pytest.raises(ReadOnlyError):
        grown[2]["tags"].append("c")
    assert appended((), {"id": "1"}) == [{"id": "1"}] and type(appended([], 1)) is FrozenList
    mixed = freeze([comments[0], {"id": "4"}, [1], 5])  # a plain list mixing frozen and unfrozen items
    assert mixed[0] is comments[0] and type(mixed[1]).__name__ == "FrozenRecord" and type(mixed[2]) is FrozenList


def test_update_makes_a_new_record_and_skips_no_op_changes() -> None:
    store = Store()
    old = store.put("tasks", {"id": "1", "done": False})
    new = store.update("tasks", "1", {"done": True})
    assert old == {"id": "1", "done": False} and new == {"id": "1", "done": True}
    assert store.update("tasks", "1", {"done": True}) is new


def test_a_transaction_that_raises_undoes_every_write_and_sequence() -> None:
    store = Store()
    store.put("tasks", {"id": "1", "done": False})
    store.put("tasks", {"id": "2", "done": False})
    before = store.to_json()
    with pytest.raises(RuntimeError), store.transaction():
        store.update("tasks", "1", {"done": True})
        store.remove("tasks", "2")
        store.insert("tasks", {"id": str(store.next_id("tasks")), "done": True})
        store.put("comments", {"id": 1})
        raise RuntimeError("refused half-way")
    assert store.to_json() == before
    with store.transaction():
        store.update("tasks", "1", {"done": True})
    assert store.get("tasks", "1")["done"] is True


class Counts:
    """A derived index that counts records per `done` value and applies each change."""

    builds = 0

    def __init__(self, store: Store) -> None:
        Counts.builds += 1
        self.counts: dict[bool, int] = {}
        for record in store.collection("tasks").values():
            self.counts[record["done"]] = self.counts.get(record["done"], 0) + 1

    def apply(self, change: Change) -> bool:
        if change.old is not None:
            self.counts[change.old["done"]] -= 1
        if change.new is not None:
            self.counts[change.new["done"]] = self.counts.get(change.new["done"], 0) + 1
        return True


def test_derived_indexes_follow_changes_and_rollbacks() -> None:
    store = Store()
    store.put("tasks", {"id": "1", "done": False})
    Counts.builds = 0
    counts = store.derived("counts", Counts, watches=("tasks",))
    assert counts.counts == {False: 1}
    store.put("tasks", {"id": "2", "done": True})
    store.update("tasks", "1", {"done": True})
    assert store.derived("counts", Counts, watches=("tasks",)).counts == {False: 0, True: 2}
    with pytest.raises(ValueError), store.transaction():
        store.remove("tasks", "1")
        raise ValueError
    assert store.derived("counts", Counts, watches=("tasks",)).counts == {False: 0, True: 2}
    store.put("other", {"id": 1})
    assert Counts.builds == 1  # kept current change by change, never rebuilt


def test_an_index_without_apply_is_rebuilt_after_a_watched_change() -> None:
    store = Store()
    store.put("tasks", {"id": "1"})
    first = store.derived("ids", lambda s: sorted(s.collection("tasks")), watches=("tasks",))
    assert store.derived("ids", lambda s: ["unused"], watches=("tasks",)) is first
    store.put("tasks", {"id": "2"})
    assert store.derived("ids", lambda s: sorted(s.collection("tasks")), watches=("tasks",)) == ["1", "2"]


def test_snapshots_restore_exactly() -> None:
    store = Store()
    store.put("tasks", {"id": "7", "nested": {"x": [1]}}, key="k7")
    store.next_id("tasks")
    restored = Store.from_json(json.loads(json.dumps(store.to_json())))
    assert restored.to_json() == store.to_json()
    with pytest.raises(ReadOnlyError):
        restored.get("tasks", "k7")["nested"]["x"].append(2)

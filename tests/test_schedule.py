"""Scheduled work: records carrying a due time, found when the tenant clock reaches it, following every write."""

from __future__ import annotations

import pytest

from sandbox.clock import seconds_of
from sandbox.schedule import scheduled
from sandbox.store import Store


def test_due_work_is_found_in_order_and_follows_writes_and_rollbacks() -> None:
    store = Store()
    store.put("tasks", {"id": "a", "_dueAt": "2026-01-01T00:00:10Z"})
    store.put("tasks", {"id": "b"})
    store.put("cases", {"id": "c", "_dueAt": "2026-01-01T00:00:05Z"})
    schedule = scheduled(store, ("tasks", "cases"), "_dueAt")
    at = seconds_of("2026-01-01T00:00:10Z")
    assert [key for _, _, key in schedule.due(at)] == ["c", "a"]
    assert [key for _, _, key in schedule.due(at - 1)] == ["c"]
    store.update("tasks", "b", {"_dueAt": "2026-01-01T00:00:01Z"})
    store.put("cases", {"id": "c"})  # done: no longer scheduled
    assert [key for _, _, key in scheduled(store, ("tasks", "cases"), "_dueAt").due(at)] == ["b", "a"]
    with pytest.raises(RuntimeError), store.transaction():
        store.remove("tasks", "a")
        raise RuntimeError
    assert [key for _, _, key in scheduled(store, ("tasks", "cases"), "_dueAt").due(at)] == ["b", "a"]


def test_seconds_of_reads_any_zone_and_refuses_nothing() -> None:
    assert seconds_of("2026-01-01T01:00:00+01:00") == seconds_of("2026-01-01T00:00:00Z")
    assert seconds_of(None) == 0.0 and seconds_of("not a time") == 0.0

"""Work that falls due on the tenant clock: records that carry their due time in a field.

A provider that finishes work later (a task resolving itself after a reply, a
delivery retried) writes the due time into the record, so a snapshot stays
plain data, and asks `scheduled(store, ...)` what is due when `settle` runs.
The schedule is a derived index of the store: it follows every write.
"""

from __future__ import annotations

from bisect import bisect_right, insort

from sandbox.clock import seconds_of
from sandbox.store import Change, Store

Entry = tuple[float, str, str]  # (due, in seconds since the epoch; collection; key)


class Schedule:
    """Every record of some collections with a due time in `field`, soonest first (then by collection, key)."""

    def __init__(self, store: Store, collections: tuple[str, ...], field: str) -> None:
        self.field = field
        self.entries: list[Entry] = sorted(
            (seconds_of(record[field]), collection, key)
            for collection in collections
            for key, record in store.collection(collection).items()
            if field in record
        )

    def apply(self, change: Change) -> bool:
        field = self.field
        if change.old is not None and field in change.old:
            self.entries.remove((seconds_of(change.old[field]), change.collection, change.key))
        if change.new is not None and field in change.new:
            insort(self.entries, (seconds_of(change.new[field]), change.collection, change.key))
        return True

    def due(self, now: float) -> list[Entry]:
        """What is due by `now` (seconds since the epoch), soonest first."""
        return self.entries[: bisect_right(self.entries, now, key=lambda entry: entry[0])]


def scheduled(store: Store, collections: tuple[str, ...], field: str) -> Schedule:
    return store.derived(f"schedule:{field}", lambda s: Schedule(s, collections, field), watches=collections)

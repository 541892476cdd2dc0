"""What the work that falls due on a clock move changed: records compared before and after.

Stored records are read-only and every write stores a new object, so a copy of
each collection's key -> record mapping (not of the records) is enough to see
afterwards which records were added, replaced or removed. The engine's own
collections (events, deliveries) are not records a user wrote: they are left
out of `settled`, and the webhook attempts the move started are read from the
deliveries instead (`attempts_started`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox import events
from sandbox.store import ENGINE_COLLECTION_PREFIX, Record, Store, same

Picture = dict[str, dict[str, dict[str, Record]]]  # provider -> collection -> key -> record
SHOWN_AT_MOST = 500


def picture(stores: Mapping[str, Store]) -> Picture:
    return {
        provider: {name: dict(store.collection(name)) for name in store.names()} for provider, store in stores.items()
    }


def settled(before: Picture, stores: Mapping[str, Store]) -> list[dict[str, Any]]:
    """Every record added, changed or removed since `before`, with the fields that changed."""
    found: list[dict[str, Any]] = []
    for provider, store in sorted(stores.items()):
        earlier = before.get(provider, {})
        for name in sorted({*earlier, *store.names()}):
            if name.startswith(ENGINE_COLLECTION_PREFIX):
                continue
            old_records = earlier.get(name, {})
            new_records = store.collection(name)
            for key in [*old_records, *(key for key in new_records if key not in old_records)]:
                old, new = old_records.get(key), new_records.get(key)
                if old is new:
                    continue
                found.append(
                    {
                        "provider": provider,
                        "collection": name,
                        "key": key,
                        "change": "added" if old is None else "removed" if new is None else "changed",
                        "fields": changed_fields(old or {}, new or {}),
                    }
                )
    return found


def attempts_started(before: Picture, stores: Mapping[str, Store]) -> list[dict[str, Any]]:
    """Every webhook delivery attempt begun since `before` (a retry whose time came, or a first attempt)."""
    found: list[dict[str, Any]] = []
    for provider, store in sorted(stores.items()):
        if events.DELIVERIES not in store.names():
            continue
        earlier = before.get(provider, {}).get(events.DELIVERIES, {})
        for key, delivery in store.collection(events.DELIVERIES).items():
            old = earlier.get(key)
            if old is delivery:
                continue
            seen = len(old["attempts"]) if old is not None else 0
            found.extend(
                {
                    "provider": provider,
                    "delivery": key,
                    "event_type": delivery["type"],
                    "attempt": attempt["number"],
                    "time": attempt["time"],
                }
                for attempt in delivery["attempts"][seen:]
            )
    return found


def changed_fields(old: Record, new: Record) -> list[dict[str, Any]]:
    names = [*old, *(name for name in new if name not in old)]
    return [
        {"name": name, "before": old.get(name), "after": new.get(name)}
        for name in names
        if name not in old or name not in new or not same(old[name], new[name])
    ]

"""Derived list indexes: a collection's records grouped and kept in list order, updated change by change.

`ListIndex` is what `Store.derived` keeps for a listed resource: records are
grouped by their scope and partition fields (`(company,)`, `(status, type)`),
each group holds its order keys sorted (the resource's `order`), and a
`FieldIndex` per operator-filtered field, so a filtered page costs what it
holds, not what the collection holds.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.resources.operators import NEGATED_OPERATORS, Filter, Key, predicate, record_key
from sandbox.store import Change, Record

# -- indexes -----------------------------------------------------------------


class FieldIndex:
    """One field of one company's records: keys and ids in (key, id) order, and each id's key.

    `keys` and `ids` are parallel lists, so the ids whose key lies in a range
    are one slice (a C-level copy), whatever the size of the range. Records
    whose field is null are in `nulls`.
    """

    def __init__(self, pairs: list[tuple[Key | None, int]] | None = None) -> None:
        ordered = sorted((key, record_id) for key, record_id in pairs or [] if key is not None)
        self.keys: list[Key] = [key for key, _ in ordered]
        self.ids: list[int] = [record_id for _, record_id in ordered]
        self.key_of: dict[int, Key] = {record_id: key for key, record_id in ordered}
        self.nulls: set[int] = {record_id for key, record_id in pairs or [] if key is None}

    def _position(self, key: Key, record_id: int) -> int:
        low = bisect.bisect_left(self.keys, key)
        high = bisect.bisect_right(self.keys, key, low)
        return bisect.bisect_left(self.ids, record_id, low, high)

    def add(self, record_id: int, key: Key | None) -> None:
        if key is None:
            self.nulls.add(record_id)
            return
        position = self._position(key, record_id)
        self.keys.insert(position, key)
        self.ids.insert(position, record_id)
        self.key_of[record_id] = key

    def remove(self, record_id: int) -> None:
        key = self.key_of.pop(record_id, None)
        if key is None:
            self.nulls.discard(record_id)
            return
        position = self._position(key, record_id)
        del self.keys[position]
        del self.ids[position]

    def matching(self, condition: Filter) -> tuple[list[tuple[int, int]], bool]:
        """Where the records that pass the filter are: ranges of positions, and whether the nulls pass."""
        keys = self.keys
        op, operands, size = condition.operator, condition.operands, len(keys)
        if op in ("eq", "notEq", "in", "notIn"):
            ranges = [
                (bisect.bisect_left(keys, value), bisect.bisect_right(keys, value))
                for value in sorted(set(operands))  # type: ignore[type-var]
            ]
            if op in NEGATED_OPERATORS:
                return complement(ranges, size), True
            return ranges, False
        if op == "bt":
            low, high = operands
            if low > high:  # type: ignore[operator]
                return [], False
            return [(bisect.bisect_left(keys, low), bisect.bisect_right(keys, high))], False
        if op == "gt":
            return [(bisect.bisect_right(keys, operands[0]), size)], False
        if op == "gte":
            return [(bisect.bisect_left(keys, operands[0]), size)], False
        if op == "lt":
            return [(0, bisect.bisect_left(keys, operands[0]))], False
        return [(0, bisect.bisect_right(keys, operands[0]))], False  # lte


def complement(ranges: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The positions of 0..size outside sorted, disjoint ranges."""
    gaps: list[tuple[int, int]] = []
    start = 0
    for low, high in ranges:
        if low > start:
            gaps.append((start, low))
        start = max(start, high)
    if start < size:
        gaps.append((start, size))
    return gaps


OrderKey = Callable[[Record], Any]


def by_id(record: Record) -> Any:
    return record["id"]


class Group:
    """The records of one group in list order (`ids` are their order keys), and a FieldIndex per filtered field.

    An order key is unique per record (it ends with the record's id); for a
    list ordered by integer id it is the id itself.
    """

    def __init__(self, records: Iterable[Record], fields: dict[str, str], order_key: OrderKey = by_id) -> None:
        self.field_kinds = fields
        self.order_key = order_key
        chosen = [(order_key(record), record) for record in records]
        self.ids: list[Any] = sorted(key for key, _ in chosen)
        self.fields = {
            field: FieldIndex([(record_key(record, field, kind), key) for key, record in chosen])
            for field, kind in fields.items()
        }

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, record: Record) -> None:
        key = self.order_key(record)
        if not self.ids or key > self.ids[-1]:
            self.ids.append(key)
        else:
            bisect.insort(self.ids, key)
        for field, kind in self.field_kinds.items():
            self.fields[field].add(key, record_key(record, field, kind))

    def remove(self, record: Record) -> None:
        key = self.order_key(record)
        position = bisect.bisect_left(self.ids, key)
        if position < len(self.ids) and self.ids[position] == key:
            del self.ids[position]
        for index in self.fields.values():
            index.remove(key)

    def update(self, record: Record) -> None:
        """A record whose order key did not change: move it in the field indexes whose key changed."""
        record_id = self.order_key(record)
        for field, kind in self.field_kinds.items():
            index = self.fields[field]
            key = record_key(record, field, kind)
            if index.key_of.get(record_id) != key:
                index.remove(record_id)
                index.add(record_id, key)

    def position_after(self, key: Any) -> int:
        return bisect.bisect_right(self.ids, key)

    def select(self, filters: list[Filter], offset: int, limit: int) -> list[int]:
        """Ids (ascending) of the page of records that pass every filter."""
        want = offset + limit
        if not filters:
            return self.ids[offset:want]
        total = len(self.ids)
        # The narrowest filter, counted with binary searches, drives the query.
        driver = filters[0]
        driver_ranges: list[tuple[int, int]] = []
        driver_nulls = False
        driver_count = total + 1
        for condition in filters:
            index = self.fields[condition.field]
            ranges, nulls = index.matching(condition)
            count = sum(max(0, high - low) for low, high in ranges) + (len(index.nulls) if nulls else 0)
            if count < driver_count:
                driver, driver_ranges, driver_nulls, driver_count = condition, ranges, nulls, count
        if driver_count == 0:
            return []
        # If matches are spread out, walking the ids in order finds `want` of them in
        # about `expected` steps. When that is much cheaper than sorting the driver's
        # matches, try it within a budget (matches may be bunched late in the id order).
        expected = want * total // driver_count
        if expected * 8 < driver_count:
            found = self._take(self.ids, filters, offset, want, budget=4 * expected + 64)
            if found is not None:
                return found
        # Otherwise sort the driver's matches (slices of ids; nearly sorted when keys follow ids).
        index = self.fields[driver.field]
        chosen: list[int] = list(index.nulls) if driver_nulls else []
        for low, high in driver_ranges:
            chosen += index.ids[low:high]
        chosen.sort()
        others = [condition for condition in filters if condition is not driver]
        if not others:
            return chosen[offset:want]
        return self._take(chosen, others, offset, want, budget=None) or []

    def _take(
        self, ids: list[int], filters: list[Filter], offset: int, want: int, budget: int | None
    ) -> list[int] | None:
        """Ids passing every filter, up to `want`, from `offset`; None if `budget` ids were looked at first."""
        checks = [(self.fields[condition.field].key_of.get, predicate(condition)) for condition in filters]
        found: list[int] = []
        if len(checks) == 1:  # the common case, without all() over a generator for every id (3x faster)
            key_of, passes = checks[0]
            for seen, record_id in enumerate(ids):
                if seen == budget:
                    return None
                if passes(key_of(record_id)):
                    found.append(record_id)
                    if len(found) >= want:
                        break
            return found[offset:]
        for seen, record_id in enumerate(ids):
            if seen == budget:
                return None
            if all(passes(key_of(record_id)) for key_of, passes in checks):
                found.append(record_id)
                if len(found) >= want:
                    break
        return found[offset:]


class ListIndex:
    """Every group of one listed collection, kept current change by change (see `Store.derived`)."""

    def __init__(
        self,
        records: Iterable[Record],
        group_fields: tuple[str, ...],
        filter_fields: dict[str, str],
        order_key: OrderKey = by_id,
        order_fields: tuple[str, ...] = ("id",),
    ) -> None:
        self.group_fields = group_fields
        self.filter_fields = filter_fields
        self.order_key = order_key
        # A change to none of these fields leaves a record where it is (the common update).
        self.placing_fields = (*group_fields, *order_fields)
        grouped: dict[tuple[Any, ...], list[Record]] = {}
        for record in records:
            grouped.setdefault(self.group_of(record), []).append(record)
        self.groups = {key: Group(chosen, filter_fields, order_key) for key, chosen in grouped.items()}

    def group_of(self, record: Record) -> tuple[Any, ...]:
        return tuple(record.get(field) for field in self.group_fields)

    def group(self, key: tuple[Any, ...]) -> Group:
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = Group([], self.filter_fields, self.order_key)
        return found

    def stays(self, old: Record, new: Record) -> bool:
        """Whether a changed record keeps its group and its place in it."""
        return all(old.get(field) == new.get(field) for field in self.placing_fields)

    def apply(self, change: Change) -> bool:
        old, new = change.old, change.new
        if old is not None and new is not None and self.stays(old, new):
            if self.filter_fields:
                self.group(self.group_of(new)).update(new)
            return True
        if old is not None:
            self.group(self.group_of(old)).remove(old)
        if new is not None:
            self.group(self.group_of(new)).add(new)
        return True

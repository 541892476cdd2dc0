"""Lists of declared resources: the list index, filters, sorting and each paging style.

`Listing` is the part of `Resources` (sandbox.resources.layer) that answers
list operations: it picks the index groups the scope and partition filters
name, walks them in list order applying the other filters, and answers a page
in the provider's style (cursor, page links, offset/limit, page metadata, or
every match).
"""

from __future__ import annotations

import bisect
import heapq
import operator
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from sandbox.clock import parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.reply import Reply
from sandbox.resources import operators
from sandbox.resources.declaration import Filter, Options, Resource
from sandbox.resources.indexes import Group, ListIndex
from sandbox.store import Record, Store


class Listing:
    """List operations of `Resources` (which provides `scope_value`, `selection`, `present`, `hook`, `find`)."""

    # -- lists ------------------------------------------------------------------

    def _list(self, call: Any, resource: Resource) -> Reply:
        options = resource.options.get(call.operation.operation_id) or Options()
        if options.parent is None:
            return self.page(call, resource, style=options.paging)
        parent = self.find(call, options.parent.resource, call.path[options.parent.param])
        return self.page(call, resource, style=options.paging, within={options.parent.field: parent["id"]})

    def index(self, store: Store, resource: Resource) -> ListIndex:
        """The resource's list index (built on first use, then kept current by the store)."""

        def build(store: Store) -> ListIndex:
            scope = self.declaration.scope
            group_fields = ((scope.field,) if scope is not None and resource.scoped else ()) + resource.partitions
            filter_fields = {f.field: f.type for f in resource.filters if f.match == "operators"}
            order_fields = (*(field for field, _ in resource.order), "id")
            records = store.collection(resource.name).values()
            return ListIndex(records, group_fields, filter_fields, order_key_of(resource), order_fields)

        return store.derived(f"list:{resource.name}", build, watches=(resource.name,))

    def page(
        self,
        call: Any,
        resource: Resource | str | None = None,
        style: str | None = None,
        within: dict[str, Any] | None = None,
    ) -> Reply:
        """One page of a resource's list, filtered, sorted and paged as the provider does it.

        `style` overrides the provider's paging style; `within` keeps only records
        whose (partition) fields hold these values (a parent's children).
        """
        resource = self._resource_of(call, resource)
        store = call.records
        query = call.query
        scope = self.scope_value(call) if resource.scoped else None
        selection = self.selection(call, resource)
        index = self.index(store, resource)
        operator_filters = operators.parse_filters(
            query, {f.param: f.type for f in resource.filters if f.match == "operators"}
        )
        operator_filters = [
            operators.Filter(self._filter_field(resource, c.field), c.operator, c.operands) for c in operator_filters
        ]
        wanted: dict[str, set[Any] | None] = {name: {value} for name, value in (within or {}).items()}
        residual: list[Callable[[Record], bool]] = []
        for spec_filter in resource.filters:
            if spec_filter.match == "operators":
                continue
            values = filter_values(spec_filter, query)
            if values is None:
                continue
            if spec_filter.field in resource.partitions and spec_filter.match in ("equals", "one-of"):
                wanted[spec_filter.field] = values
            else:
                residual.append(matcher(spec_filter, values))
        visible_hook = self.hook(resource, "visible")  # which records this call may see, when not all
        visible = visible_hook(call) if visible_hook is not None else None
        if visible is not None:
            residual.append(visible)
        if resource.retention is not None:
            residual.append(recent(resource.retention.field, call.clock_now, resource.retention.days))
        groups = self._groups(index, resource, scope, wanted)
        present_hook = self.hook(resource, "present")
        records = store.collection(resource.name)
        key_of = store_key_of(resource)
        order = sort_terms(resource, query)

        shown = self.presenter(call, resource, selection)

        paging = self.declaration.paging
        style = style or paging.style
        kinds = {f.field: f.type for f in resource.filters if f.match == "operators"}

        tests = list(residual)
        if operator_filters:
            tests.append(lambda record: passes(operator_filters, kinds, record))

        def matches(candidates: Iterator[Record]) -> Iterator[Record]:
            if not tests:
                return candidates
            if len(tests) == 1:
                return filter(tests[0], candidates)
            return (record for record in candidates if all(test(record) for test in tests))

        if order or (residual and present_hook is not None):
            # Filters and sorting see records as shown (with the fields a hook computes, such as a status).
            view = [present_hook(call, r) if present_hook else r for r in self._candidates(groups, records, key_of)]
            matching = list(matches(iter(view)))
            sort_records(matching, order, resource)
            if style == "cursor":
                return self._sorted_cursor_page(call, matching, None if present_hook else shown)
            size, start = self._page_window(call)
            window = matching[start : start + size]
            items = window if present_hook else [shown(r) for r in window]
            return self._paged(call, resource, items, len(matching), style)
        if style == "none":
            return Reply([shown(r) for r in matches(self._candidates(groups, records, key_of))])
        if style == "offset-limit":
            offset, limit = query.get(paging.position, 0), query.get(paging.size, paging.default_size)
            if len(groups) == 1 and not residual:
                keys = groups[0].select(operator_filters, offset, limit)
                return Reply([shown(records[key_of(k)]) for k in keys])
            chosen = islice(matches(self._candidates(groups, records, key_of)), offset, offset + limit)
            return Reply([shown(r) for r in chosen])
        if style == "cursor":
            start_key = self._cursor_start(call, resource, scope)
            size = query.get(paging.size, paging.default_size)
            chosen = list(islice(matches(self._candidates(groups, records, key_of, start_key)), size + 1))
            body: dict[str, Any] = {paging.items or "data": [shown(r) for r in chosen[:size]]}
            if len(chosen) > size:
                body["pagination"] = {paging.position: str(chosen[size - 1]["id"])}
            return Reply(body)
        size, start = self._page_window(call)
        if not residual and not operator_filters:
            total = sum(len(group) for group in groups)
            window = list(islice(self._candidates(groups, records, key_of, skip=start), size))
        else:
            matching = list(matches(self._candidates(groups, records, key_of)))
            total, window = len(matching), matching[start : start + size]
        return self._paged(call, resource, [shown(r) for r in window], total, style)

    def _filter_field(self, resource: Resource, param: str) -> str:
        return next(f.field for f in resource.filters if f.param == param)

    def _groups(
        self, index: ListIndex, resource: Resource, scope: str | None, wanted: dict[str, set[Any] | None]
    ) -> list[Group]:
        scoped = self.declaration.scope is not None and resource.scoped
        if not wanted and not resource.partitions:
            return [index.group((scope,) if scoped else ())]
        chosen = []
        for key, group in index.groups.items():
            values = key[1:] if scoped else key
            if scoped and key[0] != scope:
                continue
            if all(
                wanted.get(field) is None or value in wanted[field]  # type: ignore[operator]
                for field, value in zip(resource.partitions, values, strict=True)
            ):
                chosen.append(group)
        return chosen

    @staticmethod
    def _candidates(
        groups: list[Group], records: Any, key_of: Callable[[Any], str], start: Any = None, skip: int = 0
    ) -> Iterator[Record]:
        """Records of the chosen groups in list order (after the order key `start`, when given; less `skip` first)."""
        if len(groups) == 1:
            first = (0 if start is None else groups[0].position_after(start)) + skip
            return map(records.__getitem__, map(key_of, tail(groups[0].ids, first)))
        firsts = [0 if start is None else g.position_after(start) for g in groups]
        if skip:  # page-number styles, which have no cursor: each group's list is whole
            firsts = split_positions([g.ids for g in groups], skip)
        merged = heapq.merge(*(tail(g.ids, first) for g, first in zip(groups, firsts, strict=True)))
        return map(records.__getitem__, map(key_of, merged))

    def _cursor_start(self, call: Any, resource: Resource, scope: str | None) -> Any:
        paging = self.declaration.paging
        if paging.position not in call.query:
            return None
        cursor = call.query[paging.position]
        record = self.lookup(call, resource, cursor, scope)
        if record is None:
            owner = self.declaration.scope
            within = f" of {owner.collection.removesuffix('s')} {scope}" if owner and scope is not None else ""
            raise ApiError(
                ErrorKind.INVALID,
                f"{paging.position} is invalid: {cursor!r} is not a {resource.name.removesuffix('s')}{within}; "
                f"pass the pagination.{paging.position} of the previous page.",
                field=paging.position,
            )
        return order_key_of(resource)(record)

    def _page_window(self, call: Any) -> tuple[int, int]:
        paging = self.declaration.paging
        size = call.query.get(paging.size, paging.default_size)
        if paging.max_size is not None:
            size = min(max(size, 1), paging.max_size)
        number = max(call.query.get(paging.position, 1), 1)
        return size, (number - 1) * size

    def _sorted_cursor_page(self, call: Any, matching: list[Record], shown: Callable[[Record], Any] | None) -> Reply:
        """A cursor page of a list in a requested order: it starts after the record the cursor names."""
        paging = self.declaration.paging
        cursor = call.query.get(paging.position)
        start = 0
        if cursor is not None:
            ids = [str(record["id"]) for record in matching]
            if str(cursor) not in ids:
                raise ApiError(
                    ErrorKind.INVALID,
                    f"{paging.position} is invalid: {cursor} names no record of this list.",
                    field=paging.position,
                )
            start = ids.index(str(cursor)) + 1
        size = call.query.get(paging.size, paging.default_size)
        window = matching[start : start + size]
        body: dict[str, Any] = {paging.items or "data": [shown(r) for r in window] if shown else window}
        if len(matching) > start + size:
            body["pagination"] = {paging.position: str(window[-1]["id"])}
        return Reply(body)

    def _paged(self, call: Any, resource: Resource, items: list[Any], total: int, style: str) -> Reply:
        """A page of shown items in the paging style, with its metadata."""
        paging = self.declaration.paging
        size, start = self._page_window(call)
        number = start // size + 1 if size else 1
        if style == "page-links":
            last = max(1, -(-total // size))
            headers = {"Link": link_header(call, number, size, last, paging), "X-Total-Count": str(total)}
            return Reply(items, headers=headers)
        if style == "page-metadata":
            return Reply({"page": page_data(total, number, size, len(items)), paging.items or resource.name: items})
        return Reply(items)


def tail(ids: list[Any], first: int) -> Iterator[Any]:
    """`ids[first:]` without copying it, nor walking the first ones as islice would."""
    return map(ids.__getitem__, range(first, len(ids)))


def split_positions(lists: list[list[Any]], count: int) -> list[int]:
    """How many of the `count` smallest keys of several sorted lists (keys unique) each list holds, by bisection."""

    def rank(key: Any) -> int:  # how many keys of all lists are smaller
        return sum(bisect.bisect_left(ids, key) for ids in lists)

    positions = []
    for ids in lists:
        low, high = 0, len(ids)
        while low < high:  # the first position whose key is not among the `count` smallest
            middle = (low + high) // 2
            if rank(ids[middle]) < count:
                low = middle + 1
            else:
                high = middle
        positions.append(low)
    return positions


def store_key_of(resource: Resource) -> Callable[[Any], str]:
    """From an order key back to the record's store key."""
    if resource.order == (("id", False),):
        return operator.itemgetter(2) if resource.id_style == "string-sequence" else str
    if resource.id_style == "integer":
        return lambda key: str(key[-1])
    return operator.itemgetter(-1)  # string ids are their own store keys


def order_key_of(resource: Resource) -> Callable[[Record], Any]:
    """A record's position in its list: the resource's `order` terms, ending with its id (unique)."""
    if resource.order == (("id", False),):
        if resource.id_style == "string-sequence":
            return lambda record: id_order(record["id"])
        return lambda record: record["id"]
    terms = [term for term in resource.order if term[0] != "id"]

    def key(record: Record) -> tuple[Any, ...]:
        parts: list[Any] = []
        for field, descending in terms:
            value = comparable(record.get(field))
            parts.append(-value if descending else value)
        return (*parts, record["id"])

    return key


def id_order(record_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, before any other ids in text order; the id itself last."""
    return (0, int(record_id), record_id) if record_id.isdigit() else (1, 0, record_id)


def comparable(value: Any) -> Any:
    """Timestamps as seconds (ISO 8601 in any zone), numbers as they are; missing ones sort first."""
    if isinstance(value, str):
        try:
            return parse_iso8601(value).timestamp()
        except (ValueError, OverflowError):
            return 0.0
    return 0.0 if value is None else value


# -- filters and sorting ------------------------------------------------------------


def filter_values(spec_filter: Filter, query: dict[str, Any]) -> set[Any] | Any | None:
    raw = query.get(spec_filter.param, spec_filter.default)
    if raw is None:
        return None
    if spec_filter.match == "one-of":
        items = raw if isinstance(raw, list) else [part.strip() for part in str(raw).split(",") if part.strip()]
        values = set()
        for item in items:
            text = str(item)
            if spec_filter.values:
                mapped = spec_filter.values.get(text.strip().lower())
                if mapped is None and spec_filter.unknown is not None:
                    raise spec_filter.unknown.error(value=item, field=spec_filter.param)
                if mapped is None:
                    raise ApiError(
                        ErrorKind.INVALID,
                        f"{spec_filter.param}: unknown value {item!r}; use one of "
                        f"{', '.join(dict.fromkeys(spec_filter.values.values()))}.",
                        field=spec_filter.param,
                    )
                text = mapped
            values.add(text.lower() if spec_filter.case_insensitive else text)
        return values
    if spec_filter.match == "equals":
        return {raw}
    return raw


def matcher(spec_filter: Filter, values: Any) -> Callable[[Record], bool]:
    field = spec_filter.field
    if spec_filter.match == "after":
        bound = comparable(values)
        return lambda record: record.get(field) is not None and comparable(record.get(field)) > bound
    if spec_filter.match == "before":
        bound = comparable(values)
        return lambda record: record.get(field) is not None and comparable(record.get(field)) < bound
    if spec_filter.match in ("at-most", "at-least"):
        return amount_matcher(field, spec_filter.match, values)
    if spec_filter.match == "fields":
        return fields_matcher(spec_filter, values)
    if spec_filter.match == "metadata":
        wanted = dict(values)
        return lambda record: all((record.get(field) or {}).get(k) == v for k, v in wanted.items())
    if spec_filter.case_insensitive:
        return lambda record: str(record.get(field) or "").lower() in values
    return lambda record: holds_one_of(record.get(field), values)


def holds_one_of(value: Any, values: set[Any]) -> bool:
    """A one-of match: the value is one of them, or (a list field) one of its items is."""
    if isinstance(value, list):
        return any(str_or(item) in values for item in value)
    return str_or(value) in values


def amount_matcher(field: str, match: str, bound: Any) -> Callable[[Record], bool]:
    """`at-most` / `at-least` a number; the field may hold a number or a decimal string ("12.50")."""
    limit = float(bound)

    def test(record: Record) -> bool:
        try:
            value = float(record.get(field))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return value <= limit if match == "at-most" else value >= limit

    return test


def recent(field: str, now: datetime, days: int) -> Callable[[Record], bool]:
    """Records whose date-time `field` lies within the last `days` before `now` (a retention window)."""
    since = (now - timedelta(days=days)).timestamp()
    return lambda record: record.get(field) is not None and comparable(record.get(field)) >= since


def str_or(value: Any) -> Any:
    return value if not isinstance(value, int | float) or isinstance(value, bool) else str(value)


def fields_matcher(spec_filter: Filter, wanted: dict[str, Any]) -> Callable[[Record], bool]:
    """`filter[name]=value` on any of the declared fields; booleans accept true/1."""
    for name in wanted:
        if name not in spec_filter.fields:
            raise ApiError(
                ErrorKind.INVALID,
                f"Invalid filter field: {name} (filterable: {', '.join(spec_filter.fields)})",
                field=spec_filter.param,
            )
    expected = {}
    for name, value in wanted.items():
        if name in spec_filter.booleans:
            value = value is True or str(value).lower() in ("true", "1")
        elif isinstance(value, str) and name == "currency":
            value = value.lower()
        expected[name] = value

    def test(record: Record) -> bool:
        for name, value in expected.items():
            actual = record.get(name)
            if isinstance(value, str) and isinstance(actual, int | float) and not isinstance(actual, bool):
                actual = str(actual)
            if actual != value or isinstance(actual, bool) != isinstance(value, bool):
                return False
        return True

    return test


def passes(conditions: list[operators.Filter], kinds: dict[str, str], record: Record) -> bool:
    return all(
        condition.matches(operators.record_key(record, condition.field, kinds[condition.field]))
        for condition in conditions
    )


def sort_terms(resource: Resource, query: dict[str, Any]) -> list[tuple[str, bool]]:
    sorting = resource.sorting
    if sorting is None or not query.get(sorting.param):
        return []
    terms: list[tuple[str, bool]] = []
    for part in str(query[sorting.param]).split(","):
        if sorting.grammar == "colon":
            name, _, direction = part.strip().partition(":")
        elif sorting.grammar == "suffix":  # `due_date_desc`
            name, _, direction = part.strip().rpartition("_")
        else:
            words = part.split()
            if not words:
                continue
            name, direction = words[0], words[1] if len(words) > 1 else ""
        direction = direction.strip().lower() or "asc"
        field = sorting.fields.get(name.strip().lower())
        if field is None or direction not in ("asc", "desc"):
            if sorting.unknown == "ignore":
                continue
            allowed = ", ".join(sorted(sorting.fields.values()))
            raise ApiError(ErrorKind.INVALID, f"Invalid sort field: {name} (sortable: {allowed})", field=sorting.param)
        terms.append((field, direction == "desc"))
    return terms


def sort_records(records: list[Record], order: list[tuple[str, bool]], resource: Resource) -> None:
    sorting = resource.sorting
    if not order or sorting is None:
        return
    for field, descending in reversed(order):
        dated = field in sorting.dates

        def value(record: Record, field: str = field, dated: bool = dated) -> Any:
            raw = record.get(field)
            return comparable(raw) if dated and raw is not None else raw

        known = [r for r in records if value(r) is not None]
        missing = [r for r in records if value(r) is None]
        known.sort(key=value, reverse=descending)
        # "first" means smallest: before the others ascending, after them descending; "last" is always last.
        nulls_first = sorting.nulls == "first" and not descending
        records[:] = missing + known if nulls_first else known + missing


# -- page answers ---------------------------------------------------------------------


def page_data(total: int, page: int, size: int, count: int) -> Record:
    return {
        "totalResults": total,
        "pageSize": size,
        "currentPage": page,
        "responseCount": count,
        "totalPages": -(-total // size),
    }


def link_header(call: Any, page: int, per_page: int, last: int, paging: Any) -> str:
    """Links to the list's pages, keeping the other query parameters, percent-encoded (no raw `,` or `;`)."""
    kept: list[tuple[str, str]] = []
    for name, value in call.query.items():
        if name in (paging.position, paging.size):
            continue
        if isinstance(value, dict):
            kept.extend((f"{name}[{key}]", query_text(item)) for key, item in value.items())
        else:
            kept.append((name, query_text(value)))
    base = call.base_url + call.operation.path

    def url(number: int) -> str:
        params = [*kept, (paging.position, str(number))]
        if per_page != paging.default_size:
            params.append((paging.size, str(per_page)))
        return f"{base}?{urlencode(params)}"

    links = [("self", page), ("first", 1)]
    if page > 1:
        links.append(("previous", page - 1))
    if page < last:
        links.append(("next", page + 1))
    links.append(("last", last))
    return ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in links)


def query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""Operator-prefixed list filters: `gte:2024-01-01`, `in:1,2`, `bt:a,b`, a bare value meaning `eq:`.

A filter's operands (and the records' own values) become comparable keys by
the field's declared type: integer, date (YYYY-MM-DD strings sort as dates),
date-time (microseconds since the epoch, so instants in any zone compare).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.clock import parse_iso8601
from sandbox.errors import ApiError, ErrorKind

Key = Any
Record = dict[str, Any]


def short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


OPERATORS = frozenset({"eq", "notEq", "gt", "gte", "lt", "lte", "in", "notIn", "bt"})
LIST_OPERATORS = frozenset({"in", "notIn", "bt"})
NEGATED_OPERATORS = frozenset({"notEq", "notIn"})
FILTER_GRAMMAR = (
    "use VALUE, eq:VALUE, notEq:VALUE, gt:VALUE, gte:VALUE, lt:VALUE, lte:VALUE, "
    "in:VALUE,VALUE,..., notIn:VALUE,VALUE,... or bt:FROM,TO"
)
_DIGITS = re.compile(r"[0-9]{1,4000}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def instant_key(text: str) -> int:
    """A date-time as microseconds since the epoch, so instants in any zone compare correctly."""
    return (parse_iso8601(text) - _EPOCH) // _MICROSECOND


def integer_operand(text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{short(text)!r} is not an integer id (digits only, at most 4000)")
    return int(text)


def date_operand(text: str) -> str:
    if not _DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date") from None
    return text  # YYYY-MM-DD strings sort like the dates they name


def date_time_operand(text: str) -> int:
    if not _DATE_TIME.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a date-time with a zone such as 2024-01-01T20:00:00Z or 2024-01-01T20:00:00%2B02:00"
        )
    try:
        return instant_key(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a real date-time") from None


# The filterable fields of each collection, and how their operands (and the
# records' own values) become comparable keys.
OPERAND_PARSERS = {"integer": integer_operand, "date": date_operand, "date-time": date_time_operand}


def record_key(record: Record, field: str, kind: str) -> Key | None:
    value = record.get(field)
    if value is None:
        return None
    return instant_key(value) if kind == "date-time" else value


@dataclass(frozen=True)
class Filter:
    field: str
    operator: str
    operands: tuple[Key, ...]

    @property
    def negated(self) -> bool:
        return self.operator in NEGATED_OPERATORS

    def matches(self, key: Key | None) -> bool:
        """Whether a record whose field has this key (None: null) passes the filter."""
        op = self.operator
        if op == "notEq":
            return key != self.operands[0]
        if op == "notIn":
            return key not in self.operands
        if key is None:
            return False
        if op == "eq":
            return key == self.operands[0]
        if op == "in":
            return key in self.operands
        if op == "bt":
            return self.operands[0] <= key <= self.operands[1]  # type: ignore[operator]
        return COMPARISONS[op](key, self.operands[0])


COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def predicate(condition: Filter) -> Callable[[Key | None], bool]:
    """`condition.matches`, with the comparison operators resolved once instead of for every record."""
    compare = COMPARISONS.get(condition.operator)
    if compare is None:
        return condition.matches
    bound = condition.operands[0]
    return lambda key: key is not None and compare(key, bound)


def parse_filter(field: str, raw: str, kind: str) -> Filter:
    """`gte:2024-01-01` as a Filter; a bare value means `eq:`. Raises ValueError saying what is wrong."""
    head, separator, rest = raw.partition(":")
    op, text = (head, rest) if separator and head in OPERATORS else ("eq", raw)
    parts = text.split(",") if op in LIST_OPERATORS else [text]
    if op == "bt" and len(parts) != 2:
        raise ValueError(f"bt: takes exactly two values, FROM,TO (got {len(parts)})")
    if any(part == "" for part in parts):
        raise ValueError(f"{op}: is missing a value")
    parse = OPERAND_PARSERS[kind]
    return Filter(field, op, tuple(parse(part) for part in parts))


def parse_filters(query: dict[str, Any], fields: dict[str, str]) -> list[Filter]:
    """The list filters of a query; one 400 naming every malformed one."""
    filters: list[Filter] = []
    failures: list[dict[str, str]] = []
    for field, kind in fields.items():
        raw = query.get(field)
        if raw is None:
            continue
        try:
            filters.append(parse_filter(field, str(raw), kind))
        except ValueError as exc:
            failures.append({"field": field, "message": f"{field} filter {raw!r} is invalid: {exc}; {FILTER_GRAMMAR}."})
    if failures:
        raise ApiError(ErrorKind.INVALID, failures[0]["message"], field=failures[0]["field"], details=failures)
    return filters

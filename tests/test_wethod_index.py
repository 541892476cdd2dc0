"""The list index (a group's FieldIndexes, as Wethod's invoices use them) against a brute-force filter."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.resources.indexes import Group as CompanyIndex
from sandbox.resources.operators import parse_filter

# Wethod's filterable invoice fields and their operand types (as declared in specs/wethod.yaml).
INVOICE_FILTERS = {"project_id": "integer", "issue_date": "date", "payment_date": "date", "updated_at": "date-time"}

PROJECTS = st.integers(1, 6)
DATES = st.dates(date(2024, 1, 1), date(2024, 1, 8)).map(date.isoformat)
# The same instants written in different zones, with and without milliseconds.
TIME_TEXTS = [
    "2024-01-01T00:00:00.000Z",
    "2024-01-01T02:00:00+02:00",
    "2024-01-01T00:00:00.500Z",
    "2024-01-01T01:00:00Z",
    "2023-12-31T23:00:00-02:00",
    "2024-01-02T00:00:00.000Z",
]
TIMES = st.sampled_from(TIME_TEXTS)
VALUES = {"project_id": PROJECTS, "issue_date": DATES, "payment_date": DATES, "updated_at": TIMES}


@st.composite
def records(draw: st.DrawFn, record_id: int) -> dict[str, Any]:
    return {
        "id": record_id,
        "project_id": draw(PROJECTS),
        "issue_date": draw(DATES),
        "payment_date": draw(st.one_of(st.none(), DATES)),
        "updated_at": draw(TIMES),
    }


@st.composite
def filter_texts(draw: st.DrawFn) -> tuple[str, str]:
    field = draw(st.sampled_from(sorted(VALUES)))
    value = VALUES[field]
    op = draw(st.sampled_from(["", "eq:", "notEq:", "gt:", "gte:", "lt:", "lte:", "in:", "notIn:", "bt:"]))
    if op in ("in:", "notIn:"):
        operand = ",".join(map(str, draw(st.lists(value, min_size=1, max_size=3))))
    elif op == "bt:":
        operand = f"{draw(value)},{draw(value)}"
    else:
        operand = str(draw(value))
    return field, op + operand


def comparable(field: str, value: Any) -> Any:
    if value is None or field != "updated_at":
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def passes(record: dict[str, Any], field: str, text: str) -> bool:
    """The filter grammar, written out the obvious way."""
    op, _, operand = text.partition(":") if ":" in text.split("T")[0] else ("eq", "", text)
    value = comparable(field, record[field])
    parse = (lambda raw: int(raw)) if field == "project_id" else (lambda raw: comparable(field, raw))
    operands = [parse(part) for part in operand.split(",")]
    if op == "notEq":
        return value != operands[0]
    if op == "notIn":
        return value not in operands
    if value is None:
        return False
    return {
        "eq": lambda: value == operands[0],
        "gt": lambda: value > operands[0],
        "gte": lambda: value >= operands[0],
        "lt": lambda: value < operands[0],
        "lte": lambda: value <= operands[0],
        "in": lambda: value in operands,
        "bt": lambda: operands[0] <= value <= operands[1],
    }[op]()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data(), size=st.integers(0, 60))
def test_select_matches_brute_force(data: st.DataObject, size: int) -> None:
    ids = data.draw(st.lists(st.integers(1, 500), min_size=size, max_size=size, unique=True), label="ids")
    stored = {record_id: data.draw(records(record_id)) for record_id in ids}
    index = CompanyIndex(stored.values(), INVOICE_FILTERS)
    # Change the records the way the handlers do: add, remove, change in place.
    for step in range(data.draw(st.integers(0, 15), label="changes")):
        action = data.draw(st.sampled_from(["add", "remove", "update"]), label=f"change {step}")
        if action == "add":
            new_id = max(stored, default=0) + data.draw(st.integers(1, 3))
            stored[new_id] = data.draw(records(new_id))
            index.add(stored[new_id])
        elif stored and action == "remove":
            index.remove(stored.pop(data.draw(st.sampled_from(sorted(stored)))))
        elif stored:
            record = stored[data.draw(st.sampled_from(sorted(stored)))]
            record.update({key: value for key, value in data.draw(records(record["id"])).items() if key != "id"})
            index.update(record)
    conditions = data.draw(st.lists(filter_texts(), min_size=1, max_size=2) | st.lists(filter_texts(), max_size=3))
    offset = data.draw(st.just(0) | st.integers(0, 5) | st.integers(0, 70), label="offset")
    limit = data.draw(st.integers(1, 5) | st.integers(1, 100), label="limit")
    filters = [parse_filter(field, text, INVOICE_FILTERS[field]) for field, text in conditions]
    expected = sorted(
        record_id
        for record_id, record in stored.items()
        if all(passes(record, field, text) for field, text in conditions)
    )
    assert index.select(filters, offset, limit) == expected[offset : offset + limit]


def every_filter() -> list[tuple[str, str]]:
    operands = {
        "project_id": ["0", "1", "3", "6", "7"],
        "issue_date": ["2023-12-31", "2024-01-01", "2024-01-04", "2024-01-08", "2024-01-09"],
        "payment_date": ["2023-12-31", "2024-01-01", "2024-01-04", "2024-01-08", "2024-01-09"],
        "updated_at": ["2023-12-31T00:00:00Z", "2024-01-01T00:00:00Z", "2024-01-01T02:00:00.5+02:00"],
    }
    found = []
    for field, values in operands.items():
        for op in ("", "eq:", "notEq:", "gt:", "gte:", "lt:", "lte:"):
            found += [(field, op + value) for value in values]
        found += [(field, f"{op}{a},{b}") for op in ("in:", "notIn:", "bt:") for a in values for b in values]
    return found


def random_record(rng: random.Random, record_id: int) -> dict[str, Any]:
    return {
        "id": record_id,
        "project_id": rng.randint(1, 6),
        "issue_date": f"2024-01-0{rng.randint(1, 8)}",
        "payment_date": rng.choice([None, f"2024-01-0{rng.randint(1, 8)}"]),
        "updated_at": rng.choice(TIME_TEXTS),
    }


@pytest.mark.parametrize("built", ["at once", "one change at a time"])
def test_every_operator_on_both_paths(built: str) -> None:
    """Each filter alone and with a second one, on pages that walk the ids and pages that sort matches."""
    rng = random.Random(7)
    stored = {record_id: random_record(rng, record_id) for record_id in rng.sample(range(1, 5000), 400)}
    if built == "at once":
        index = CompanyIndex(stored.values(), INVOICE_FILTERS)
    else:
        index = CompanyIndex([], INVOICE_FILTERS)
        for record in stored.values():
            index.add(record)
        for record_id in rng.sample(sorted(stored), 200):
            stored[record_id].update(random_record(rng, record_id))
            index.update(stored[record_id])
        for record_id in rng.sample(sorted(stored), 50):
            index.remove(stored.pop(record_id))
    second = ("project_id", "notEq:2")
    for field, text in every_filter():
        for conditions in ([(field, text)], [(field, text), second]):
            filters = [parse_filter(name, raw, INVOICE_FILTERS[name]) for name, raw in conditions]
            expected = sorted(
                record_id
                for record_id, record in stored.items()
                if all(passes(record, name, raw) for name, raw in conditions)
            )
            for offset, limit in ((0, 1), (0, 3), (2, 5), (0, 100), (150, 100)):
                page = index.select(filters, offset, limit)
                assert page == expected[offset : offset + limit], (conditions, offset, limit)


@pytest.mark.parametrize(
    ("field", "text", "problem"),
    [
        ("project_id", "bt:1", "exactly two values"),
        ("project_id", "in:1,,2", "missing a value"),
        ("issue_date", "gte:2023-02-29", "not a real calendar date"),
        ("updated_at", "2024-01-01", "date-time with a zone"),
    ],
)
def test_parse_filter_says_what_is_wrong(field: str, text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_filter(field, text, INVOICE_FILTERS[field])


def test_a_large_company_pages_quickly() -> None:
    """100,000 invoices whose dates follow their ids (the worst case for walking ids in order)."""
    import time

    stored = [
        {
            "id": n,
            "project_id": n % 7 + 1,
            "issue_date": date.fromordinal(738000 + n // 100).isoformat(),
            "payment_date": None,
            "updated_at": "2024-01-01T00:00:00.000Z",
        }
        for n in range(1, 100_001)
    ]
    index = CompanyIndex(stored, INVOICE_FILTERS)
    queries = ["gte:2022-06-01", "bt:2021-01-01,2021-02-01", "lt:2020-01-01", "notIn:2020-01-01", "in:2021-05-05"]
    for text in queries:
        condition = parse_filter("issue_date", text, "date")
        started = time.perf_counter()
        for _ in range(10):
            page = index.select([condition], 0, 100)
        per_call = (time.perf_counter() - started) / 10
        expected = [record["id"] for record in stored if condition.matches(record["issue_date"])][:100]
        assert page == expected
        assert per_call < 0.01, f"{text}: {per_call * 1000:.1f} ms"


def test_the_filters_above_are_the_ones_the_spec_declares() -> None:
    from sandbox.resources.declaration import load_declaration
    from sandbox.spec import Spec

    spec = Spec.load(Path(__file__).resolve().parent.parent / "specs" / "wethod.yaml")
    declared = load_declaration(spec).resources["invoices"].filters
    assert {f.field: f.type for f in declared if f.match == "operators"} == INVOICE_FILTERS

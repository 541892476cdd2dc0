"""General mechanisms of the resource layer and the store that Payt's API brought in, tested on their own.

- `absent-fields: omit`: a field a record does not hold stays off the wire, in a sparse selection too;
- filters `before`, `at-most`, `at-least`, and `one-of` over a list field;
- the `suffix` sort grammar (`due_date_desc`) and cursor pages of a sorted list;
- `retention`: lists show only records of the last N days of the tenant clock;
- a nested transaction that raises undoes its own writes, the outer one goes on;
- a sparse selection's answer is checked for types, not for required members;
- `multipart/form-data` bodies (Debitura's file upload) are validated like any other: text parts as
  strings, file parts as `UploadedFile`s that keep their bytes, name and type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.errors import ApiError
from sandbox.reply import Reply
from sandbox.resources.declaration import parse_filter, parse_sorting
from sandbox.resources.fields import select
from sandbox.resources.listing import holds_one_of, matcher, recent, sort_terms
from sandbox.spec import Operation
from sandbox.store import Store


def test_omit_absent_leaves_a_missing_field_out_of_a_selection_unless_it_has_a_default() -> None:
    record = {"id": "1", "name": "x"}
    selection = {"id": None, "paused_at": None, "comments": None}
    assert select(record, selection, defaults={"comments": []}) == {"id": "1", "paused_at": None, "comments": []}
    assert select(record, selection, defaults={"comments": []}, omit_absent=True) == {"id": "1", "comments": []}


def test_before_at_most_and_at_least_filters() -> None:
    before = matcher(parse_filter("deleted_before", {"field": "deleted_at", "match": "before"}), "2026-11-02T00:00:00Z")
    assert before({"deleted_at": "2026-11-01T23:59:59Z"}) and not before({"deleted_at": "2026-11-02T00:00:00Z"})
    assert not before({})
    at_most = matcher(parse_filter("lte", {"field": "total", "match": "at-most"}), 100.0)
    at_least = matcher(parse_filter("gte", {"field": "total", "match": "at-least"}), 100.0)
    assert at_most({"total": "100.00"}) and not at_most({"total": "100.01"}) and not at_most({"total": None})
    assert at_least({"total": 100}) and not at_least({"total": "99.99"}) and not at_least({"total": "n/a"})


def test_one_of_matches_a_list_field_by_any_of_its_items() -> None:
    assert holds_one_of(["D-1", "D-2"], {"D-2"}) and not holds_one_of(["D-1"], {"D-2"})
    assert holds_one_of(5, {"5"}) and not holds_one_of(None, {"5"})


def test_the_suffix_sort_grammar_reads_field_and_direction_from_the_end() -> None:
    resource = SimpleNamespace(sorting=parse_sorting({"param": "order", "grammar": "suffix", "fields": ["due_date"]}))
    assert sort_terms(resource, {"order": "due_date_desc"}) == [("due_date", True)]  # type: ignore[arg-type]
    assert sort_terms(resource, {"order": "due_date_asc"}) == [("due_date", False)]  # type: ignore[arg-type]
    with pytest.raises(ApiError):
        sort_terms(resource, {"order": "due_date_sideways"})  # type: ignore[arg-type]


def test_retention_keeps_only_the_last_days_of_the_clock() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    kept = recent("deleted_at", now, 90)
    assert kept({"deleted_at": "2026-09-01T12:00:00Z"})  # exactly 90 days
    assert not kept({"deleted_at": "2026-09-01T11:59:59Z"})
    assert not kept({})


def test_a_nested_transaction_that_raises_undoes_only_its_own_writes() -> None:
    store = Store()
    with store.transaction():
        store.put("invoices", {"id": "1", "open": 10})
        with pytest.raises(ValueError), store.transaction():
            store.update("invoices", "1", {"open": 5})
            store.put("invoices", {"id": "2", "open": 1})
            store.next_id("payments")
            raise ValueError("refused")
        assert store.get("invoices", "1") == {"id": "1", "open": 10}
        assert store.get("invoices", "2") is None
        store.put("invoices", {"id": "3", "open": 3})
    assert sorted(store.collection("invoices")) == ["1", "3"]
    assert store.next_id("payments") == 1
    with pytest.raises(ValueError), store.transaction():
        store.put("invoices", {"id": "4"})
        raise ValueError("the outer block still undoes everything")
    assert sorted(store.collection("invoices")) == ["1", "3"]


def test_a_partial_answer_is_checked_for_types_but_not_required_members() -> None:
    from sandbox.engine import Service

    schema = {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "string"}}}
    operation = Operation(
        operation_id="getThing",
        method="GET",
        path="/things/{id}",
        parameters=[],
        body_schemas={},
        body_required=False,
        responses={"200": {"content": {"application/json": {"schema": schema}}}},
    )
    service = Service.__new__(Service)
    service._response_validators = {}
    assert service.response_problem(operation, Reply({"id": "1"})) is not None
    assert service.response_problem(operation, Reply({"id": "1"}), partial=True) is None
    assert service.response_problem(operation, Reply({"id": 1}), partial=True) is not None


def test_the_router_finds_what_a_scan_in_specificity_order_finds() -> None:
    """One alternation of every templated route answers like trying each template in turn (most literal first)."""
    import re
    from pathlib import Path

    from sandbox.spec import SPECS_DIR, Router, Spec

    for source in sorted(Path(SPECS_DIR).glob("*.yaml")):
        router = Router(Spec.load(source).operations)
        paths = {re.sub(r"\{[^}]+\}", "x1", route.template) for route in router.routes}
        paths |= {path + "/extra" for path in paths} | {path.replace("x1", "a%2Fb") for path in paths}
        for path in sorted(paths):
            expected = next(
                (
                    (route.template, route.pattern.fullmatch(path).groups())
                    for route in router.routes
                    if route.pattern.fullmatch(path)
                ),
                None,
            )
            found = router.match(path)
            shown = (found[0].template, tuple(found[1].values())) if found else None
            assert shown == expected, (source.name, path)


def test_the_router_remembers_paths_and_answers_the_same_past_its_memory() -> None:
    from sandbox import spec
    from sandbox.spec import SPECS_DIR, Router, Spec

    router = Router(Spec.load(SPECS_DIR / "payt.yaml").operations)
    first = router.match("/v1/tasks/5001")
    assert first is not None and first[0].template == "/v1/tasks/{id}" and first[1] == {"id": "5001"}
    assert router.match("/v1/tasks/5001") is first and router.match("/nowhere") is None
    for number in range(spec.MATCHES_REMEMBERED + 10):  # past the memory's size: it starts again, still right
        found = router.match(f"/v1/tasks/{number}")
        assert found is not None and found[1] == {"id": str(number)}
    assert len(router._matched) <= spec.MATCHES_REMEMBERED
    long_id = "9" * (spec.REMEMBERED_PATH_LENGTH + 1)
    found = router.match(f"/v1/tasks/{long_id}")
    assert found is not None and found[1] == {"id": long_id} and f"/v1/tasks/{long_id}" not in router._matched


def test_a_multipart_form_is_validated_as_its_fields_with_file_parts_keeping_their_bytes() -> None:
    import httpx

    from sandbox.multipart import UploadedFile
    from sandbox.validation import RequestValidator

    schema = {
        "type": "object",
        "required": ["File"],
        "properties": {"File": {"type": "string", "format": "binary"}, "Note": {"type": "string", "maxLength": 5}},
    }
    operation = Operation(
        operation_id="upload",
        method="POST",
        path="/files",
        parameters=[],
        body_schemas={"multipart/form-data": schema},
        body_required=True,
        responses={"200": {}},
    )
    validator = RequestValidator(operation)

    def parse(**parts: Any) -> Any:
        request = httpx.Request("POST", "http://sandbox/files", **parts)
        return validator.parse({}, [], {}, request.read(), request.headers["content-type"]).body

    form = parse(files={"File": ("a.pdf", b"%PDF\x00\xff", "application/pdf")}, data={"Note": "hej"})
    upload = form["File"]
    assert isinstance(upload, UploadedFile)
    assert (upload.content, upload.filename, upload.content_type, form["Note"]) == (
        b"%PDF\x00\xff",
        "a.pdf",
        "application/pdf",
        "hej",
    )
    with pytest.raises(ApiError, match="Note"):
        parse(files={"File": ("a.pdf", b"x", "application/pdf")}, data={"Note": "too long"})
    with pytest.raises(ApiError, match="File"):
        parse(files={"Other": ("a.pdf", b"x", "application/pdf")})
    with pytest.raises(ApiError, match="well-formed"):
        validator.parse({}, [], {}, b"not a form", "multipart/form-data; boundary=xyz")
    with pytest.raises(ApiError, match="boundary"):
        validator.parse({}, [], {}, b"--x--", "multipart/form-data")

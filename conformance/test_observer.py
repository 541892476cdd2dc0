"""The observer itself: it finds a response that breaks a provider's document, and passes one that does not."""

from __future__ import annotations

from conformance.observer import DOCUMENTS, Observer
from sandbox.app import create_app
from sandbox.engine import Engine, WireResponse


def test_a_response_that_breaks_the_document_is_named_and_one_that_keeps_it_is_not() -> None:
    engine: Engine = create_app().state.engine
    observer = Observer()
    good = WireResponse(200, {}, b'{"advanced": true, "state": "Active"}', "application/json")
    observer.observe(engine, "POST", "/debitura/v1/test/cases/3922dbfa-773a-5552-afbe-f62e379e3630/advance", good)
    assert observer.take() == []
    extra_member = b'{"error": "x", "message": "y", "businessErrors": [], "errors": {}}'
    bad = WireResponse(400, {}, extra_member, "application/json")
    observer.observe(engine, "GET", "/debitura/v1/cases", bad)
    (problem,) = observer.take()
    assert problem.startswith("GET /debitura/v1/cases answered 400: GET /cases 400:")
    assert "errors" in problem
    unknown = WireResponse(200, {}, b"{}", "application/json")
    observer.observe(engine, "GET", "/payt/v1/nothing-payt-documents", unknown)
    assert observer.take() == [
        "GET /payt/v1/nothing-payt-documents answered 200: GET /v1/nothing-payt-documents: "
        "the document has no such operation"
    ]
    observer.observe(engine, "GET", "/wethod/api/invoices", bad)  # not a provider with its own document
    assert observer.take() == []
    assert observer.checked == 3
    assert set(DOCUMENTS) == {"payt", "debitura"}

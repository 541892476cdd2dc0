"""The checker itself: it must find what breaks a provider's schema, and pass what does not."""

from __future__ import annotations

from conformance.reference import ReferenceDocument


def test_a_documented_task_passes_and_a_broken_one_is_named(payt_reference: ReferenceDocument) -> None:
    template = payt_reference.operation_template("GET", "/v1/tasks/5001")
    assert template == "/v1/tasks/{id}"
    schema = payt_reference.response_schema("GET", template, 200)
    assert schema is not None
    errors = payt_reference.response_errors("GET", "/v1/tasks/5001", 200, {"data": "not an object"})
    assert errors and all(error.startswith("GET /v1/tasks/{id} 200:") for error in errors)


def test_literal_paths_win_over_templates(payt_reference: ReferenceDocument) -> None:
    assert payt_reference.operation_template("GET", "/v1/invoices/deleted") == "/v1/invoices/deleted"
    assert payt_reference.operation_template("GET", "/v1/invoices/77") == "/v1/invoices/{id}"
    assert payt_reference.operation_template("GET", "/v1/nothing") is None


def test_nullable_means_null_is_allowed_and_nothing_else_changes() -> None:
    from jsonschema import Draft4Validator

    from conformance.reference import nullable_to_type

    schema = nullable_to_type({"type": "object", "properties": {"name": {"type": "string", "nullable": True}}})
    assert Draft4Validator(schema).is_valid({"name": None})
    assert not Draft4Validator(schema).is_valid({"name": 3})
    strict = nullable_to_type({"type": "object", "properties": {"name": {"type": "string"}}})
    assert not Draft4Validator(strict).is_valid({"name": None})


def test_a_bare_ref_property_may_be_null_only_when_asked() -> None:
    from jsonschema import Draft4Validator

    from conformance.reference import nullable_to_type

    document = {
        "type": "object",
        "properties": {"partner": {"$ref": "#/definitions/Partner"}, "name": {"type": "string"}},
        "definitions": {"Partner": {"type": "object"}},
    }
    assert not Draft4Validator(nullable_to_type(document)).is_valid({"partner": None})
    lenient = nullable_to_type(document, nullable_refs=True)
    assert Draft4Validator(lenient).is_valid({"partner": None})
    assert not Draft4Validator(lenient).is_valid({"partner": 3})
    assert not Draft4Validator(lenient).is_valid({"name": None})

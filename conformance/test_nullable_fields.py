"""Every field Debitura's (and Payt's) document marks nullable accepts null in requests and may be null in responses."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.nullability import nullable_paths, refuses_null, resolve
from conformance.reference import ReferenceDocument
from sandbox.spec import SPECS_DIR, Spec


def disagreements(spec_name: str, reference: ReferenceDocument) -> list[str]:
    """Places the reference allows null and the sandbox's spec refuses it, per operation, request and response."""
    document = reference.document
    found: list[str] = []
    for operation in Spec.load(SPECS_DIR / f"{spec_name}.yaml").operations:
        template = reference.operation_template(operation.method, operation.path)
        if template is None:
            continue
        documented = reference.operation(operation.method, template)
        body = resolve(document, documented.get("requestBody") or {})
        request_schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
        ours = operation.body_schemas.get("application/json")
        if request_schema is not None and ours is not None:
            for path in nullable_paths(document, request_schema):
                if refuses_null(ours, path):
                    found.append(f"{operation.operation_id} request {'.'.join(path)}")
        for status in documented.get("responses", {}):
            if not status.isdigit():
                continue
            theirs = reference.response_schema(operation.method, template, int(status))
            has_it, mine = operation.response_schema(int(status))
            if theirs is None or not has_it or mine is None:
                continue
            for path in nullable_paths(document, theirs):
                if refuses_null(mine, path):
                    found.append(f"{operation.operation_id} {status} {'.'.join(path)}")
    return sorted(set(found))


@pytest.mark.parametrize("provider", ["payt", "debitura"])
def test_what_the_document_lets_be_null_the_sandbox_lets_be_null(provider: str, request: Any) -> None:
    reference = request.getfixturevalue(f"{provider}_reference")
    assert disagreements(provider, reference) == []

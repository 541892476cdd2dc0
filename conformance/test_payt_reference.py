"""Schemathesis driven by Payt's own published document, against the sandbox (`make conformance`).

Every operation of Payt's document is called on the in-process app mounted
under `/payt`. Checks: no server error, and every response whose status Payt
documents validates against Payt's schema for it. Requests name the demo
administration (`adm_1001`) wherever they name one, so the answers are mostly
successes with real records rather than 404s for random administrations (the
sandbox's own spec is fuzzed with random ones in `make test`).
"""

from __future__ import annotations

import copy
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from conformance.reference import ReferenceDocument, reference_dir
from sandbox.app import create_app
from sandbox.engine import Settings

ADMINISTRATION = "adm_1001"
HEADERS = {"Authorization": "Bearer payt-reference"}
REFERENCE = ReferenceDocument(reference_dir() / "payt-openapi.json")


def payt_document() -> dict[str, Any]:
    document = copy.deepcopy(REFERENCE.document)
    document["servers"] = [{"url": "/payt"}]
    return document


schema = schemathesis.openapi.from_dict(payt_document())
schema.app = create_app(Settings(validate_responses=True))


def in_demo_administration(case: Any) -> None:
    if isinstance(case.query, dict) and "administration_id" in case.query:
        case.query["administration_id"] = ADMINISTRATION
    if isinstance(case.body, dict) and "administration_id" in case.body:
        case.body["administration_id"] = ADMINISTRATION


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_sandbox_answers_payts_document(case: Any) -> None:
    in_demo_administration(case)
    response = case.call(headers=HEADERS)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    path = case.formatted_path
    if case.method.lower() != case.operation.method.lower():
        return  # a method the document does not give this path (405 is checked by the sandbox's own tests)
    if not REFERENCE.documents_status(case.method, case.path, response.status_code):
        return
    body = response.json() if response.content else None
    errors = REFERENCE.response_errors(case.method, path, response.status_code, body)
    assert errors == [], "\n".join(errors)

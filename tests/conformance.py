"""Schemathesis over one provider's spec, against the in-process app.

Each `test_<provider>_conformance.py` builds its test with `conformance_test`.
The app runs with response validation on, so a response that breaks the spec
is a 500 and fails the server-error check as well as the schema checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = 40
FROZEN_AT = "2026-12-01T09:00:00Z"


def conformance_test(
    spec_name: str, headers: dict[str, str], max_examples: int = MAX_EXAMPLES, frozen_tenant: str | None = None
) -> Callable[..., Any]:
    """`frozen_tenant`: the credential whose clock is frozen first, so work the provider finishes later
    (Debitura's tasks) does not finish part-way through the run at a moment that depends on the machine's load."""
    app = create_app(Settings(validate_responses=True))
    if frozen_tenant is not None:
        with TestClient(app) as client:
            frozen = client.post(f"/__sandbox/tenants/{frozen_tenant}/clock", json={"frozen": True, "set": FROZEN_AT})
            assert frozen.status_code == 200, frozen.text
    schema = schemathesis.openapi.from_asgi(f"/__sandbox/specs/{spec_name}.yaml", app)

    @schema.parametrize()
    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def test(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return test

"""Schemathesis from outside, against a real server: requests every spec forbids are refused, over every spec.

The schemas are the ones the server publishes at `/__sandbox/specs/`; the
requests go over a socket to a real server, as a client's would. Only negative data is generated
(each request breaks its operation's schema somewhere: a wrong type, a missing
required field or parameter, a value out of range); the sandbox must refuse
it with a documented status, in a documented shape, and never answer 5xx.

Operations that take no input at all (no parameter, no body: `GET /health`,
`POST /reset`, Debitura's `GET /me`, ...) have nothing to break (schemathesis
does not negate credentials); they are left out by name rather than reported
as skipped. The positive schemathesis runs cover them, and the auth tests
their refusals.

Parameters an operation does not list are not counted as a violation: every
provider ignores unknown query parameters (their specs say so), so the
generator is told not to add them (`allow_extra_parameters=False`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from sandbox.app import create_app
from sandbox.engine import Settings
from sandbox.testing import running_server

CHECKS = [
    negative_data_rejection,
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 15  # per operation; enough to cover each parameter and field once or twice, in seconds
# Each provider's credential, sent unless the case itself carries that header (a spec that declares it as
# a parameter has schemathesis generate it, wrong values included). Every other header comes from the case.
CREDENTIALS: dict[str, dict[str, str]] = {
    "payt": {"Authorization": "Bearer negative-payt"},
    "wethod": {"Authorization": "Bearer negative-wethod"},
    "invoiced": {"Authorization": "Basic " + base64.b64encode(b"negative-invoiced:").decode()},
    "debitura": {"XApiKey": "negative-debitura"},
    "sandbox": {},
    "debitura.admin": {},
}
# The HTTP server (uvicorn's httptools parser) refuses a request line longer than this before the app sees
# it, with a plain-text 400: a transport limit no spec describes, as a proxy's 414 would be.
SERVER_URL_LIMIT = 65536


SPECS = create_app().state.engine.all_specs()  # what the server serves at /__sandbox/specs/{name}.yaml


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A real server of its own (response validation on): what the generator sends can reach every tenant."""
    with running_server(create_app(Settings(validate_responses=True))) as url:
        yield url


def without_input(raw: dict[str, Any]) -> list[str]:
    """The operations with no parameter and no body: no request to them can break their schema."""
    return [
        operation["operationId"]
        for item in raw["paths"].values()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
        and not item.get("parameters")
        and not operation.get("parameters")
        and "requestBody" not in operation
    ]


def negative_test(spec_name: str) -> Callable[..., Any]:
    raw = SPECS[spec_name].raw
    mount = raw["servers"][0]["url"]
    schema = schemathesis.openapi.from_dict(raw)
    inputless = without_input(raw)
    if inputless:
        schema = schema.exclude(operation_id=inputless)
    schema.config.generation.update(
        modes=[GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
        allow_extra_parameters=False,
    )

    @schema.parametrize()
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def test(case: Any, server: str) -> None:
        sent = {name.lower() for name in case.headers or {}}
        credential = {name: value for name, value in CREDENTIALS[spec_name].items() if name.lower() not in sent}
        response = case.call(base_url=f"{server}{mount}", headers=credential)
        if len(response.request.url) > SERVER_URL_LIMIT:
            assert (response.status_code, response.text) == (400, "Invalid HTTP request received.")
            return
        case.validate_response(response, checks=CHECKS)

    return test


test_payt_refuses_what_its_spec_forbids = negative_test("payt")
test_wethod_refuses_what_its_spec_forbids = negative_test("wethod")
test_invoiced_refuses_what_its_spec_forbids = negative_test("invoiced")
test_debitura_refuses_what_its_spec_forbids = negative_test("debitura")
test_the_admin_api_refuses_what_its_spec_forbids = negative_test("sandbox")
test_debituras_admin_helpers_refuse_what_their_spec_forbids = negative_test("debitura.admin")

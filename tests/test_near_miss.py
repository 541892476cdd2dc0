"""Near misses: a call that matches no operation names the ones it probably meant; refusals say why."""

from __future__ import annotations

import base64

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sandbox.near_miss import closest_operations
from sandbox.reply import Reply
from sandbox.spec import Spec

BEARER = {"Authorization": "Bearer near-miss"}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"near-miss:").decode()}
API_KEY = {"XApiKey": "near-miss"}

MISSES = [
    pytest.param("payt", "GET", "/payt/v1/task/5001", BEARER, "GET /payt/v1/tasks/{id}", id="payt"),
    pytest.param("invoiced", "GET", "/invoiced/invoice/12", BASIC, "GET /invoiced/invoices/{id}", id="invoiced"),
    pytest.param("wethod", "GET", "/wethod/api/invoice/1", BEARER, "GET /wethod/api/invoices/{id}", id="wethod"),
    pytest.param(
        "debitura",
        "GET",
        "/debitura/v1/case/x/timeline",
        API_KEY,
        "GET /debitura/v1/cases/{id}/timeline",
        id="debitura",
    ),
    pytest.param("sandbox", "GET", "/__sandbox/helth", {}, "GET /__sandbox/health", id="admin"),
]


def envelope_problem(app: Starlette, provider: str, suggested: str, body: object, status: int) -> str | None:
    """Why `body` breaks the 404 response the suggested operation documents (its provider's error envelope)."""
    engine = app.state.engine
    service = next(s for s in engine.services if s.provider.name == provider)
    method, path = suggested.split(" ")
    suggestion = [op for op in service.operations if op.method == method and service.mount + op.path == path]
    assert suggestion, f"{suggested} is not an operation of {provider}"
    documenting = [op for op in service.operations if "404" in op.responses]  # the admin's health has no 404
    operation = suggestion[0] if "404" in suggestion[0].responses else documenting[0]
    return service.response_problem(operation, Reply(body, 404 if status == 405 else status))


@pytest.mark.parametrize(("provider", "method", "path", "headers", "suggested"), MISSES)
def test_an_unknown_path_names_the_closest_operation_in_the_providers_envelope(
    app: Starlette, client: TestClient, provider: str, method: str, path: str, headers: dict, suggested: str
) -> None:
    response = client.request(method, path, headers=headers)
    assert response.status_code == 404
    assert f"No operation matches {method} {path}; did you mean {suggested}?" in response.text
    assert envelope_problem(app, provider, suggested, response.json(), 404) is None


def test_the_example_of_the_issue(client: TestClient) -> None:
    response = client.get("/payt/v1/task/5001", headers=BEARER)
    assert (
        response.json()["message"]
        == "No operation matches GET /payt/v1/task/5001; did you mean GET /payt/v1/tasks/{id}?"
    )


def test_a_wrong_method_names_the_operations_with_that_method_nearby(app: Starlette, client: TestClient) -> None:
    response = client.post("/wethod/api/invoices/1:sned", headers=BEARER)
    assert response.status_code == 405
    message = response.json()["message"]
    assert message.startswith("POST is not allowed on /wethod/api/invoices/1:sned; allowed: DELETE, GET, PATCH;")
    assert "did you mean POST /wethod/api/invoices/{id}:send" in message
    assert envelope_problem(app, "wethod", "POST /wethod/api/invoices/{id}:send", response.json(), 405) is None


def test_nothing_close_means_no_suggestion(client: TestClient) -> None:
    response = client.get("/payt/zzz/yyy/xxx/www", headers=BEARER)
    assert response.status_code == 404
    assert response.json()["message"] == "No operation matches GET /payt/zzz/yyy/xxx/www."


def test_the_same_method_ranks_first() -> None:
    spec = Spec(
        "t",
        """
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /v1/tasks/{id}:
    get: {operationId: getTask, responses: {"200": {description: ok}}}
    delete: {operationId: deleteTask, responses: {"204": {description: ok}}}
  /v1/tasks: {get: {operationId: listTasks, responses: {"200": {description: ok}}}}
  /v2/other/things: {get: {operationId: other, responses: {"200": {description: ok}}}}
""",
        "t.yaml",
    )
    names = [op.operation_id for op in closest_operations("DELETE", "/v1/task/7", spec.operations)]
    assert names[0] == "deleteTask" and "other" not in names


def test_a_route_miss_is_journaled_with_its_reason(client: TestClient) -> None:
    client.get("/payt/v1/task/5001", headers=BEARER)
    entries = client.get("/__sandbox/tenants/near-miss/requests", params={"status": "4xx"}).json()["requests"]
    assert [(e["path"], e["status"], e["operation"]) for e in entries] == [("/payt/v1/task/5001", 404, None)]
    reason = entries[0]["reason"]
    assert reason["stage"] == "route" and "did you mean GET /payt/v1/tasks/{id}" in reason["message"]


REFUSALS = [
    # (method, path, kwargs, status, stage, field, rule)
    pytest.param(
        "PATCH",
        "/payt/v1/tasks/5001/mark_completed",
        {"json": {"administration_id": "adm_1001", "completed_status": "maybe"}},
        422,
        "validation",
        "completed_status",
        "enum",
        id="validation",
    ),
    pytest.param(
        "PATCH",
        "/payt/v1/tasks/5001/mark_completed",
        {"json": {"completed_status": "succeeded"}},
        422,
        "validation",
        "administration_id",
        "required",
        id="required",
    ),
    pytest.param(
        "GET",
        "/payt/v1/tasks/999999",
        {"params": {"administration_id": "adm_1001"}},
        404,
        "not_found",
        None,
        None,
        id="missing",
    ),
    pytest.param("DELETE", "/payt/v1/tasks/5001", {}, 405, "route", None, None, id="method"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "stage", "field", "rule"), REFUSALS)
def test_every_refused_call_carries_its_reason(
    client: TestClient,
    method: str,
    path: str,
    kwargs: dict,
    status: int,
    stage: str,
    field: str | None,
    rule: str | None,
) -> None:
    response = client.request(method, path, headers=BEARER, **kwargs)
    assert response.status_code == status, response.text
    entries = client.get("/__sandbox/tenants/near-miss/requests", params={"status": "4xx"}).json()["requests"]
    assert len(entries) == 1
    reason = entries[0]["reason"]
    assert reason["stage"] == stage
    assert reason["message"] == response.json()["message"]
    assert reason["field"] == field and reason["rule"] == rule


def test_state_and_fault_refusals_are_told_apart(client: TestClient) -> None:
    headers = {**BEARER, "Wethod-Company": "acme", "Wethod-Version": "2024-06-15"}
    state = client.post("/wethod/api/invoices/1:set-unpaid", headers=headers)  # fixtures: invoice 1 is not paid
    assert state.status_code == 412, state.text
    fault = client.post("/__sandbox/tenants/near-miss/faults", json={"path": "/wethod/api/invoices", "status": 503})
    assert fault.status_code == 201
    faulted = client.get("/wethod/api/invoices", headers=headers)
    assert faulted.status_code == 503
    entries = client.get("/__sandbox/tenants/near-miss/requests").json()["requests"]
    stages = [(e["status"], (e["reason"] or {}).get("stage")) for e in entries]
    assert stages == [(state.status_code, "state"), (503, "fault")]


def test_a_successful_call_has_no_reason(client: TestClient) -> None:
    assert client.get("/payt/v1/tasks", params={"administration_id": "adm_1001"}, headers=BEARER).status_code == 200
    entries = client.get("/__sandbox/tenants/near-miss/requests", params={"status": "2xx"}).json()["requests"]
    assert [e["reason"] for e in entries] == [None]


def test_a_path_under_no_mount_names_the_closest_operation_of_any_provider(client: TestClient) -> None:
    response = client.get("/pay/v1/tasks/5001")
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    # The best first; a runner-up as close as the best (within CLOSE_TO_BEST) is named too.
    assert message.startswith(
        "Nothing is served at /pay/v1/tasks/5001;"
        " did you mean GET /payt/v1/tasks/{id} or GET /payt/v1/credit_cases/{id}? Mounted:"
    )


def test_a_very_long_unknown_path_gets_its_404(client: TestClient) -> None:
    path = "/payt/v1/" + "/".join(["t" * 3000] * 15)  # similarity compares only a segment's first characters
    response = client.get(path, headers=BEARER)
    assert response.status_code == 404
    assert response.json()["message"].startswith("No operation matches GET /payt/v1/ttttt")

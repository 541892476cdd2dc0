"""Malformed requests get a clear error in the provider's format and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

TOKEN = "bad-input-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = "adm_1001"


def snapshot(client: TestClient) -> dict[str, Any]:
    response = client.get(f"/__sandbox/tenants/{TOKEN}/state")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def frozen(client: TestClient) -> TestClient:
    client.post(f"/__sandbox/tenants/{TOKEN}/clock", json={"frozen": True})
    client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)  # seed the tenant
    return client


BAD_WRITES = [
    pytest.param(
        {"content": b"{not json", "headers": {"content-type": "application/json"}}, "not valid JSON", id="bad-json"
    ),
    pytest.param(
        {"content": b"administration_id=adm_1001", "headers": {"content-type": "text/plain"}},
        "Unsupported Content-Type",
        id="wrong-content-type",
    ),
    pytest.param({"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}, "UTF-8", id="not-utf8"),
    pytest.param(
        {"json": {"administration_id": ADMIN, "completed_status": "maybe"}},
        "completed_status is invalid",
        id="bad-enum",
    ),
    pytest.param({"json": {"administration_id": 5}}, "administration_id is invalid", id="wrong-type"),
    pytest.param({"json": {}}, "administration_id is missing", id="missing-field"),
    pytest.param({"json": [1, 2]}, "body is invalid", id="array-body"),
    pytest.param({"json": {"administration_id": "adm_404"}}, "adm_404", id="unknown-administration"),
]


@pytest.mark.parametrize(("request_kwargs", "message"), BAD_WRITES)
def test_bad_mark_completed_is_refused_and_changes_nothing(
    frozen: TestClient, request_kwargs: dict[str, Any], message: str
) -> None:
    before = snapshot(frozen)
    headers = {**AUTH, **request_kwargs.pop("headers", {})}
    response = frozen.patch("/payt/v1/tasks/5001/mark_completed", headers=headers, **request_kwargs)
    assert response.status_code in (404, 422)
    assert set(response.json()) == {"code", "message"}
    assert message in response.json()["message"]
    assert snapshot(frozen) == before


def test_huge_body_is_413_and_changes_nothing(frozen: TestClient) -> None:
    before = snapshot(frozen)
    body = b'{"administration_id": "adm_1001", "comment": "' + b"x" * (1 << 20) + b'"}'
    response = frozen.post(
        "/payt/v1/tasks/5001/comment", content=body, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert snapshot(frozen) == before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"per_page": "0"}, "per_page is invalid"),
        ({"per_page": "501"}, "per_page is invalid"),
        ({"per_page": "ten"}, "per_page is invalid"),
        ({"cursor": "no-such-task"}, "cursor is invalid"),
        ({"cursor": "6001"}, "cursor is invalid"),  # a task of another administration
        ({"updated_after": "yesterday"}, "updated_after is invalid"),
    ],
)
def test_bad_list_parameters_are_422(frozen: TestClient, params: dict[str, str], message: str) -> None:
    response = frozen.get("/payt/v1/tasks", params={"administration_id": ADMIN, **params}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_parameters"
    assert response.json()["message"].startswith(message)


def test_another_tenants_task_is_not_found(client: TestClient) -> None:
    mine = {"Authorization": "Bearer tenant-a"}
    client.post("/__sandbox/tenants/tenant-b/fixtures", json={"payt": {"tasks": [new_task("777")]}})
    response = client.get("/payt/v1/tasks/777", params={"administration_id": ADMIN}, headers=mine)
    assert response.status_code == 404
    theirs = client.get(
        "/payt/v1/tasks/777", params={"administration_id": ADMIN}, headers={"Authorization": "Bearer tenant-b"}
    )
    assert theirs.status_code == 200


def new_task(task_id: str) -> dict[str, Any]:
    return {
        "id": task_id,
        "administration_id": ADMIN,
        "subject": "Loaded by a test",
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"administration_id": "adm_1001", "comment": "\\ud800"}', "comment is invalid: it contains an unpaired"),
        (b'{"administration_id": "adm_1001", "comment": "x", "n": NaN}', "not valid JSON"),
        (b'{"administration_id": "adm_1001", "comment": "x", "n": 1e999}', "not valid JSON"),
        (b"[" * 100000 + b"]" * 100000, "body"),
    ],
)
def test_bodies_json_cannot_carry_safely_are_refused(frozen: TestClient, raw: bytes, message: str) -> None:
    before = snapshot(frozen)
    response = frozen.post(
        "/payt/v1/tasks/5001/comment", content=raw, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert message in response.json()["message"]
    assert snapshot(frozen) == before

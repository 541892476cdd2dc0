"""Payt's task API through HTTP: reads, pagination, fields, state changes, auth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

TOKEN = "payt-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = "adm_1001"


def get_task(client: TestClient, task_id: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/payt/v1/tasks/{task_id}", params={"administration_id": ADMIN, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def test_lists_the_administration_tasks_in_id_order_without_comments(client: TestClient) -> None:
    response = client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert [task["id"] for task in body["data"]] == ["5001", "5002", "5003", "5004"]
    assert all(task["administration_id"] == ADMIN for task in body["data"])
    assert all("comments" not in task for task in body["data"])
    assert "pagination" not in body


def test_cursor_pagination_walks_every_task_once(client: TestClient) -> None:
    seen: list[str] = []
    params = {"administration_id": ADMIN, "per_page": "1"}
    while True:
        body = client.get("/payt/v1/tasks", params=params, headers=AUTH).json()
        seen.extend(task["id"] for task in body["data"])
        if "pagination" not in body:
            break
        assert body["pagination"]["cursor"] == body["data"][-1]["id"]
        params["cursor"] = body["pagination"]["cursor"]
    assert seen == ["5001", "5002", "5003", "5004"]


def test_ids_and_updated_after_filter_the_list(client: TestClient) -> None:
    params = {"administration_id": ADMIN, "ids": "5004, 5001,9999"}
    assert [t["id"] for t in client.get("/payt/v1/tasks", params=params, headers=AUTH).json()["data"]] == [
        "5001",
        "5004",
    ]
    params = {"administration_id": ADMIN, "updated_after": "2026-11-10T14:02:11Z"}
    ids = [t["id"] for t in client.get("/payt/v1/tasks", params=params, headers=AUTH).json()["data"]]
    assert ids == ["5003", "5004"]


def test_fields_selects_nested_fields_and_comments(client: TestClient) -> None:
    fields = json.dumps({"only": ["id", {"assigned_to_user": ["name"]}, "comments"]})
    task = get_task(client, "5001", fields=fields)
    assert task == {
        "id": "5001",
        "assigned_to_user": {"name": "Sanne de Vries"},
        "comments": [{"id": "1", "content": "Left a voicemail.", "created_at": "2026-11-10T14:02:11Z"}],
    }


@pytest.mark.parametrize(
    "fields",
    ['{"only": ["nope"]}', "not json", '["id"]', '{"only": [{"subject": ["x"]}]}', '{"only": [1]}'],
)
def test_bad_fields_are_a_422_naming_fields(client: TestClient, fields: str) -> None:
    response = client.get("/payt/v1/tasks/5001", params={"administration_id": ADMIN, "fields": fields}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_parameters"
    assert response.json()["message"].startswith("fields is invalid")


def test_mark_completed_records_completion_and_comment(client: TestClient) -> None:
    client.post("/__sandbox/tenants/payt-test-token/clock", json={"set": "2026-11-22T10:00:00Z", "frozen": True})
    response = client.patch(
        "/payt/v1/tasks/5002/mark_completed",
        data={
            "administration_id": ADMIN,
            "completed_status": "failed",
            "completed_status_message": "Debtor unreachable",
            "comment": "Tried three times",
        },
        headers=AUTH,
    )
    assert response.status_code == 200
    task = response.json()
    assert task["completed_at"] == "2026-11-22T10:00:00Z"
    assert task["updated_at"] == "2026-11-22T10:00:00Z"
    assert task["completed_status"] == "failed"
    assert task["completed_status_message"] == "Debtor unreachable"
    comments = get_task(client, "5002", fields='{"only": ["comments"]}')["comments"]
    assert [c["content"] for c in comments] == ["Tried three times"]


def test_marking_a_completed_task_again_is_a_422_that_changes_nothing(client: TestClient) -> None:
    before = get_task(client, "5003", fields='{"only": ["id", "completed_at", "updated_at", "comments"]}')
    response = client.patch(
        "/payt/v1/tasks/5003/mark_completed", json={"administration_id": ADMIN, "comment": "again"}, headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["code"] == "already_completed"
    assert "already completed" in response.json()["message"]
    assert get_task(client, "5003", fields='{"only": ["id", "completed_at", "updated_at", "comments"]}') == before


def test_unmark_clears_completion_and_is_idempotent(client: TestClient) -> None:
    client.post("/__sandbox/tenants/payt-test-token/clock", json={"set": "2026-11-22T10:00:00Z", "frozen": True})
    first = client.patch("/payt/v1/tasks/5003/unmark_completed", json={"administration_id": ADMIN}, headers=AUTH)
    assert first.status_code == 200
    # Payt sends no nulls: an open task has no completion fields at all.
    assert not {"completed_at", "completed_status", "completed_status_message"} & set(first.json())
    assert first.json()["updated_at"] == "2026-11-22T10:00:00Z"
    client.post("/__sandbox/tenants/payt-test-token/clock", json={"advance": 60})
    second = client.patch("/payt/v1/tasks/5003/unmark_completed", json={"administration_id": ADMIN}, headers=AUTH)
    assert second.status_code == 200
    assert second.json() == first.json()


def test_comment_answers_201_and_appears_on_the_task(client: TestClient) -> None:
    response = client.post(
        "/payt/v1/tasks/5001/comment", data={"administration_id": ADMIN, "comment": "Called again"}, headers=AUTH
    )
    assert response.status_code == 201
    assert response.json() == {"success": True, "count": 1, "errors": {}}
    comments = get_task(client, "5001", fields='{"only": ["comments"]}')["comments"]
    assert [c["content"] for c in comments] == ["Left a voicemail.", "Called again"]


def test_tasks_are_scoped_by_administration(client: TestClient) -> None:
    response = client.get("/payt/v1/tasks/6001", params={"administration_id": ADMIN}, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Task 6001 not found in administration adm_1001."}
    unknown = client.get("/payt/v1/tasks", params={"administration_id": "adm_404"}, headers=AUTH)
    assert unknown.status_code == 404
    assert "adm_404" in unknown.json()["message"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer a b"}],
)
def test_missing_or_malformed_credentials_are_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_token_scopes_and_administrations_limit_access(client: TestClient) -> None:
    readonly = {"Authorization": "Bearer demo_payt_readonly"}
    assert client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=readonly).status_code == 200
    refused = client.post(
        "/payt/v1/tasks/5001/comment", json={"administration_id": ADMIN, "comment": "x"}, headers=readonly
    )
    assert refused.status_code == 403
    assert refused.json() == {"code": "forbidden", "message": "Missing permission: tasks:write"}

    acme_only = {"Authorization": "Bearer demo_payt_acme_only"}
    assert client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=acme_only).status_code == 200
    other = client.get("/payt/v1/tasks", params={"administration_id": "adm_2002"}, headers=acme_only)
    assert other.status_code == 403
    assert other.json()["code"] == "forbidden"


def test_each_token_is_its_own_world(client: TestClient) -> None:
    other = {"Authorization": "Bearer someone-else"}
    client.patch("/payt/v1/tasks/5001/mark_completed", json={"administration_id": ADMIN}, headers=AUTH)
    assert get_task(client, "5001")["completed_at"] is not None
    theirs = client.get("/payt/v1/tasks/5001", params={"administration_id": ADMIN}, headers=other).json()
    assert "completed_at" not in theirs


def test_unknown_path_and_wrong_method_answer_in_payts_envelope(client: TestClient) -> None:
    missing = client.get("/payt/v1/nothing", headers=AUTH)
    assert missing.status_code == 404
    assert set(missing.json()) == {"code", "message"}
    wrong = client.delete("/payt/v1/tasks/5001", headers=AUTH)
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert wrong.json()["code"] == "method_not_allowed"


def test_an_encoded_slash_stays_inside_a_path_parameter(client: TestClient) -> None:
    task = {
        "id": "A/7",
        "administration_id": ADMIN,
        "subject": "Slash in the id",
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
    }
    assert client.post(f"/__sandbox/tenants/{TOKEN}/fixtures", json={"payt": {"tasks": [task]}}).status_code == 200
    assert get_task(client, "A%2F7")["id"] == "A/7"
    assert client.get("/payt/v1/tasks/A/7", params={"administration_id": ADMIN}, headers=AUTH).status_code == 404


def test_a_task_without_comments_shows_an_empty_list_when_fields_asks(client: TestClient) -> None:
    assert get_task(client, "5004", fields='{"only": ["id", "comments"]}') == {"id": "5004", "comments": []}
    assert "comments" not in get_task(client, "5004")

"""The admin API: health, resets, clocks, journal, fixtures, specs."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

AUTH = {"Authorization": "Bearer admin-test"}
ADMIN = "adm_1001"


def mark(client: TestClient, task_id: str = "5001") -> int:
    return client.patch(
        f"/payt/v1/tasks/{task_id}/mark_completed", json={"administration_id": ADMIN}, headers=AUTH
    ).status_code


def completed_at(client: TestClient, task_id: str = "5001") -> str | None:
    task = client.get(f"/payt/v1/tasks/{task_id}", params={"administration_id": ADMIN}, headers=AUTH).json()
    return task.get("completed_at")  # Payt sends no nulls: an open task has no completed_at


def test_health_lists_the_served_providers(client: TestClient) -> None:
    body = client.get("/__sandbox/health").json()
    assert body["status"] == "ok"
    assert "payt" in body["providers"]


def test_the_specs_are_served_as_written(client: TestClient) -> None:
    response = client.get("/__sandbox/specs/payt.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    with open("specs/payt.yaml", encoding="utf-8") as spec:
        assert response.text == spec.read()
    assert client.get("/__sandbox/specs/sandbox.yaml").status_code == 200
    assert client.get("/__sandbox/specs/nothing.yaml").status_code == 404


def test_reset_of_one_tenant_reseeds_it_and_spares_the_others(client: TestClient) -> None:
    other = {"Authorization": "Bearer bystander"}
    assert mark(client) == 200
    client.patch("/payt/v1/tasks/5001/mark_completed", json={"administration_id": ADMIN}, headers=other)
    assert client.post("/__sandbox/tenants/admin-test/reset").json() == {"reset": True}
    assert completed_at(client) is None
    theirs = client.get("/payt/v1/tasks/5001", params={"administration_id": ADMIN}, headers=other).json()
    assert theirs["completed_at"] is not None


def test_reset_all_drops_every_tenant(client: TestClient) -> None:
    assert mark(client) == 200
    assert client.post("/__sandbox/reset").json()["reset"] >= 1
    assert completed_at(client) is None


def test_the_clock_can_be_frozen_set_and_advanced(client: TestClient) -> None:
    clock = "/__sandbox/tenants/admin-test/clock"
    assert client.post(clock, json={"frozen": True, "set": "2030-01-01T00:00:00Z"}).json() == {
        "now": "2030-01-01T00:00:00Z",
        "frozen": True,
    }
    assert client.post(clock, json={"advance": 90}).json()["now"] == "2030-01-01T00:01:30Z"
    assert mark(client) == 200
    assert completed_at(client) == "2030-01-01T00:01:30Z"
    assert client.get(clock).json() == {"now": "2030-01-01T00:01:30Z", "frozen": True}
    assert client.post(clock, json={"frozen": False}).json()["frozen"] is False


@pytest.mark.parametrize(
    "change",
    [{}, {"advance": -1}, {"set": "tomorrow"}, {"set": "9999-12-31T23:59:59Z", "advance": 10}, {"speed": 2}],
)
def test_bad_clock_changes_are_400(client: TestClient, change: dict[str, object]) -> None:
    response = client.post("/__sandbox/tenants/admin-test/clock", json=change)
    assert response.status_code == 400
    assert set(response.json()["error"]) >= {"code", "message"}


def test_the_journal_records_each_call_with_its_operation_and_masks_the_credential(client: TestClient) -> None:
    client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
    mark(client)
    client.get("/payt/v1/tasks", headers=AUTH)  # 422: administration_id missing
    entries = client.get("/__sandbox/tenants/admin-test/requests").json()["requests"]
    assert [(e["method"], e["operation"], e["status"]) for e in entries] == [
        ("GET", "getV1Tasks", 200),
        ("PATCH", "patchV1TasksIdMarkCompleted", 200),
        ("GET", "getV1Tasks", 422),
    ]
    assert entries[0]["query"] == "administration_id=adm_1001"
    assert entries[1]["body"] == '{"administration_id":"adm_1001"}'
    assert all("admin-test" not in e["headers"]["authorization"] for e in entries)
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)


def test_the_journal_filters_and_clears(client: TestClient) -> None:
    client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
    mark(client, "5001")
    mark(client, "5002")
    journal = "/__sandbox/tenants/admin-test/requests"
    patched = client.get(journal, params={"method": "patch", "path": "/payt/v1/tasks/*/mark_completed"}).json()
    assert [e["path"] for e in patched["requests"]] == [
        "/payt/v1/tasks/5001/mark_completed",
        "/payt/v1/tasks/5002/mark_completed",
    ]
    assert client.get(journal, params={"status": 422}).json()["requests"] == []
    assert client.delete(journal).status_code == 204
    assert client.get(journal).json()["requests"] == []


def test_fixtures_load_as_yaml_or_json_into_one_tenant(client: TestClient) -> None:
    yaml_body = """
payt:
  tasks:
    - id: "9001"
      administration_id: adm_2002
      subject: Loaded from YAML
      created_at: "2026-11-01T00:00:00Z"
      updated_at: "2026-11-01T00:00:00Z"
"""
    response = client.post(
        "/__sandbox/tenants/admin-test/fixtures", content=yaml_body, headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 200
    assert response.json() == {"loaded": {"payt": {"tasks": 1}}}
    task = client.get("/payt/v1/tasks/9001", params={"administration_id": "adm_2002"}, headers=AUTH).json()
    assert task["subject"] == "Loaded from YAML"
    assert "completed_at" not in task
    other = client.get(
        "/payt/v1/tasks/9001", params={"administration_id": "adm_2002"}, headers={"Authorization": "Bearer x"}
    )
    assert other.status_code == 404


def test_bad_fixtures_are_400_naming_record_and_field_and_load_nothing(client: TestClient) -> None:
    good = {
        "id": "9100",
        "administration_id": ADMIN,
        "subject": "ok",
        "created_at": "2026-11-01T00:00:00Z",
        "updated_at": "2026-11-01T00:00:00Z",
    }
    bad = {**good, "id": "9101", "created_at": "yesterday"}
    response = client.post("/__sandbox/tenants/admin-test/fixtures", json={"payt": {"tasks": [good, bad]}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_fixtures"
    assert error["problems"] == [
        "request body: payt: tasks[1] (id='9101'): field 'created_at': created_at is invalid: "
        '"yesterday" is not a valid date-time'
    ]
    assert client.get("/payt/v1/tasks/9100", params={"administration_id": ADMIN}, headers=AUTH).status_code == 404


def test_snapshots_restore_a_tenant_exactly(client: TestClient) -> None:
    state = "/__sandbox/tenants/admin-test/state"
    client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
    taken = client.get(state).json()
    assert mark(client) == 200
    client.post("/payt/v1/tasks/5002/comment", json={"administration_id": ADMIN, "comment": "x"}, headers=AUTH)
    assert client.get(state).json() != taken
    assert client.put(state, json=taken).status_code == 200
    assert client.get(state).json() == taken
    assert completed_at(client) is None


def test_unknown_admin_paths_are_404_in_the_admin_envelope(client: TestClient) -> None:
    response = client.get("/__sandbox/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/elsewhere").status_code == 404


def test_a_providers_admin_spec_is_served_too(client: TestClient) -> None:
    response = client.get("/__sandbox/specs/debitura.admin.yaml")
    assert response.status_code == 200
    with open("specs/debitura.admin.yaml", encoding="utf-8") as spec:
        assert response.text == spec.read()
    assert client.get("/__sandbox/specs/debitura.admin").text == response.text
    assert client.get("/__sandbox/specs/payt.admin.yaml").status_code == 404

"""Fault injection and journal verification, through the admin API."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings
from sandbox.faults import FaultFileError, read_fault_rules
from tests.servers import running_server

TOKEN = "fault-test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = "adm_1001"
FAULTS = f"/__sandbox/tenants/{TOKEN}/faults"


def mark(client: TestClient, task_id: str = "5001") -> Any:
    return client.patch(f"/payt/v1/tasks/{task_id}/mark_completed", json={"administration_id": ADMIN}, headers=AUTH)


def state(client: TestClient) -> Any:
    return client.get(f"/__sandbox/tenants/{TOKEN}/state").json()


def test_a_status_fault_answers_in_the_providers_format_and_changes_nothing(client: TestClient) -> None:
    rule = client.post(FAULTS, json={"method": "PATCH", "path": "/payt/v1/tasks/*", "status": 503, "times": 1})
    assert rule.status_code == 201
    assert rule.json()["remaining"] == 1
    client.get(f"/payt/v1/tasks/5001?administration_id={ADMIN}", headers=AUTH)  # seed the tenant
    before = state(client)
    faulted = mark(client)
    assert faulted.status_code == 503
    assert faulted.json()["code"] == "service_unavailable"
    assert state(client) == before
    assert mark(client).status_code == 200  # `times: 1` is used up
    assert client.get(FAULTS).json()["faults"] == []
    journal = client.get(f"/__sandbox/tenants/{TOKEN}/requests", params={"method": "PATCH"}).json()["requests"]
    assert [(e["status"], e["fault"]) for e in journal] == [(503, rule.json()["id"]), (200, None)]
    assert state(client) != before


def test_a_429_fault_carries_a_retry_hint(client: TestClient) -> None:
    client.post(FAULTS, json={"path": "/payt/*", "status": 429})
    response = client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert response.headers["retry-after"] == "1"


def test_rules_match_by_method_and_path_glob(client: TestClient) -> None:
    client.post(FAULTS, json={"method": "POST", "path": "/payt/v1/tasks/*/comment", "status": 500})
    assert mark(client).status_code == 200
    comment = client.post(
        "/payt/v1/tasks/5001/comment", json={"administration_id": ADMIN, "comment": "x"}, headers=AUTH
    )
    assert comment.status_code == 500
    assert comment.json()["code"] == "internal_server_error"
    other = client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers={"Authorization": "Bearer x"})
    assert other.status_code == 200  # faults belong to one tenant


def test_probability_with_a_seed_repeats_exactly() -> None:
    def run() -> list[int]:
        with TestClient(create_app(Settings(validate_responses=True))) as client:
            client.post(FAULTS, json={"path": "/payt/*", "status": 500, "probability": 0.5, "seed": 42})
            return [
                client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH).status_code
                for _ in range(20)
            ]

    first = run()
    assert first == run()
    assert set(first) == {200, 500}


def test_latency_delays_the_answer(client: TestClient) -> None:
    client.post(FAULTS, json={"path": "/payt/*", "latency_ms": 150, "times": 1})
    started = time.perf_counter()
    response = client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_a_drop_fault_closes_the_connection_without_an_answer() -> None:
    app = create_app(Settings(validate_responses=True))
    with running_server(app) as url, httpx.Client(base_url=url) as http:
        http.post(FAULTS, json={"path": "/payt/*", "drop": True, "times": 1})
        with pytest.raises(httpx.TransportError):
            http.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
        assert http.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH).status_code == 200
        journal = http.get(f"/__sandbox/tenants/{TOKEN}/requests").json()["requests"]
        assert [e["status"] for e in journal] == [0, 200]


@pytest.mark.parametrize(
    "rule",
    [{"path": "/payt/*"}, {"path": "/payt/*", "status": 404}, {"status": 500}, {"path": "/x", "latency_ms": -1}],
)
def test_bad_rules_are_400(client: TestClient, rule: dict[str, Any]) -> None:
    assert client.post(FAULTS, json=rule).status_code == 400


def test_clearing_faults(client: TestClient) -> None:
    client.post(FAULTS, json={"path": "/payt/*", "status": 500})
    assert client.delete(FAULTS).status_code == 204
    assert mark(client).status_code == 200


def test_fault_rules_from_a_file_apply_to_every_tenant(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - {method: GET, path: /payt/v1/tasks, status: 503, times: 2}\n")
    with TestClient(create_app(Settings(faults=read_fault_rules(path)))) as client:
        statuses = [
            client.get(
                "/payt/v1/tasks", params={"administration_id": ADMIN}, headers={"Authorization": f"Bearer {n}"}
            ).status_code
            for n in ("a", "b", "c")
        ]
        assert statuses == [503, 503, 200]
        assert len(client.get("/__sandbox/tenants/a/faults").json()["global"]) == 0  # used up


def test_a_bad_fault_file_is_refused_naming_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("- {path: /payt/*, status: 500}\n- {path: /payt/*, status: 418}\n")
    with pytest.raises(FaultFileError, match=r"faults\[1\]: status is invalid"):
        read_fault_rules(path)
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "serve", "--faults", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "faults[1]" in result.stderr


def test_verify_answers_200_when_the_count_holds_and_417_with_the_matches_when_not(client: TestClient) -> None:
    verify = f"/__sandbox/tenants/{TOKEN}/requests/verify"
    mark(client, "5001")
    mark(client, "5002")
    client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
    ok = client.post(verify, json={"method": "PATCH", "path": "/payt/v1/tasks/*/mark_completed", "count": 2})
    assert ok.status_code == 200
    assert ok.json()["matched"] == 2
    assert client.post(verify, json={"path": "/payt/v1/tasks", "at_least": 1, "at_most": 1}).status_code == 200
    failed = client.post(verify, json={"method": "PATCH", "path": "/payt/v1/tasks/*/mark_completed", "count": 1})
    assert failed.status_code == 417
    body = failed.json()
    assert body["error"]["code"] == "verification_failed"
    assert body["error"]["message"] == (
        "Expected exactly 1 call(s) to PATCH /payt/v1/tasks/*/mark_completed, but 2 matched."
    )
    assert [e["path"] for e in body["requests"]] == [
        "/payt/v1/tasks/5001/mark_completed",
        "/payt/v1/tasks/5002/mark_completed",
    ]
    assert client.post(verify, json={"path": "/payt/v1/nothing"}).status_code == 417


def test_the_journal_stays_within_its_bound() -> None:
    with TestClient(create_app(Settings(journal_limit=25))) as client:
        for _ in range(200):
            client.get("/payt/v1/tasks", params={"administration_id": ADMIN}, headers=AUTH)
        entries = client.get(f"/__sandbox/tenants/{TOKEN}/requests").json()["requests"]
        assert len(entries) == 25
        assert [e["id"] for e in entries] == list(range(176, 201))  # the oldest were dropped

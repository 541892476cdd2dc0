"""The journal exported as HAR 1.2: requests and responses with bodies, credentials masked."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.cli import build_parser
from sandbox.engine import Settings
from sandbox.journal import DEFAULT_JOURNAL_RESPONSES
from sandbox.testing import running_server

TOKEN = "har-export-token-123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JOURNAL = f"/__sandbox/tenants/{TOKEN}/requests"


def test_the_journal_as_har(client: TestClient) -> None:
    listed = client.get("/payt/v1/tasks", params={"administration_id": "adm_1001", "per_page": 1}, headers=AUTH)
    assert listed.status_code == 200
    body = {"administration_id": "adm_1001", "completed_status": "maybe"}
    sent = json.dumps(body)
    refused = client.patch(
        "/payt/v1/tasks/5001/mark_completed", headers={**AUTH, "Content-Type": "application/json"}, content=sent
    )
    assert refused.status_code == 422

    response = client.get(JOURNAL, params={"format": "har"})
    assert response.status_code == 200
    log = response.json()["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "ar-sandbox"
    first, second = log["entries"]

    request = first["request"]
    assert request["method"] == "GET"
    assert request["url"] == "http://testserver/payt/v1/tasks?administration_id=adm_1001&per_page=1"
    assert {"name": "per_page", "value": "1"} in request["queryString"]
    headers = {h["name"]: h["value"] for h in request["headers"]}
    assert headers["authorization"] == "Bearer ****6789"
    assert TOKEN not in json.dumps(log)
    assert first["response"]["status"] == 200 and first["response"]["statusText"] == "OK"
    assert json.loads(first["response"]["content"]["text"]) == listed.json()
    assert first["response"]["content"]["mimeType"] == "application/json"
    assert first["response"]["content"]["size"] == len(listed.content)
    assert first["comment"] == "payt getV1Tasks"

    assert second["request"]["postData"] == {"mimeType": "application/json", "text": sent}
    assert second["response"]["status"] == 422
    assert json.loads(second["response"]["content"]["text"]) == refused.json()
    assert second["comment"].startswith("payt patchV1TasksIdMarkCompleted: refused (validation): ")
    assert first["startedDateTime"].endswith("Z") and first["time"] >= 0


def test_har_honours_the_journal_filters(client: TestClient) -> None:
    client.get("/payt/v1/tasks", params={"administration_id": "adm_1001"}, headers=AUTH)
    client.get("/payt/v1/tasks/999999", params={"administration_id": "adm_1001"}, headers=AUTH)
    entries = client.get(JOURNAL, params={"format": "har", "status": "4xx"}).json()["log"]["entries"]
    assert [e["response"]["status"] for e in entries] == [404]
    assert client.get(JOURNAL, params={"format": "json"}).json()["requests"][0]["status"] == 200


def test_an_unknown_format_is_refused(client: TestClient) -> None:
    response = client.get(JOURNAL, params={"format": "xml"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "format"


def test_a_large_response_reads_as_sent(client: TestClient) -> None:
    tasks = [
        {
            "id": str(9000 + n),
            "administration_id": "adm_1001",
            "subject": "x" * 1000,
            "created_at": "2026-11-20T10:00:00Z",
            "updated_at": "2026-11-20T10:00:00Z",
        }
        for n in range(100)
    ]
    assert client.post(f"/__sandbox/tenants/{TOKEN}/fixtures", json={"payt": {"tasks": tasks}}).status_code == 200
    page = client.get("/payt/v1/tasks", params={"administration_id": "adm_1001", "per_page": 100}, headers=AUTH)
    assert len(page.content) > 65536
    (entry,) = client.get(JOURNAL, params={"format": "har"}).json()["log"]["entries"]
    content = entry["response"]["content"]
    assert content["size"] == len(page.content) == entry["response"]["bodySize"]
    assert content["text"].encode() == page.content


def test_a_dropped_call_has_no_response_in_the_har() -> None:
    with running_server(create_app(Settings(validate_responses=True))) as url, httpx.Client(base_url=url) as http:
        http.post(f"/__sandbox/tenants/{TOKEN}/faults", json={"path": "/payt/*", "drop": True, "times": 1})
        with pytest.raises(httpx.TransportError):
            http.get("/payt/v1/tasks", params={"administration_id": "adm_1001"}, headers=AUTH)
        (entry,) = http.get(JOURNAL, params={"format": "har"}).json()["log"]["entries"]
    response = entry["response"]
    assert (response["status"], response["statusText"], response["headers"]) == (0, "", [])
    assert response["content"] == {"size": 0, "mimeType": ""} and response["bodySize"] == -1


def test_only_the_servers_newest_responses_are_kept_and_the_har_says_which_were_not() -> None:
    """`--journal-responses 2`: the two newest calls of the server keep their response, an older one the rest."""
    other = {"Authorization": "Bearer har-export-other-tenant-0000"}
    params = {"administration_id": "adm_1001"}
    with TestClient(create_app(Settings(validate_responses=True, journal_responses=2))) as client:
        oldest = client.get("/payt/v1/tasks/5001", params=params, headers=AUTH)
        kept = [client.get("/payt/v1/tasks/5002", params=params, headers=other) for _ in range(2)]
        (forgotten,) = client.get(JOURNAL, params={"format": "har"}).json()["log"]["entries"]
        other_journal = "/__sandbox/tenants/har-export-other-tenant-0000/requests"
        newest = client.get(other_journal, params={"format": "har"}).json()["log"]["entries"]
        listed = client.get(JOURNAL).json()["requests"]
    assert oldest.status_code == 200 and [response.status_code for response in kept] == [200, 200]
    response = forgotten["response"]
    assert (response["status"], response["statusText"], response["bodySize"]) == (200, "OK", -1)
    assert response["headers"] == []
    assert "text" not in response["content"] and response["content"]["size"] == 0
    assert "not kept" in response["comment"] and "--journal-responses" in response["comment"]
    assert response["content"]["comment"] == response["comment"]
    assert forgotten["request"]["url"].endswith("/payt/v1/tasks/5001?administration_id=adm_1001")
    assert forgotten["comment"] == "payt getV1TasksId"
    assert [entry["response"]["content"]["text"].encode() for entry in newest] == [r.content for r in kept]
    assert all("comment" not in entry["response"] for entry in newest)
    assert listed[0]["status"] == 200 and listed[0]["path"] == "/payt/v1/tasks/5001"  # the JSON journal is whole


def test_a_budget_of_no_responses_keeps_none() -> None:
    with TestClient(create_app(Settings(validate_responses=True, journal_responses=0))) as client:
        client.get("/payt/v1/tasks/5001", params={"administration_id": "adm_1001"}, headers=AUTH)
        (entry,) = client.get(JOURNAL, params={"format": "har"}).json()["log"]["entries"]
    assert entry["response"]["status"] == 200 and "not kept" in entry["response"]["comment"]


def test_journal_responses_is_a_serve_option() -> None:
    assert build_parser().parse_args(["serve"]).journal_responses == DEFAULT_JOURNAL_RESPONSES == 10_000
    assert build_parser().parse_args(["serve", "--journal-responses", "0"]).journal_responses == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--journal-responses", "-1"])

"""Coverage reports over HTTP: which operations and documented statuses calls exercised."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.coverage_expectations import operations_in, share, statuses_in
from tests.walkthroughs import readme_section, run_curl_walk_through

TOKEN = "coverage-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OTHER = {"Authorization": "Bearer coverage-other"}
TASKS = "/payt/v1/tasks"
ADMIN = {"administration_id": "adm_1001"}


def payt(client: TestClient, path: str = "/__sandbox/coverage") -> dict:
    response = client.get(path, params={"provider": "payt"})
    assert response.status_code == 200, response.text
    return response.json()


def test_server_coverage_counts_each_operation_and_status(client: TestClient) -> None:
    assert client.get(TASKS, params=ADMIN, headers=AUTH).status_code == 200
    assert client.get(TASKS, params=ADMIN, headers=OTHER).status_code == 200
    assert client.get(f"{TASKS}/999999", params=ADMIN, headers=AUTH).status_code == 404
    assert client.get(TASKS, params=ADMIN).status_code == 401  # no credential: no tenant, still counted
    assert client.get("/payt/v1/task/1", headers=AUTH).status_code == 404  # matches no operation

    report = payt(client)
    provider = report["providers"]["payt"]
    listing = provider["operations"]["getV1Tasks"]
    assert listing["method"] == "GET" and listing["path"] == TASKS
    assert listing["calls"] == 3
    assert listing["statuses"]["200"] == 2 and listing["statuses"]["401"] == 1 and listing["statuses"]["503"] == 0
    assert listing["undocumented"] == {}
    assert provider["operations"]["getV1TasksId"]["statuses"]["404"] == 1
    assert provider["unmatched"] == 1
    operations, pairs = operations_in("payt"), statuses_in("payt")
    assert provider["operations_total"] == operations == len(provider["operations"])
    assert provider["operations_exercised"] == 2
    assert provider["operations_percent"] == share(2, operations)
    assert provider["statuses_total"] == pairs == sum(len(op["statuses"]) for op in provider["operations"].values())
    assert provider["statuses_exercised"] == 3
    assert provider["statuses_percent"] == share(3, pairs)
    assert report["totals"]["calls"] == 4 == provider["calls"]
    assert list(report["providers"]) == ["payt"]


def test_whole_server_coverage_covers_every_provider_but_not_the_admin_api(client: TestClient) -> None:
    client.get("/__sandbox/health")
    report = client.get("/__sandbox/coverage").json()
    assert sorted(report["providers"]) == ["debitura", "invoiced", "payt", "wethod"]
    assert report["totals"]["calls"] == 0
    assert report["totals"]["operations_total"] == sum(p["operations_total"] for p in report["providers"].values())
    assert report["totals"]["operations_percent"] == 0.0


def test_clearing_server_coverage_starts_afresh(client: TestClient) -> None:
    client.get(TASKS, params=ADMIN, headers=AUTH)
    assert payt(client)["totals"]["calls"] == 1
    assert client.delete("/__sandbox/coverage").status_code == 204
    assert payt(client)["totals"]["calls"] == 0
    assert payt(client, f"/__sandbox/tenants/{TOKEN}/coverage")["totals"]["calls"] == 1  # a tenant's is its own


def test_tenant_coverage_counts_only_the_calls_in_its_journal(client: TestClient) -> None:
    client.get(TASKS, params=ADMIN, headers=AUTH)
    client.get("/payt/v1/task/1", headers=AUTH)
    client.get(TASKS, params=ADMIN, headers=OTHER)
    client.get(f"{TASKS}/5001", params=ADMIN, headers=OTHER)
    mine = payt(client, f"/__sandbox/tenants/{TOKEN}/coverage")["providers"]["payt"]
    assert mine["calls"] == 1 and mine["operations_exercised"] == 1 and mine["unmatched"] == 1
    assert mine["operations"]["getV1Tasks"]["statuses"]["200"] == 1
    assert client.delete(f"/__sandbox/tenants/{TOKEN}/requests").status_code == 204
    assert payt(client, f"/__sandbox/tenants/{TOKEN}/coverage")["totals"]["calls"] == 0
    client.get(TASKS, params=ADMIN, headers=AUTH)
    client.post(f"/__sandbox/tenants/{TOKEN}/reset")
    assert payt(client, f"/__sandbox/tenants/{TOKEN}/coverage")["totals"]["calls"] == 0
    assert payt(client)["totals"]["calls"] == 4  # the server's counts outlive both (a miss is no operation's)


def test_coverage_of_an_unknown_provider_is_refused(client: TestClient) -> None:
    response = client.get("/__sandbox/coverage", params={"provider": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "provider"
    assert "payt" in response.json()["error"]["message"]


def test_the_readme_section_answers_what_it_shows(live_url: str) -> None:
    section = readme_section("Contract-testing reports")
    assert run_curl_walk_through(section, live_url) >= 6

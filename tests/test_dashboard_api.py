"""The admin operations the dashboard works through, and the dashboard's files, over HTTP (in process)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.testclient import TestClient

from sandbox.engine import DEFAULT_FIXTURES
from sandbox.pytest_plugin import SandboxTenant
from sandbox.webhook_receiver import WebhookReceiver
from tests.walkthroughs import readme_section, run_curl_walk_through

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "sandbox" / "ui" / "static"
S = "/__sandbox"
PAYT = {"Authorization": "Bearer dash-test"}
PAYT_FIXTURES: dict[str, list[Any]] = yaml.safe_load((DEFAULT_FIXTURES / "payt.yaml").read_text(encoding="utf-8"))
PAYT_COUNTS = {collection: len(held) for collection, held in PAYT_FIXTURES.items()}  # in the file's order


def records(client: TestClient, provider: str, collection: str, credential: str = "dash-test", **query: Any) -> Any:
    response = client.get(f"{S}/tenants/{credential}/records/{provider}/{collection}", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def payt_task(client: TestClient, task_id: str = "5001", headers: dict[str, str] = PAYT) -> Any:
    return client.get(f"/payt/v1/tasks/{task_id}", params={"administration_id": "adm_1001"}, headers=headers)


def stored(client: TestClient, provider: str, collection: str, key: str, credential: str = "dash-test") -> Any:
    return client.get(f"{S}/tenants/{credential}/records/{provider}/{collection}/{key}")


# -- tenants ---------------------------------------------------------------------------------------


def test_tenants_are_listed_newest_first_with_counts_clock_and_last_call(client: TestClient) -> None:
    client.get("/payt/v1/tasks", params={"administration_id": "adm_1001"}, headers={"Authorization": "Bearer first"})
    client.get("/wethod/api/projects", headers={"Authorization": "Bearer second", "Wethod-Company": "acme"})
    client.post(f"{S}/tenants/quiet/clock", json={"frozen": True, "set": "2030-01-01T00:00:00Z"})
    listing = client.get(f"{S}/tenants").json()
    assert listing["total"] == 3
    assert [tenant["credential"] for tenant in listing["tenants"]] == ["quiet", "second", "first"]
    quiet, _, first = listing["tenants"]
    assert first["providers"] == {"payt": PAYT_COUNTS}
    assert list(first["providers"]["payt"]) == list(PAYT_COUNTS)
    assert first["calls"] == 1
    assert {name: first["last_call"][name] for name in ("method", "path", "status")} == {
        "method": "GET",
        "path": "/payt/v1/tasks",
        "status": 200,
    }
    assert quiet == {
        "credential": "quiet",
        "providers": {},
        "clock": {"now": "2030-01-01T00:00:00Z", "frozen": True},
        "calls": 0,
        "last_call": None,
    }
    paged = client.get(f"{S}/tenants", params={"offset": 2, "limit": 5}).json()
    assert (paged["total"], [tenant["credential"] for tenant in paged["tenants"]]) == (3, ["first"])


def test_naming_a_tenant_opens_it_with_its_summary(client: TestClient) -> None:
    summary = client.get(f"{S}/tenants/brand-new").json()
    assert summary["credential"] == "brand-new"
    assert summary["calls"] == 0
    assert [t["credential"] for t in client.get(f"{S}/tenants").json()["tenants"]] == ["brand-new"]


# -- records ---------------------------------------------------------------------------------------


def test_collections_include_the_ones_a_fixture_may_fill_while_still_empty(client: TestClient) -> None:
    client.post(f"{S}/tenants/dash-test/fixtures", json={"invoiced": {"tasks": []}})
    listing = client.get(f"{S}/tenants/dash-test/records/payt").json()
    held = [{"name": name, "count": count} for name, count in PAYT_COUNTS.items()]
    # Payt's fixtures leave these two empty; they are listed after the held ones, by name.
    assert {"deleted_payments", "deleted_psp_mandates"}.isdisjoint(PAYT_COUNTS)
    empty = [{"name": "deleted_payments", "count": 0}, {"name": "deleted_psp_mandates", "count": 0}]
    assert listing == {"provider": "payt", "collections": [*held, *empty]}
    assert client.get(f"{S}/tenants/dash-test/records/nothing").status_code == 404
    assert client.get(f"{S}/tenants/dash-test/records/payt/nothing").status_code == 404


def test_the_engines_own_collections_are_not_listed_as_records(client: TestClient) -> None:
    key = {"XApiKey": "dash-engine"}
    body = {
        "currencyCode": "eur",
        "amountToRecover": 10,
        "date": "2026-09-01",
        "dueDate": "2026-10-01T00:00:00",
        "isTest": True,
        "debtor": {"type": "Company", "name": "D", "countryAlpha2": "de"},
        "allowPendingContracts": True,  # the demo account's contract is unsigned
    }
    created = client.post("/debitura/v1/cases", headers={**key, "Idempotency-Key": "k-1"}, json=body)
    assert created.status_code == 200, created.text  # it wrote an event and an idempotency key as well as the case
    names = [c["name"] for c in client.get(f"{S}/tenants/dash-engine/records/debitura").json()["collections"]]
    assert "cases" in names
    assert not [name for name in names if name.startswith("sandbox.")]
    assert client.get(f"{S}/tenants/dash-engine/records/debitura/sandbox.events").status_code in (400, 404)


def test_records_are_paged_by_the_server_and_searched_case_insensitively(client: TestClient) -> None:
    tasks = [
        {
            "id": str(9000 + n),
            "administration_id": "adm_1001",
            "subject": f"Bulk {n}",
            "created_at": "2026-11-20T09:00:00Z",
            "updated_at": "2026-11-20T09:00:00Z",
        }
        for n in range(120)
    ]
    assert client.post(f"{S}/tenants/dash-test/fixtures", json={"payt": {"tasks": tasks}}).status_code == 200
    total = len(tasks) + PAYT_COUNTS["tasks"]
    page = records(client, "payt", "tasks", offset=50, limit=20)
    assert (page["total"], page["matched"], page["offset"], page["limit"]) == (total, total, 50, 20)
    assert [item["key"] for item in page["records"]] == [str(9000 + n) for n in range(44, 64)]
    found = records(client, "payt", "tasks", q="BULK 11")
    assert [item["key"] for item in found["records"]] == ["9011", *(str(9110 + n) for n in range(10))]
    assert found["matched"] == 11
    every = records(client, "payt", "tasks", q="ADM_", limit=1)  # every task names its administration
    assert (every["matched"], len(every["records"])) == (total, 1)
    # A value is searched as JSON spells it: every Invoiced task has a null field (Payt sends no nulls).
    invoiced_tasks = records(client, "invoiced", "tasks", q="null", limit=1)
    assert invoiced_tasks["matched"] == invoiced_tasks["total"] > 0
    assert records(client, "invoiced", "tasks", q="none")["matched"] == 0
    assert client.get(f"{S}/tenants/dash-test/records/payt/tasks", params={"limit": 201}).status_code == 400


def test_a_record_is_shown_as_a_fixture_states_it_with_the_bookkeeping_apart(client: TestClient) -> None:
    page = records(client, "invoiced", "invoices", limit=1)
    key = page["records"][0]["key"]
    assert not any(name.startswith("_") for name in page["records"][0]["record"])
    one = stored(client, "invoiced", "invoices", key).json()
    assert one["record"] == page["records"][0]["record"]
    assert set(one["internal"]) == {"_sent", "_viewed", "_voided", "_amount_paid", "_closed"}
    assert stored(client, "invoiced", "invoices", "999999").status_code == 404


def test_an_edit_is_validated_like_a_fixture_and_seen_through_the_provider_api(client: TestClient) -> None:
    record = stored(client, "payt", "tasks", "5001").json()["record"]
    response = client.put(f"{S}/tenants/dash-test/records/payt/tasks/5001", json={**record, "subject": "Edited"})
    assert response.status_code == 200
    assert response.json()["record"]["subject"] == "Edited"
    assert payt_task(client).json()["subject"] == "Edited"
    assert payt_task(client, headers={"Authorization": "Bearer another"}).json()["subject"] != "Edited"


def test_a_bad_edit_names_each_field_and_changes_nothing(client: TestClient) -> None:
    before = payt_task(client).json()
    record = stored(client, "payt", "tasks", "5001").json()["record"]
    bad = {**record, "updated_at": "not a time", "subject": 12}
    response = client.put(f"{S}/tenants/dash-test/records/payt/tasks/5001", json=bad)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_record"
    assert {problem["field"] for problem in error["invalid"]} == {"updated_at", "subject"}
    assert '"not a time" is not a valid date-time' in next(
        p["message"] for p in error["invalid"] if p["field"] == "updated_at"
    )
    assert payt_task(client).json() == before


def test_an_edit_that_breaks_a_reference_is_refused(client: TestClient) -> None:
    record = stored(client, "payt", "tasks", "5001").json()["record"]
    response = client.put(
        f"{S}/tenants/dash-test/records/payt/tasks/5001", json={**record, "administration_id": "adm_9"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["invalid"] == [
        {"field": "administration_id", "message": "no administration 'adm_9'"}
    ]


def test_an_edit_cannot_change_the_key(client: TestClient) -> None:
    record = stored(client, "payt", "tasks", "5001").json()["record"]
    response = client.put(f"{S}/tenants/dash-test/records/payt/tasks/5001", json={**record, "id": "5999"})
    assert response.status_code == 400
    assert response.json()["error"]["invalid"][0]["field"] == "id"
    assert stored(client, "payt", "tasks", "5999").status_code == 404


def test_an_edit_keeps_a_record_with_an_alternate_key_its_own_key(client: TestClient) -> None:
    invoice = records(client, "wethod", "invoices", limit=1)["records"][0]
    edited = {**invoice["record"], "notes": "checked by QA"}
    response = client.put(f"{S}/tenants/dash-test/records/wethod/invoices/{invoice['key']}", json=edited)
    assert response.status_code == 200, response.text
    assert response.json()["record"]["notes"] == "checked by QA"


def test_an_edit_keeps_the_records_bookkeeping_and_the_provider_recomputes_what_it_derives(client: TestClient) -> None:
    case = records(client, "debitura", "cases", q="K7Q2M9XD")["records"][0]
    before = stored(client, "debitura", "cases", case["key"]).json()["internal"]
    edited = {**case["record"], "creditorComments": "QA note"}
    saved = client.put(f"{S}/tenants/dash-test/records/debitura/cases/{case['key']}", json=edited).json()
    assert saved["internal"] == before
    invoice = records(client, "invoiced", "invoices", q="paid")["records"][0]
    response = client.put(
        f"{S}/tenants/dash-test/records/invoiced/invoices/{invoice['key']}",
        json={**invoice["record"], "status": "voided"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["internal"]["_voided"] is True


def test_a_record_is_added_once(client: TestClient) -> None:
    task = {
        "id": "7001",
        "administration_id": "adm_1001",
        "subject": "Added",
        "created_at": "2026-11-20T09:00:00Z",
        "updated_at": "2026-11-20T09:00:00Z",
    }
    added = client.post(f"{S}/tenants/dash-test/records/payt/tasks", json=task)
    assert added.status_code == 201
    assert added.json()["key"] == "7001"
    # Defaults filled as for a fixture: an open task expires 30 days after it was created; no nulls are added.
    assert added.json()["record"]["expiry_date"] == "2026-12-20"
    assert "completed_at" not in added.json()["record"]
    assert payt_task(client, "7001").json()["subject"] == "Added"
    again = client.post(f"{S}/tenants/dash-test/records/payt/tasks", json={**task, "subject": "Twice"})
    assert again.status_code == 400
    assert again.json()["error"]["invalid"][0]["field"] == "id"
    assert payt_task(client, "7001").json()["subject"] == "Added"


def test_a_record_is_deleted_unless_others_refer_to_it(client: TestClient) -> None:
    assert client.delete(f"{S}/tenants/dash-test/records/payt/tasks/5001").status_code == 204
    assert payt_task(client).status_code == 404
    refused = client.delete(f"{S}/tenants/dash-test/records/payt/administrations/adm_1001")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "record_referenced"
    assert "field 'administration_id': no administrations record 'adm_1001'" in refused.json()["error"]["message"]
    assert stored(client, "payt", "administrations", "adm_1001").status_code == 200
    assert client.delete(f"{S}/tenants/dash-test/records/payt/tasks/5001").status_code == 404


def test_a_provider_checked_reference_blocks_a_delete_too(client: TestClient) -> None:
    payment = records(client, "invoiced", "payments")["records"][0]["record"]
    invoice = str(payment["applied_to"][0]["invoice"])
    refused = client.delete(f"{S}/tenants/dash-test/records/invoiced/invoices/{invoice}")
    assert refused.status_code == 409
    assert f"no invoice {payment['applied_to'][0]['invoice']!r}" in refused.json()["error"]["message"]


# -- clock and faults ------------------------------------------------------------------------------


def test_a_clock_move_reports_the_debitura_tasks_that_resolved(client: TestClient) -> None:
    admin = f"{S}/tenants/dash-test"
    case = "bab44264-2a9f-5092-951d-f786eaa4f5c2"
    client.post(f"{admin}/clock", json={"frozen": True, "set": "2026-12-01T09:00:00Z"})
    task = client.post(f"{admin}/debitura/cases/{case}/partner-messages", json={"message": "?"}).json()["task"]
    reply = {"message": "Here.", "userEmail": "anna.holm@nordlys-design.example"}
    client.post(f"/debitura/v1/cases/{case}/chats", json=reply, headers={"XApiKey": "dash-test"})
    quiet = client.post(f"{admin}/clock/move", json={"advance": 1}).json()
    assert quiet == {
        "clock": {"now": "2026-12-01T09:00:01Z", "frozen": True},
        "settled": [],
        "settled_count": 0,
        "webhook_attempts": [],
    }
    moved = client.post(f"{admin}/clock/move", json={"advance": 60}).json()
    assert moved["clock"]["now"] == "2026-12-01T09:01:01Z"
    assert moved["settled_count"] == 1
    [settled] = moved["settled"]
    assert (settled["provider"], settled["collection"], settled["key"], settled["change"]) == (
        "debitura",
        "tasks",
        task["id"],
        "changed",
    )
    fields = {field["name"]: (field["before"], field["after"]) for field in settled["fields"]}
    assert fields["status"] == ("Open", "Solved")
    assert fields["dateSolved"] == (None, "2026-12-01T09:00:02Z")
    assert client.post(f"{admin}/clock/move", json={}).status_code == 400


def test_a_clock_move_names_the_webhook_retries_it_started(live_url: str, webhook_receiver: WebhookReceiver) -> None:
    credential = f"dash-hooks-{uuid.uuid4().hex[:8]}"
    tenant = SandboxTenant(live_url, credential)
    tenant.freeze("2026-06-01T12:00:00Z")
    tenant.subscribe("invoiced", webhook_receiver.url)
    webhook_receiver.answer(500)  # the first attempt fails: Invoiced retries an hour later
    created = httpx.post(f"{live_url}/invoiced/customers", auth=(credential, ""), json={"name": "Acme Ltd"})
    assert created.status_code == 201, created.text
    webhook_receiver.wait_for(1)
    (delivery,) = tenant.deliveries()
    assert delivery["status"] == "pending"
    move = f"{live_url}{S}/tenants/{credential}/clock/move"
    early = httpx.post(move, json={"advance": 3599}).json()
    assert (early["webhook_attempts"], early["settled"]) == ([], [])
    moved = httpx.post(move, json={"advance": 1}).json()
    assert moved["webhook_attempts"] == [
        {
            "provider": "invoiced",
            "delivery": delivery["id"],
            "event_type": "customer.created",
            "attempt": 2,
            "time": "2026-06-01T13:00:00Z",
        }
    ]
    assert moved["settled"] == []  # the delivery's own record is the engine's bookkeeping, not a provider record
    webhook_receiver.wait_for(2)
    assert [attempt["response_code"] for attempt in tenant.deliveries()[0]["attempts"]] == [500, 200]


def test_one_fault_rule_is_removed(client: TestClient) -> None:
    faults = f"{S}/tenants/dash-test/faults"
    first = client.post(faults, json={"path": "/payt/*", "status": 503}).json()["id"]
    second = client.post(faults, json={"path": "/wethod/*", "status": 500}).json()["id"]
    assert client.delete(f"{faults}/{first}").status_code == 204
    assert [rule["id"] for rule in client.get(faults).json()["faults"]] == [second]
    assert payt_task(client).status_code == 200
    assert client.delete(f"{faults}/{first}").status_code == 404


# -- the dashboard's files -------------------------------------------------------------------------


def test_the_page_is_served_with_a_policy_that_allows_only_its_own_files(client: TestClient) -> None:
    page = client.get(f"{S}/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="app.js"></script>' in page.text
    redirect = client.get(f"{S}/ui", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/__sandbox/ui/")


@pytest.mark.parametrize("name", sorted(path.name for path in STATIC.iterdir() if path.name != "index.html"))
def test_every_file_is_served_with_its_media_type(client: TestClient, name: str) -> None:
    response = client.get(f"{S}/ui/{name}")
    assert response.status_code == 200
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}[Path(name).suffix]
    assert response.headers["content-type"].startswith(expected)
    assert response.text == (STATIC / name).read_text(encoding="utf-8")


def test_unknown_files_are_not_found(client: TestClient) -> None:
    assert client.get(f"{S}/ui/nothing.js").status_code == 404
    assert client.get(f"{S}/ui/..%2Fapp.py").status_code == 400


def test_the_scripts_import_only_each_other_and_fetch_nothing_from_elsewhere() -> None:
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), f"{path.name} names another host"
        for imported in re.findall(r'from "\./([^"]+)"', text):
            assert (STATIC / imported).is_file(), f"{path.name} imports {imported}, which is not shipped"


def test_the_package_data_ships_every_file_of_the_dashboard() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["sandbox.ui"]
    for path in STATIC.rglob("*"):
        relative = path.relative_to(STATIC.parent).as_posix()
        assert path.is_dir() or any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_every_call_the_dashboard_makes_is_in_the_admin_spec(client: TestClient) -> None:
    """The scripts' API paths, with their `${...}` parts as parameters, each match an admin operation."""
    spec = client.get(f"{S}/specs/sandbox.yaml").text
    calls = set()
    for path in STATIC.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        calls |= {
            tuple(parts.split(", ")) for parts in re.findall(r"tenantPath\((?:context\.)?credential, ([^)]*)\)", text)
        }
        calls |= set(re.findall(r'get\("(/[a-z]+)"\)', text))
    assert calls, "found no call in the scripts"
    templates = re.findall(r"^  (/\S+):$", spec, flags=re.MULTILINE)
    for call in calls:
        if isinstance(call, str):
            assert call in templates, call
            continue
        literal = [part.strip('"') if part.startswith('"') else None for part in call]
        candidates = [
            t for t in templates if t.startswith("/tenants/{credential}/") and len(t.split("/")) == 3 + len(call)
        ]
        assert any(
            all(want is None or want == have for want, have in zip(literal, t.split("/")[3:], strict=True))
            for t in candidates
        ), call


def test_the_readme_dashboard_section_answers_as_documented(live_url: str) -> None:
    assert run_curl_walk_through(readme_section("Dashboard (`/__sandbox/ui/`)"), live_url) >= 9

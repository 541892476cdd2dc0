"""The dashboard in a real browser (headless system Chromium via Playwright) against a real uvicorn server.

Each test uses its own credential on one shared server, checks what the page
shows and, where the dashboard changed something, checks it through the
provider's own API. The main views are screenshot on every run; into docs/
(the README's pictures) when SANDBOX_SCREENSHOTS=1 (`make screenshots`), else
into a temporary folder, so a test run leaves the checkout unchanged.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.app import create_app
from sandbox.engine import DEFAULT_FIXTURES, Settings
from sandbox.testing import running_server
from sandbox.webhook_receiver import WebhookReceiver
from tests.browser_support import browser_missing, chromium_path, under_ci

DOCS = Path(__file__).resolve().parent.parent / "docs"
DASH = "\N{EN DASH}"  # the pages write a range of records with it
DEBITURA_CASE = "bab44264-2a9f-5092-951d-f786eaa4f5c2"
PAYT_FIXTURES: dict[str, list[Any]] = yaml.safe_load((DEFAULT_FIXTURES / "payt.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = browser_missing()
    if reason is not None:
        if under_ci():
            pytest.fail(f"CI=true and the dashboard's browser tests cannot run: {reason}")
        pytest.skip(f"dashboard browser tests did not run: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path()), headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: docs/ when asked for (`make screenshots`), else a temporary folder."""
    return DOCS if os.environ.get("SANDBOX_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(create_app(Settings(validate_responses=True))) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
    assert not problems, f"the page raised: {problems}"


@pytest.fixture
def credential() -> str:
    return f"ui-{uuid.uuid4().hex[:12]}"


def payt_task(server: str, credential: str, task_id: str = "5001") -> dict[str, Any]:
    response = httpx.get(
        f"{server}/payt/v1/tasks/{task_id}",
        params={"administration_id": "adm_1001"},
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert response.status_code == 200
    return response.json()


def open_record(page: Any, server: str, credential: str, provider: str, collection: str, key: str) -> None:
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/records/{provider}/{collection}/{key}")
    page.locator("#record-detail pre.json").first.wait_for()


def edit_field(page: Any, name: str, value: str) -> None:
    page.get_by_role("button", name="Edit").click()
    page.get_by_label(name, exact=True).fill(value)
    page.get_by_role("button", name="Save").click()


def test_a_tenant_is_listed_and_opened_by_typing_its_credential(
    page: Any, server: str, credential: str, shots: Path
) -> None:
    payt_task(server, credential)
    page.goto(f"{server}/__sandbox/ui/")
    row = page.locator("tr", has=page.get_by_role("link", name=credential, exact=True))
    row.wait_for()
    assert "200 GET /payt/v1/tasks/5001" in row.inner_text()
    assert f"payt ({sum(map(len, PAYT_FIXTURES.values()))})" in row.inner_text()  # the tenant's records
    page.screenshot(path=shots / "dashboard-tenants.png")

    page.get_by_label("Tenant credential").fill(credential)  # by keyboard: type, Enter
    page.keyboard.press("Enter")
    page.get_by_text(f"1{DASH}2 of 2").wait_for()  # the first collection, the two administrations
    assert page.locator(".tenant-bar").inner_text().startswith(f"Tenant {credential}")
    page.get_by_role("link", name="tasks").click()
    page.get_by_text(f"1{DASH}6 of 6").wait_for()
    page.get_by_role("link", name="5001", exact=True).focus()
    page.keyboard.press("Enter")
    page.get_by_text('"subject": "Call debtor about overdue invoice 2026-0042"').wait_for()
    page.screenshot(path=shots / "dashboard-records.png")


def test_an_edit_is_seen_through_the_providers_api(page: Any, server: str, credential: str) -> None:
    payt_task(server, credential)
    open_record(page, server, credential, "payt", "tasks", "5001")
    edit_field(page, "subject", "Call back on Monday")
    page.get_by_text('"subject": "Call back on Monday"').wait_for()
    assert payt_task(server, credential)["subject"] == "Call back on Monday"
    assert payt_task(server, "someone-else")["subject"] != "Call back on Monday"


def test_a_bad_edit_is_refused_beside_its_field_and_saves_nothing(
    page: Any, server: str, credential: str, shots: Path
) -> None:
    before = payt_task(server, credential)
    open_record(page, server, credential, "payt", "tasks", "5001")
    edit_field(page, "updated_at", "next tuesday")
    beside = page.locator("#" + page.get_by_label("updated_at", exact=True).get_attribute("aria-describedby"))
    beside.get_by_text('"next tuesday" is not a valid date-time').wait_for()
    assert page.get_by_label("updated_at", exact=True).get_attribute("aria-invalid") == "true"
    assert "Not saved" in page.get_by_role("alert").inner_text()
    page.screenshot(path=shots / "dashboard-refused-edit.png")
    assert payt_task(server, credential) == before


def test_advancing_the_clock_resolves_a_debitura_task(page: Any, server: str, credential: str, shots: Path) -> None:
    admin = f"{server}/__sandbox/tenants/{credential}"
    debitura = httpx.Client(base_url=f"{server}/debitura/v1", headers={"XApiKey": credential})
    httpx.post(f"{admin}/clock", json={"frozen": True, "set": "2026-12-01T09:00:00Z"}).raise_for_status()
    opened = httpx.post(f"{admin}/debitura/cases/{DEBITURA_CASE}/partner-messages", json={"message": "Signed copy?"})
    task_id = opened.json()["task"]["id"]
    reply = {"message": "Attached.", "userEmail": "anna.holm@nordlys-design.example"}
    assert debitura.post(f"/cases/{DEBITURA_CASE}/chats", json=reply).status_code in (200, 201)
    assert [task["status"] for task in debitura.get(f"/cases/{DEBITURA_CASE}/tasks").json()] == ["Open"]

    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/clock")
    page.get_by_text("frozen", exact=True).first.wait_for()
    assert page.locator("#clock-now").inner_text() == "2026-12-01 09:00:00 UTC"
    page.get_by_role("button", name="+1 minute").click()
    settled = page.locator("#settled tr", has_text=f"tasks {task_id}")
    settled.wait_for()
    assert 'status: "Open" → "Solved"' in settled.inner_text()
    assert page.locator("#clock-now").inner_text() == "2026-12-01 09:01:00 UTC"
    page.screenshot(path=shots / "dashboard-clock.png")
    solved = debitura.get(f"/cases/{DEBITURA_CASE}/tasks", params={"status": "Solved"}).json()
    assert [(task["id"], task["dateSolved"]) for task in solved] == [(task_id, "2026-12-01T09:00:02Z")]


def test_a_call_appears_in_the_journal_while_it_is_open(page: Any, server: str, credential: str, shots: Path) -> None:
    payt_task(server, credential)
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/journal")
    page.get_by_role("link", name="GET /payt/v1/tasks/5001").wait_for()
    response = httpx.patch(
        f"{server}/payt/v1/tasks/5002/mark_completed",
        data={"administration_id": "adm_1001"},
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert response.status_code == 200
    newest = page.locator("#journal-list tbody tr").first
    newest.get_by_role("link", name="PATCH /payt/v1/tasks/5002/mark_completed").wait_for()  # no reload
    newest.get_by_role("link").click()
    curl = page.locator("#curl").input_value()
    assert curl.startswith("curl -X PATCH")
    assert f"'authorization: Bearer {credential}'" in curl
    assert "--data-binary 'administration_id=adm_1001'" in curl
    assert curl.endswith(f"'{server}/payt/v1/tasks/5002/mark_completed'")
    page.screenshot(path=shots / "dashboard-journal.png")

    page.get_by_label("Method").select_option("GET")
    page.get_by_role("button", name="Filter").click()
    page.get_by_text("1 call(s), newest first").wait_for()


def test_a_fault_rule_is_added_and_removed(page: Any, server: str, credential: str, shots: Path) -> None:
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/faults")
    page.get_by_text("This tenant has no fault rule.").wait_for()
    page.get_by_label("Path glob").fill("/payt/*")
    page.get_by_label("Answer").select_option("503")
    page.get_by_role("button", name="Add rule").click()
    page.get_by_text("Added rule 1.").wait_for()
    assert httpx.get(f"{server}/payt/v1/tasks", headers={"Authorization": f"Bearer {credential}"}).status_code == 503
    page.screenshot(path=shots / "dashboard-faults.png")
    page.get_by_role("button", name="Remove fault rule 1").click()
    page.get_by_text("This tenant has no fault rule.").wait_for()
    assert httpx.get(f"{server}/__sandbox/tenants/{credential}/faults").json()["faults"] == []


def test_a_snapshot_is_downloaded_and_restored(page: Any, server: str, credential: str, tmp_path: Path) -> None:
    payt_task(server, credential)
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/snapshots")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download snapshot").click()
    saved = tmp_path / "snapshot.json"
    download.value.save_as(saved)
    edited = {**payt_task(server, credential), "subject": "changed after the snapshot"}
    httpx.put(f"{server}/__sandbox/tenants/{credential}/records/payt/tasks/5001", json=edited).raise_for_status()
    assert payt_task(server, credential)["subject"] == "changed after the snapshot"
    page.get_by_label("Restore from").set_input_files(saved)
    page.get_by_role("button", name="Restore", exact=True).click()
    page.get_by_text(re.compile(r"Restored: \d+ record\(s\) in 1 provider\(s\)\.")).wait_for()
    assert payt_task(server, credential)["subject"] == "Call debtor about overdue invoice 2026-0042"


def test_a_record_is_added_from_a_copy_and_deleted_after_a_second_press(
    page: Any, server: str, credential: str
) -> None:
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/records/payt/tasks")
    page.get_by_text(f"1{DASH}6 of 6").wait_for()
    page.get_by_role("button", name="Add record").click()
    assert page.get_by_label("id", exact=True).input_value() == ""  # a copy of the first record, without its key
    page.get_by_label("id", exact=True).fill("8001")
    page.get_by_label("subject", exact=True).fill("Added in the dashboard")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_text('"subject": "Added in the dashboard"').wait_for()
    assert payt_task(server, credential, "8001")["subject"] == "Added in the dashboard"

    delete = page.get_by_role("button", name="Delete")
    delete.click()
    assert payt_task(server, credential, "8001")["id"] == "8001"  # one press only arms it
    page.get_by_role("button", name="Really delete 8001?").click()
    page.get_by_text(f"1{DASH}6 of 6").wait_for()
    gone = httpx.get(
        f"{server}/payt/v1/tasks/8001",
        params={"administration_id": "adm_1001"},
        headers={"Authorization": f"Bearer {credential}"},
    )
    assert gone.status_code == 404


def test_a_fixture_file_is_loaded_by_paste(page: Any, server: str, credential: str) -> None:
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/records/payt/tasks")
    page.get_by_role("button", name="Load fixtures…").click()
    page.get_by_label("Fixture text").fill(
        'payt:\n  tasks:\n    - id: "7001"\n      administration_id: adm_1001\n      subject: Pasted\n'
        '      created_at: "2026-11-20T09:00:00Z"\n      updated_at: "2026-11-20T09:00:00Z"\n'
    )
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text("payt.tasks: 1").wait_for()
    assert payt_task(server, credential, "7001")["subject"] == "Pasted"


def test_ten_thousand_records_are_paged_by_the_server(page: Any, server: str, credential: str) -> None:
    tasks = [
        {
            "id": str(100000 + n),
            "administration_id": "adm_1001",
            "subject": f"Bulk task {n}",
            "created_at": "2026-11-20T09:00:00Z",
            "updated_at": "2026-11-20T09:00:00Z",
        }
        for n in range(10_000)
    ]
    for start in range(0, len(tasks), 2000):
        load = httpx.post(
            f"{server}/__sandbox/tenants/{credential}/fixtures", json={"payt": {"tasks": tasks[start : start + 2000]}}
        )
        load.raise_for_status()
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/records/payt/tasks")
    page.get_by_text(f"1{DASH}50 of 10006").wait_for()
    assert page.locator(".table-wrap tbody tr").count() == 50
    page.get_by_role("button", name="Next →").click()
    page.get_by_text(f"51{DASH}100 of 10006").wait_for()
    page.get_by_label("Search tasks").fill("bulk task 9999")
    page.keyboard.press("Enter")
    page.get_by_text(f"1{DASH}1 of 1 matching (of 10006)").wait_for()


def test_a_narrow_window_has_no_sideways_scroll(page: Any, server: str, credential: str, shots: Path) -> None:
    payt_task(server, credential)
    page.set_viewport_size({"width": 420, "height": 800})
    open_record(page, server, credential, "payt", "tasks", "5001")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.screenshot(path=shots / "dashboard-narrow.png", full_page=True)


def test_a_webhook_delivery_is_retried_by_the_clock_and_redelivered_from_the_view(
    page: Any, server: str, credential: str, shots: Path, webhook_receiver: WebhookReceiver
) -> None:
    admin = f"{server}/__sandbox/tenants/{credential}"
    httpx.post(f"{admin}/clock", json={"frozen": True, "set": "2026-06-01T12:00:00Z"}).raise_for_status()
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/webhooks")
    page.get_by_text("This tenant has no webhook subscription.").wait_for()
    page.get_by_label("Provider").select_option("invoiced")
    page.get_by_label("URL").fill(webhook_receiver.url)
    page.get_by_label("URL").press("Enter")  # the form submits from the keyboard
    page.get_by_text(f"Subscribed {webhook_receiver.url}.").wait_for()
    (subscription,) = httpx.get(f"{admin}/webhooks/subscriptions").json()["subscriptions"]
    assert (subscription["provider"], subscription["url"]) == ("invoiced", webhook_receiver.url)

    webhook_receiver.answer(500)  # the first attempt fails; Invoiced retries an hour later
    customer = httpx.post(f"{server}/invoiced/customers", auth=(credential, ""), json={"name": "Acme Ltd"})
    assert customer.status_code == 201, customer.text
    webhook_receiver.wait_for(1)
    row = page.locator("#delivery-list tbody tr", has_text="customer.created")
    row.get_by_text("the receiver answered 500").wait_for()  # no reload: the log is read again while open
    assert "pending" in row.inner_text() and "next 2026-06-01 13:00:00 UTC" in row.inner_text()

    page.get_by_role("link", name="Clock").click()
    page.get_by_role("button", name="+1 hour").click()
    retry = page.locator("#settled tr", has_text="customer.created")
    retry.wait_for()
    assert "retry (attempt 2)" in retry.inner_text() and "2026-06-01 13:00:00 UTC" in retry.inner_text()
    webhook_receiver.wait_for(2)

    page.get_by_role("link", name="Webhooks").click()
    attempts = page.locator("#delivery-list tbody tr", has_text="customer.created").locator("ol.attempts li")
    attempts.nth(1).get_by_text("succeeded").wait_for()
    assert re.search(r"failed 500 at 2026-06-01 12:00:00 UTC", attempts.nth(0).inner_text())
    assert re.search(r"succeeded 200 at 2026-06-01 13:00:00 UTC", attempts.nth(1).inner_text())
    page.screenshot(path=shots / "dashboard-webhooks.png", full_page=True)

    page.get_by_role("button", name=re.compile(r"^Redeliver customer\.created")).focus()
    page.keyboard.press("Enter")
    newest = page.locator("#delivery-list tbody tr").first
    newest.get_by_text("replay").wait_for()
    newest.get_by_text("succeeded").wait_for()
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused is not None and focused.startswith("Redeliver customer.created")  # redraws keep the focus
    webhook_receiver.wait_for(3)
    deliveries = httpx.get(f"{admin}/webhooks/deliveries").json()["deliveries"]
    assert [(d["replay"], d["status"]) for d in deliveries] == [(False, "delivered"), (True, "delivered")]
    assert page.locator("#delivery-list tbody tr").count() == 2

    page.get_by_role("button", name=f"Pause subscription {subscription['id']}").click()
    page.get_by_role("button", name=f"Resume subscription {subscription['id']}").wait_for()
    assert httpx.get(f"{admin}/webhooks/subscriptions").json()["subscriptions"][0]["paused"] is True
    page.set_viewport_size({"width": 420, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path=shots / "dashboard-webhooks-narrow.png", full_page=True)
    delete = page.get_by_role("button", name=f"Delete subscription {subscription['id']}")
    delete.click()
    assert len(httpx.get(f"{admin}/webhooks/subscriptions").json()["subscriptions"]) == 1  # one press only arms it
    delete.click()
    page.get_by_text("This tenant has no webhook subscription.").wait_for()
    assert httpx.get(f"{admin}/webhooks/subscriptions").json()["subscriptions"] == []


def test_the_coverage_view_shows_an_operation_just_called_as_covered(
    page: Any, server: str, credential: str, shots: Path
) -> None:
    payt_task(server, credential)
    page.goto(f"{server}/__sandbox/ui/#/t/{credential}/coverage")
    row = page.locator("tr[data-operation='getV1TasksId']")
    row.wait_for()
    cells = row.locator("td")
    assert cells.nth(0).inner_text() == "getV1TasksId\nGET /payt/v1/tasks/{id}"
    assert (cells.nth(1).inner_text(), cells.nth(2).inner_text()) == ("1", "200 \N{MULTIPLICATION SIGN}1")
    assert "200" not in cells.nth(3).inner_text()  # seen, so not among the statuses not seen
    assert row.get_attribute("class") == "covered"
    totals = httpx.get(f"{server}/__sandbox/tenants/{credential}/coverage").json()["totals"]
    expected = (
        f"All providers: {totals['operations_exercised']} of {totals['operations_total']} operations exercised "
        f"({totals['operations_percent']:g}%), {totals['statuses_exercised']} of {totals['statuses_total']} "
        f"documented statuses ({totals['statuses_percent']:g}%), 1 call(s)."
    )
    assert page.locator("#coverage-totals").inner_text() == expected

    page.get_by_label("Only operations called").click()
    wethod = page.locator("section[aria-label='wethod coverage']")
    wethod.get_by_text("No operation of this provider was called.").wait_for()
    assert page.locator("section[aria-label='payt coverage'] tbody tr").count() == 1
    page.screenshot(path=shots / "dashboard-coverage.png")


class AdminTokenRequired:
    """Stands in for the admin token of issue 13: every admin call but the dashboard's files needs it."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        guarded = scope["type"] == "http" and path.startswith("/__sandbox") and not path.startswith("/__sandbox/ui")
        if guarded and dict(scope["headers"]).get(b"authorization") != self.expected:
            body = b'{"error":{"code":"unauthorized","message":"This admin API needs the admin token."}}'
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def test_the_dashboard_asks_for_the_admin_token_when_the_api_answers_401(page: Any) -> None:
    with running_server(AdminTokenRequired(create_app(), "s3cret")) as url:  # type: ignore[arg-type]
        page.goto(f"{url}/__sandbox/ui/")
        dialog = page.get_by_role("dialog", name="Admin token")
        dialog.get_by_text("This admin API needs the admin token.").wait_for()
        dialog.get_by_label(re.compile("^Token")).fill("s3cret")
        dialog.get_by_role("button", name="Use token").click()
        page.get_by_text("The sandbox holds no tenant yet").wait_for()
        assert not dialog.is_visible()

"""Invoiced through HTTP: auth, errors, lists, tasks, customers, invoices, payments, idempotency."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings

KEY = "invoiced-test-key"
OTHER_KEY = "invoiced-other-key"
DAY = 86400


def basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH = basic(KEY)
ADMIN = f"/__sandbox/tenants/{KEY}"


@pytest.fixture(scope="module")
def shared() -> Iterator[TestClient]:
    """One app for the module (building one takes a while); each test resets the tenants it uses."""
    with TestClient(create_app(Settings(validate_responses=True))) as client:
        yield client


@pytest.fixture
def api(shared: TestClient) -> TestClient:
    """A client whose tenant is freshly seeded and whose clock is frozen (timestamps are predictable)."""
    client = shared
    for key in (KEY, OTHER_KEY):
        assert client.post(f"/__sandbox/tenants/{key}/reset").status_code == 200
    client.post(f"{ADMIN}/clock", json={"frozen": True, "set": "2026-01-01T00:00:00Z"})
    assert client.get("/invoiced/tasks", headers=AUTH).status_code == 200
    return client


NOW = 1767225600  # 2026-01-01T00:00:00Z


def snapshot(client: TestClient) -> dict[str, Any]:
    return client.get(f"{ADMIN}/state").json()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


def error(response: Any, status: int = 400, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "invalid_request"
    if param is not None:
        assert body.get("param") == param, body
    return body


def create_invoice(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"customer": 481594, "items": [{"name": "Work", "quantity": 1, "unit_cost": 100}], **fields}
    return ok(client.post("/invoiced/invoices", headers=AUTH, json=body), 201)


def pay(client: TestClient, invoice: dict[str, Any], amount: float, **fields: Any) -> Any:
    applied = [{"type": "invoice", "invoice": invoice["id"], "amount": amount}]
    return client.post("/invoiced/payments", headers=AUTH, json={"amount": amount, "applied_to": applied, **fields})


def links(response: Any) -> dict[str, str]:
    found = {}
    for part in response.headers["link"].split(", "):
        url, rel = part.split("; ")
        found[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return found


# -- auth and wire format -----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing API key!"),
        ({"Authorization": "Token abc"}, "Basic"),
        ({"Authorization": "Bearer two words"}, "Bearer <token>"),
        (basic(KEY, "secret"), "password empty"),
        (basic(""), "user name"),
        ({"Authorization": "Basic !!!"}, "base64"),
    ],
)
def test_anything_but_a_key_with_an_empty_password_is_a_401(
    api: TestClient, headers: dict[str, str], message: str
) -> None:
    response = api.get("/invoiced/customers", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="Invoiced"'
    assert response.json()["type"] == "invalid_request"
    assert message in response.json()["message"]


def test_get_and_delete_with_a_json_content_type_and_no_body_work(api: TestClient) -> None:
    # The SDK sends content-type: application/json on every request, GET and DELETE included.
    headers = {**AUTH, "content-type": "application/json"}
    assert ok(api.get("/invoiced/tasks/788", headers=headers))["id"] == 788
    assert api.delete("/invoiced/tasks/788", headers=headers).status_code == 204
    assert ok(api.post("/invoiced/invoices/46225/void", headers=headers))["status"] == "voided"


def test_unknown_ids_are_404s_naming_the_model(api: TestClient) -> None:
    for path, model in [("tasks", "Task"), ("customers", "Customer"), ("invoices", "Invoice"), ("payments", "Payment")]:
        body = error(api.get(f"/invoiced/{path}/42", headers=AUTH), 404)
        assert body == {"type": "invalid_request", "message": f"{model} was not found: 42"}
    error(api.get("/invoiced/customers/42/balance", headers=AUTH), 404)


def test_validation_errors_name_the_field(api: TestClient) -> None:
    body = {"name": "x", "action": "fax", "due_date": NOW, "customer_id": 481594}
    assert "fax" in error(api.post("/invoiced/tasks", headers=AUTH, json=body), param="action")["message"]
    error(api.post("/invoiced/tasks", headers=AUTH, json={"name": "x", "action": "phone"}), param="customer_id")
    error(api.patch("/invoiced/tasks/788", headers=AUTH, json={"colour": "red"}))
    error(api.get("/invoiced/tasks/abc", headers=AUTH), param="id")
    error(api.post("/invoiced/tasks", headers={**AUTH, "content-type": "application/json"}, content=b"{nope"))


def test_a_non_finite_number_is_refused(api: TestClient) -> None:
    content = b'{"amount": NaN}'
    body = error(api.post("/invoiced/payments", headers={**AUTH, "content-type": "application/json"}, content=content))
    assert body["message"] == "The request body is not valid JSON: NaN is not a JSON number."


# -- tasks --------------------------------------------------------------------


def test_a_task_created_from_form_fields_as_curl_sends_them(api: TestClient) -> None:
    form = {"customer_id": "481594", "name": "Call customer", "action": "phone", "due_date": "1571288400"}
    task = ok(api.post("/invoiced/tasks", headers=AUTH, data={**form, "user_id": "1976"}), 201)
    assert task == {
        "id": 792,
        "name": "Call customer",
        "action": "phone",
        "customer_id": 481594,
        "user_id": 1976,
        "due_date": 1571288400,
        "complete": False,
        "completed_date": None,
        "completed_by_user_id": None,
        "chase_step_id": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    assert ok(api.get("/invoiced/tasks/792", headers=AUTH)) == task


def test_completing_a_task_sets_and_clearing_it_clears_the_completion_fields(api: TestClient) -> None:
    done = ok(api.patch("/invoiced/tasks/788", headers=AUTH, json={"complete": True, "completed_by_user_id": 7}))
    assert (done["complete"], done["completed_date"], done["completed_by_user_id"]) == (True, NOW, 7)
    api.post(f"{ADMIN}/clock", json={"advance": 60})
    again = ok(api.patch("/invoiced/tasks/788", headers=AUTH, json={"complete": True}))
    assert (again["completed_date"], again["completed_by_user_id"], again["updated_at"]) == (NOW, 7, NOW + 60)
    reopened = ok(api.patch("/invoiced/tasks/788", headers=AUTH, json={"complete": False}))
    assert (reopened["complete"], reopened["completed_date"], reopened["completed_by_user_id"]) == (False, None, None)
    # Without a completed_by_user_id, the assignee is taken.
    assert ok(api.patch("/invoiced/tasks/788", headers=AUTH, json={"complete": True}))["completed_by_user_id"] == 1976


def test_task_rules_refuse_and_change_nothing(api: TestClient) -> None:
    before = snapshot(api)
    error(
        api.patch("/invoiced/tasks/788", headers=AUTH, json={"completed_by_user_id": 5}), param="completed_by_user_id"
    )
    error(api.patch("/invoiced/tasks/788", headers=AUTH, json={"customer_id": 12, "name": "x"}), param="customer_id")
    body = {"name": "x", "action": "email", "due_date": NOW, "customer_id": 12}
    assert error(api.post("/invoiced/tasks", headers=AUTH, json=body), param="customer_id")["message"] == (
        "No such customer: 12"
    )
    assert snapshot(api) == before


def test_tasks_of_every_action_are_in_the_fixtures(api: TestClient) -> None:
    tasks = ok(api.get("/invoiced/tasks", headers=AUTH))
    assert {task["action"] for task in tasks} == {"phone", "letter", "email", "review"}


# -- lists --------------------------------------------------------------------


def test_list_pages_carry_links_and_the_total(api: TestClient) -> None:
    response = api.get("/invoiced/tasks", headers=AUTH, params={"per_page": 1, "page": 2, "sort": "id desc"})
    assert [task["id"] for task in ok(response)] == [790]
    assert response.headers["x-total-count"] == "4"
    base = "http://testserver/invoiced/tasks?sort=id+desc"
    assert links(response) == {
        "self": f"{base}&page=2&per_page=1",
        "first": f"{base}&page=1&per_page=1",
        "previous": f"{base}&page=1&per_page=1",
        "next": f"{base}&page=3&per_page=1",
        "last": f"{base}&page=4&per_page=1",
    }


def test_pages_are_clamped_and_empty_lists_still_have_headers(api: TestClient) -> None:
    response = api.get("/invoiced/tasks", headers=AUTH, params={"per_page": 500, "page": 0})
    assert len(ok(response)) == 4
    assert links(response)["self"] == "http://testserver/invoiced/tasks?page=1"
    assert len(ok(api.get("/invoiced/tasks", headers=AUTH, params={"per_page": 0}))) == 1
    empty = api.get("/invoiced/tasks", headers=AUTH, params={"filter[user_id]": 1, "page": 3})
    assert ok(empty) == []
    assert empty.headers["x-total-count"] == "0"
    assert set(links(empty)) == {"self", "first", "previous", "last"}
    assert "page=1" in links(empty)["last"]


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_boolean_filters_read_every_spelling(api: TestClient, value: str) -> None:
    tasks = ok(api.get("/invoiced/tasks", headers=AUTH, params={"filter[complete]": value}))
    assert [task["id"] for task in tasks] == [790, 791]


def test_filters_sort_and_updated_after_combine(api: TestClient) -> None:
    params = {"filter[customer_id]": 481596, "filter[action]": "letter"}
    assert [t["id"] for t in ok(api.get("/invoiced/tasks", headers=AUTH, params=params))] == [789]
    params = {"sort": "complete desc, due_date asc"}
    assert [t["id"] for t in ok(api.get("/invoiced/tasks", headers=AUTH, params=params))] == [791, 790, 788, 789]
    params = {"updated_after": 1760400000}
    assert [t["id"] for t in ok(api.get("/invoiced/tasks", headers=AUTH, params=params))] == [788, 789]
    params = {"filter[currency]": "USD", "sort": "name desc"}
    assert [c["id"] for c in ok(api.get("/invoiced/customers", headers=AUTH, params=params))] == [481596, 481594]
    params = {"metadata[project]": "ops-review"}
    assert [i["id"] for i in ok(api.get("/invoiced/invoices", headers=AUTH, params=params))] == [46227]


def test_unknown_filter_and_sort_fields_are_400s(api: TestClient) -> None:
    error(api.get("/invoiced/tasks", headers=AUTH, params={"filter[colour]": "red"}), param="filter")
    body = error(api.get("/invoiced/tasks", headers=AUTH, params={"sort": "colour asc"}), param="sort")
    assert "colour" in body["message"]


# -- customers ----------------------------------------------------------------


def test_customer_defaults_numbers_and_normalised_codes(api: TestClient) -> None:
    body = {"name": "Initech", "currency": "EUR", "country": "de", "language": "DE"}
    customer = ok(api.post("/invoiced/customers", headers=AUTH, json=body), 201)
    assert (customer["id"], customer["number"]) == (481598, "CUST-0005")
    assert (customer["currency"], customer["country"], customer["language"]) == ("eur", "DE", "de")
    assert (customer["type"], customer["chase"], customer["metadata"]) == ("company", True, {})
    taken = error(
        api.post("/invoiced/customers", headers=AUTH, json={"name": "X", "number": "CUST-0001"}), param="number"
    )
    assert taken["message"] == "The given customer number has already been taken: CUST-0001"
    error(api.patch("/invoiced/customers/481598", headers=AUTH, json={"number": "CUST-0002"}), param="number")
    error(api.post("/invoiced/customers", headers=AUTH, json={"name": "X", "autopay": True}), param="autopay")
    renamed = ok(
        api.patch("/invoiced/customers/481598", headers=AUTH, json={"number": "VIP-1", "metadata": {"a": "b"}})
    )
    assert (renamed["number"], renamed["metadata"]) == ("VIP-1", {"a": "b"})
    assert ok(api.post("/invoiced/customers", headers=AUTH, json={"name": "Y"}), 201)["number"] == "CUST-0006"


def test_deleting_a_customer_takes_its_tasks_but_not_one_with_invoices_or_payments(api: TestClient) -> None:
    error(api.delete("/invoiced/customers/481595", headers=AUTH))  # has a payment
    body = error(api.delete("/invoiced/customers/481594", headers=AUTH))  # has invoices
    assert "invoices" in body["message"]
    task = {"name": "Review", "action": "review", "due_date": NOW, "customer_id": 481597}
    task_id = ok(api.post("/invoiced/tasks", headers=AUTH, json=task), 201)["id"]
    assert api.delete("/invoiced/customers/481597", headers=AUTH).status_code == 204
    error(api.get(f"/invoiced/tasks/{task_id}", headers=AUTH), 404)


def test_balance_counts_issued_unpaid_invoices_in_one_currency(api: TestClient) -> None:
    assert ok(api.get("/invoiced/customers/481594/balance", headers=AUTH))["total_outstanding"] == 460  # draft left out
    create_invoice(api, date=NOW + 10 * DAY)
    balance = ok(api.get("/invoiced/customers/481594/balance", headers=AUTH))
    assert (balance["total_outstanding"], balance["due_now"], balance["past_due"]) == (560, 460, False)
    assert (
        ok(api.get("/invoiced/customers/481594/balance", headers=AUTH, params={"currency": "GBP"}))["total_outstanding"]
        == 0
    )
    assert ok(api.get("/invoiced/customers/481596/balance", headers=AUTH))["past_due"] is True


# -- invoices -----------------------------------------------------------------


def test_fixture_invoices_cover_draft_sent_paid_and_past_due(api: TestClient) -> None:
    invoices = ok(api.get("/invoiced/invoices", headers=AUTH))
    assert [(i["id"], i["status"], i["balance"]) for i in invoices] == [
        (46225, "draft", 2800),
        (46226, "sent", 460),
        (46227, "paid", 0),
        (46228, "past_due", 57.49),
    ]


def test_invoice_totals_and_due_date_are_computed(api: TestClient) -> None:
    items = [{"name": "Binder", "quantity": 3, "unit_cost": 12.5}, {"name": "Stapler", "unit_cost": 19.99}]
    invoice = create_invoice(api, items=items, payment_terms="NET 30", currency="USD")
    assert [item["amount"] for item in invoice["items"]] == [37.5, 19.99]
    assert [item["id"] for item in invoice["items"]] == [7008, 7009]
    assert (invoice["subtotal"], invoice["total"], invoice["balance"]) == (57.49, 57.49, 57.49)
    assert (invoice["number"], invoice["date"], invoice["due_date"]) == ("INV-0005", NOW, NOW + 30 * DAY)
    assert invoice["status"] == "not_sent"
    receipt = create_invoice(api, payment_terms="Due on Receipt", date=NOW - DAY)
    assert receipt["due_date"] == NOW - DAY
    assert receipt["status"] == "past_due"
    error(api.post("/invoiced/invoices", headers=AUTH, json={"customer": 12}), param="customer")
    negative = {"customer": 481594, "items": [{"name": "Credit", "unit_cost": -5}]}
    error(api.post("/invoiced/invoices", headers=AUTH, json=negative), param="items")
    huge = {"customer": 481594, "items": [{"name": "Lots", "quantity": 1e9, "unit_cost": 1e9}]}
    error(api.post("/invoiced/invoices", headers=AUTH, json=huge), param="items[0]")


def test_an_invoice_turns_past_due_on_the_tenant_clock(api: TestClient) -> None:
    invoice = create_invoice(api, payment_terms="NET 14", sent=True)
    assert invoice["status"] == "sent"
    api.post(f"{ADMIN}/clock", json={"advance": 15 * DAY})
    assert ok(api.get(f"/invoiced/invoices/{invoice['id']}", headers=AUTH))["status"] == "past_due"
    past_due = ok(api.get("/invoiced/invoices", headers=AUTH, params={"filter[status]": "past_due"}))
    assert [i["id"] for i in past_due] == [46228, invoice["id"]]
    assert ok(api.get("/invoiced/customers/481594/balance", headers=AUTH))["past_due"] is True


def test_invoice_updates_keep_line_item_ids_and_follow_the_rules(api: TestClient) -> None:
    draft = ok(api.get("/invoiced/invoices/46225", headers=AUTH))
    items = [{"id": 7002, "quantity": 6}, {"name": "Support", "unit_cost": 50}]
    updated = ok(api.patch("/invoiced/invoices/46225", headers=AUTH, json={"items": items, "draft": False}))
    assert [(i["id"], i["name"], i["amount"]) for i in updated["items"]] == [
        (7002, "Hosting (12 months)", 150),
        (7008, "Support", 50),
    ]
    # Issued, and its due date (2025-12-10) is behind the clock.
    assert (updated["total"], updated["status"], updated["created_at"]) == (200, "past_due", draft["created_at"])
    error(api.patch("/invoiced/invoices/46225", headers=AUTH, json={"draft": True}), param="draft")
    error(api.patch("/invoiced/invoices/46225", headers=AUTH, json={"items": [{"id": 7001}]}), param="items")
    error(api.patch("/invoiced/invoices/46225", headers=AUTH, json={"number": "INV-0002"}), param="number")
    error(api.patch("/invoiced/invoices/46227", headers=AUTH, json={"notes": "x"}), param="closed")
    ok(pay(api, updated, 150), 201)
    error(api.patch("/invoiced/invoices/46225", headers=AUTH, json={"items": []}), param="items")
    error(api.patch("/invoiced/invoices/46225", headers=AUTH, json={"currency": "eur"}), param="currency")
    terms = ok(api.patch("/invoiced/invoices/46225", headers=AUTH, json={"payment_terms": "NET 7"}))
    assert terms["due_date"] == updated["date"] + 7 * DAY


def test_void_and_delete_are_refused_while_a_payment_is_applied(api: TestClient) -> None:
    for request in (api.post, api.delete):
        body = error(request("/invoiced/invoices/46227" + ("/void" if request == api.post else ""), headers=AUTH))
        assert body["message"] == "This invoice cannot be voided because it has a payment applied."
    voided = ok(api.post("/invoiced/invoices/46226/void", headers=AUTH))
    assert (voided["status"], voided["balance"], voided["paid"]) == ("voided", 0, False)
    assert error(api.post("/invoiced/invoices/46226/void", headers=AUTH))["message"] == (
        "This document has already been voided."
    )
    error(api.patch("/invoiced/invoices/46226", headers=AUTH, json={"notes": "x"}), param="voided")
    error(pay(api, voided, 10), param="applied_to")
    assert api.delete("/invoiced/invoices/46226", headers=AUTH).status_code == 204


# -- payments -----------------------------------------------------------------


def test_payments_lower_the_balance_until_the_invoice_is_paid(api: TestClient) -> None:
    invoice = ok(api.get("/invoiced/invoices/46226", headers=AUTH))
    first = ok(pay(api, invoice, 400, method="check", reference="1450"), 201)
    assert (first["customer"], first["currency"], first["balance"], first["source"]) == (481594, "usd", 0, "keyed")
    assert first["applied_to"] == [{"id": 90002, "type": "invoice", "invoice": 46226, "amount": 400}]
    assert ok(api.get("/invoiced/invoices/46226", headers=AUTH))["balance"] == 60
    applied = [{"type": "invoice", "invoice": 46226, "amount": 60}]
    second = ok(api.post("/invoiced/payments", headers=AUTH, json={"amount": 100, "applied_to": applied}), 201)
    assert second["balance"] == 40
    paid = ok(api.get("/invoiced/invoices/46226", headers=AUTH))
    assert (paid["balance"], paid["paid"], paid["closed"], paid["status"]) == (0, True, True, "paid")
    voided = ok(api.delete(f"/invoiced/payments/{first['id']}", headers=AUTH))
    assert (voided["voided"], voided["balance"], voided["applied_to"]) == (True, 400, [])
    reopened = ok(api.get("/invoiced/invoices/46226", headers=AUTH))
    assert (reopened["balance"], reopened["paid"], reopened["status"]) == (400, False, "sent")
    assert error(api.delete(f"/invoiced/payments/{first['id']}", headers=AUTH))["message"] == (
        "This payment has already been voided."
    )
    error(api.patch(f"/invoiced/payments/{first['id']}", headers=AUTH, json={"notes": "x"}), param="voided")
    listed = ok(api.get("/invoiced/payments", headers=AUTH, params={"filter[voided]": "false"}))
    assert [p["id"] for p in listed] == [1201, second["id"]]


def apply_to(*invoices: tuple[int, float]) -> list[dict[str, Any]]:
    return [{"type": "invoice", "invoice": invoice, "amount": amount} for invoice, amount in invoices]


@pytest.mark.parametrize(
    ("applied_to", "amount", "currency", "message"),
    [
        (apply_to((46228, 10)), 10, "usd", "another customer"),
        (apply_to((46225, 10)), 10, "usd", "draft"),
        (apply_to((46226, 10)), 10, "eur", "is in usd, the payment in eur"),
        (apply_to((46226, 461)), 461, "usd", "more than the balance"),
        (apply_to((99, 1)), 1, "usd", "No such invoice: 99"),
        ([{"type": "invoice", "amount": 1}], 1, "usd", "Missing `invoice` parameter"),
        (apply_to((46226, 50)), 40, "usd", "Total amount applied (50) cannot exceed"),
        (apply_to((46226, 1), (46226, 1)), 2, "usd", "Detected duplicate (invoice:46226)"),
    ],
)
def test_payment_applications_are_checked_before_anything_changes(
    api: TestClient, applied_to: list[dict[str, Any]], amount: float, currency: str, message: str
) -> None:
    before = snapshot(api)
    body = {"customer": 481594, "currency": currency, "amount": amount, "applied_to": applied_to}
    assert message in error(api.post("/invoiced/payments", headers=AUTH, json=body), param="applied_to")["message"]
    assert snapshot(api) == before


def test_updating_a_payment_moves_its_applications(api: TestClient) -> None:
    invoice = create_invoice(api)
    payment = ok(pay(api, invoice, 100), 201)
    error(api.patch(f"/invoiced/payments/{payment['id']}", headers=AUTH, json={"amount": 50}), param="amount")
    moved = {"amount": 500, "applied_to": [{"type": "invoice", "invoice": 46226, "amount": 460}]}
    updated = ok(api.patch(f"/invoiced/payments/{payment['id']}", headers=AUTH, json=moved))
    assert (updated["balance"], [a["invoice"] for a in updated["applied_to"]]) == (40, [46226])
    assert ok(api.get(f"/invoiced/invoices/{invoice['id']}", headers=AUTH))["balance"] == 100
    assert ok(api.get("/invoiced/invoices/46226", headers=AUTH))["status"] == "paid"
    unassigned = ok(api.patch(f"/invoiced/payments/{payment['id']}", headers=AUTH, json={"customer": None}))
    assert (unassigned["customer"], unassigned["applied_to"], unassigned["balance"]) == (None, [], 500)
    assert ok(api.get("/invoiced/invoices/46226", headers=AUTH))["balance"] == 460


def test_an_unapplied_payment_defaults_its_fields(api: TestClient) -> None:
    payment = ok(api.post("/invoiced/payments", headers=AUTH, data={"amount": "12.345"}), 201)
    assert (payment["customer"], payment["currency"], payment["method"], payment["date"]) == (None, "usd", "other", NOW)
    assert (payment["amount"], payment["balance"]) == (12.35, 12.35)


# -- idempotency --------------------------------------------------------------


def test_a_retried_post_returns_the_first_response(api: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "create-customer-1"}
    first = api.post("/invoiced/customers", headers=headers, json={"name": "Once"})
    second = api.post("/invoiced/customers", headers=headers, json={"name": "Once"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert (
        ok(api.get("/invoiced/customers", headers=AUTH, params={"filter[name]": "Once"}))[0]["id"] == first.json()["id"]
    )
    assert api.get("/invoiced/customers", headers=AUTH).headers["x-total-count"] == "5"
    other_body = error(
        api.post("/invoiced/customers", headers=headers, json={"name": "Twice"}), param="Idempotency-Key"
    )
    assert "different request" in other_body["message"]
    error(api.patch("/invoiced/customers/481594", headers=headers, json={"name": "Once"}), param="Idempotency-Key")
    # Another API key is another world: the same key is new there.
    assert (
        api.post(
            "/invoiced/customers",
            headers={**basic(OTHER_KEY), "Idempotency-Key": "create-customer-1"},
            json={"name": "Else"},
        ).status_code
        == 201
    )


def test_idempotency_keys_expire_after_a_day_and_failures_are_not_kept(api: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "create-task-1"}
    bad = {"name": "Call", "action": "phone", "due_date": NOW, "customer_id": 12}
    error(api.post("/invoiced/tasks", headers=headers, json=bad), param="customer_id")
    good = {**bad, "customer_id": 481594}
    first = ok(api.post("/invoiced/tasks", headers=headers, json=good), 201)
    api.post(f"{ADMIN}/clock", json={"advance": DAY + 1})
    assert ok(api.post("/invoiced/tasks", headers=headers, json=good), 201)["id"] == first["id"] + 1
    error(api.post("/invoiced/tasks", headers={**AUTH, "Idempotency-Key": "short"}, json=good), param="Idempotency-Key")


# -- fixtures -----------------------------------------------------------------


def test_loaded_fixtures_are_checked_and_recomputed(api: TestClient) -> None:
    payment = {
        "id": 5000, "object": "payment", "customer": 481594, "date": NOW, "currency": "usd", "amount": 60,
        "balance": 60, "method": "cash", "reference": None, "source": "keyed", "notes": None, "voided": False,
        "matched": None, "ach_sender_id": None, "charge": None, "pdf_url": None, "metadata": {},
        "applied_to": [{"id": 95000, "type": "invoice", "invoice": 77, "amount": 60}],
        "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip
    refused = api.post(f"{ADMIN}/fixtures", json={"invoiced": {"payments": [payment]}})
    assert refused.status_code == 400
    assert "field 'applied_to[0].invoice': no invoice 77" in refused.json()["error"]["message"]
    payment["applied_to"][0]["invoice"] = 46226
    assert api.post(f"{ADMIN}/fixtures", json={"invoiced": {"payments": [payment]}}).status_code == 200
    invoice = ok(api.get("/invoiced/invoices/46226", headers=AUTH))
    assert invoice["balance"] == 400
    assert ok(api.get("/invoiced/payments/5000", headers=AUTH))["balance"] == 0
    # New records continue above the loaded ids.
    created = ok(pay(api, invoice, 1), 201)
    assert (created["id"], created["applied_to"][0]["id"]) == (5001, 95001)


def test_get_events_keeps_as_many_events_as_the_history_limit() -> None:
    """`--journal-limit 2`: GET /events lists the two newest events; an older one is 404 by id."""
    with TestClient(create_app(Settings(validate_responses=True, journal_limit=2))) as client:
        created = [ok(client.post("/invoiced/customers", headers=AUTH, json={"name": f"C{n}"}), 201) for n in range(3)]
        listed = client.get("/invoiced/events", headers=AUTH)
        assert listed.status_code == 200 and listed.headers["x-total-count"] == "2"
        events = listed.json()
        assert [event["data"]["object"]["id"] for event in events] == [created[2]["id"], created[1]["id"]]
        oldest = min(int(event["id"]) for event in events) - 1
        assert client.get(f"/invoiced/events/{oldest}", headers=AUTH).status_code == 404

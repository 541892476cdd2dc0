"""Every field Invoiced documents as writable on a customer or an invoice is accepted (Invoiced/api,
source/includes/_customers.md.erb and _invoicing.md.erb, "Create" and "Update" tables).

Fields whose subject the sandbox does not model are stored and shown back; the ones that change money
(an invoice's discounts and taxes) change the totals the way Invoiced computes them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings

KEY = "invoiced-writable-fields"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
CUSTOMER = 481594


@pytest.fixture(scope="module")
def shared() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(validate_responses=True))) as client:
        yield client


@pytest.fixture
def api(shared: TestClient) -> TestClient:
    assert shared.post(f"/__sandbox/tenants/{KEY}/reset").status_code == 200
    assert shared.get("/invoiced/customers", headers=AUTH).status_code == 200  # the tenant exists from here on
    return shared


def state(client: TestClient) -> Any:
    return client.get(f"/__sandbox/tenants/{KEY}/state").json()


def customers(client: TestClient) -> list[dict[str, Any]]:
    return state(client)["providers"]["invoiced"]["collections"]["customers"]


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, param: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["type"], body.get("param")) == ("invalid_request", param), body
    return body


UNMODELLED_CUSTOMER_FIELDS = {
    "autopay_delay_days": 3,
    "chasing_cadence": 12,
    "next_chase_step": 34,
    "owner": 5,
    "avalara_entity_use_code": "E",
    "avalara_exemption_number": "EX-1",
    "sign_up_page": 8,
    "ach_gateway": 21,
    "cc_gateway": 22,
}


def test_a_customer_keeps_the_documented_fields_it_does_not_model(api: TestClient) -> None:
    body = {"name": "Fields Inc", **UNMODELLED_CUSTOMER_FIELDS, "parent_customer": CUSTOMER}
    created = ok(api.post("/invoiced/customers", headers=AUTH, json=body), 201)
    assert {name: created[name] for name in body} == body
    assert ok(api.get(f"/invoiced/customers/{created['id']}", headers=AUTH)) == created

    changed = ok(api.patch(f"/invoiced/customers/{created['id']}", headers=AUTH, json={"owner": None, "cc_gateway": 9}))
    assert (changed["owner"], changed["cc_gateway"], changed["ach_gateway"]) == (None, 9, 21)


def test_disabled_payment_methods_are_accepted_and_never_shown(api: TestClient) -> None:
    body = {"name": "No Cards Ltd", "disabled_payment_methods": ["credit_card"]}
    created = ok(api.post("/invoiced/customers", headers=AUTH, json=body), 201)
    assert "disabled_payment_methods" not in created
    stored = next(c for c in customers(api) if c["id"] == created["id"])
    assert stored["_disabled_payment_methods"] == ["credit_card"]


def test_a_parent_customer_must_be_another_existing_customer(api: TestClient) -> None:
    before = state(api)
    body = refused(api.post("/invoiced/customers", headers=AUTH, json={"name": "Orphan", "parent_customer": 999}),
                   "parent_customer")  # fmt: skip
    assert body["message"] == "No such customer: 999"
    refused(api.patch(f"/invoiced/customers/{CUSTOMER}", headers=AUTH, json={"parent_customer": CUSTOMER}),
            "parent_customer")  # fmt: skip
    assert state(api) == before


def test_a_parent_cycle_is_refused_and_deleting_a_parent_frees_its_children(api: TestClient) -> None:
    child = ok(api.post("/invoiced/customers", headers=AUTH, json={"name": "Child", "parent_customer": CUSTOMER}), 201)
    grandchild = {"name": "Grandchild", "parent_customer": child["id"]}
    grandchild = ok(api.post("/invoiced/customers", headers=AUTH, json=grandchild), 201)
    before = state(api)
    cycle = api.patch(f"/invoiced/customers/{CUSTOMER}", headers=AUTH, json={"parent_customer": grandchild["id"]})
    assert "its own parent customer" in refused(cycle, "parent_customer")["message"]
    assert state(api) == before

    assert api.delete(f"/invoiced/customers/{child['id']}", headers=AUTH).status_code == 204
    assert ok(api.get(f"/invoiced/customers/{grandchild['id']}", headers=AUTH))["parent_customer"] is None


def test_naming_a_tax_rate_is_refused_because_tax_rates_are_not_modelled(api: TestClient) -> None:
    before = state(api)
    refused(api.post("/invoiced/customers", headers=AUTH, json={"name": "Taxed", "taxes": [4]}), "taxes")
    assert state(api) == before
    assert ok(api.post("/invoiced/customers", headers=AUTH, json={"name": "Untaxed", "taxes": []}), 201)["taxes"] == []


def test_a_snapshot_with_write_only_fields_restores(api: TestClient) -> None:
    ok(api.post("/invoiced/customers", headers=AUTH, json={"name": "Snap", "disabled_payment_methods": ["ach"]}), 201)
    snapshot = state(api)
    assert api.post(f"/__sandbox/tenants/{KEY}/reset").status_code == 200
    ok(api.put(f"/__sandbox/tenants/{KEY}/state", json=snapshot))
    assert state(api)["providers"] == snapshot["providers"]


def invoice(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"customer": CUSTOMER, "items": [{"name": "Work", "quantity": 2, "unit_cost": 50}], **fields}
    return ok(client.post("/invoiced/invoices", headers=AUTH, json=body), 201)


def test_discounts_and_taxes_change_the_total_as_invoiced_computes_it(api: TestClient) -> None:
    created = invoice(api, discounts=[{"amount": 10, "expires": 1800000000}], taxes=[{"amount": 7.5}])
    assert (created["subtotal"], created["total"], created["balance"]) == (100, 97.5, 97.5)
    discount, tax = created["discounts"][0], created["taxes"][0]
    assert discount == {"id": discount["id"], "object": "discount", "amount": 10, "coupon": None, "expires": 1800000000}
    assert tax == {"id": tax["id"], "object": "tax", "amount": 7.5, "tax_rate": None}

    kept = {"id": discount["id"], "amount": 20}
    changed = ok(api.patch(f"/invoiced/invoices/{created['id']}", headers=AUTH, json={"discounts": [kept]}))
    assert (changed["discounts"][0]["id"], changed["total"], changed["taxes"]) == (discount["id"], 87.5, [tax])
    untouched = ok(api.patch(f"/invoiced/invoices/{created['id']}", headers=AUTH, json={"notes": "n"}))
    assert (untouched["discounts"], untouched["total"]) == (changed["discounts"], 87.5)


def test_adjustments_that_cannot_be_are_refused_and_change_nothing(api: TestClient) -> None:
    created = invoice(api)
    before = state(api)
    path = f"/invoiced/invoices/{created['id']}"
    refused(api.patch(path, headers=AUTH, json={"discounts": [{"amount": 150}]}), "discounts")  # total below 0
    refused(api.patch(path, headers=AUTH, json={"taxes": [{"amount": 1, "expires": 1}]}), "taxes")
    refused(api.patch(path, headers=AUTH, json={"discounts": [{"id": 999999, "amount": 1}]}), "discounts")
    refused(api.patch(path, headers=AUTH, json={"discounts": [{"amount": 1, "coupon": "SPRING"}]}), "discounts[0]")
    refused(api.patch(path, headers=AUTH, json={"autopay": True}), "autopay")
    refused(api.patch(path, headers=AUTH, json={"attachments": [12]}), "attachments")
    assert state(api) == before


def test_ship_to_is_kept_and_its_country_upper_cased(api: TestClient) -> None:
    ship_to = {"name": "Dock 4", "address1": "1 Pier Road", "city": "Austin", "country": "us"}
    created = invoice(api, ship_to=ship_to)
    assert created["ship_to"] == {**ship_to, "country": "US"}
    cleared = ok(api.patch(f"/invoiced/invoices/{created['id']}", headers=AUTH, json={"ship_to": None}))
    assert cleared["ship_to"] is None


def test_an_invoice_closed_by_hand_refuses_changes_until_it_is_reopened(api: TestClient) -> None:
    created = invoice(api, closed=True, calculate_taxes=False, attachments=[], disabled_payment_methods=["ach"])
    assert (created["closed"], created["paid"]) == (True, False)
    path = f"/invoiced/invoices/{created['id']}"
    refused(api.patch(path, headers=AUTH, json={"notes": "late"}), "closed")
    reopened = ok(api.patch(path, headers=AUTH, json={"closed": False, "notes": "late"}))
    assert (reopened["closed"], reopened["notes"]) == (False, "late")


def test_a_paid_invoice_cannot_be_reopened(api: TestClient) -> None:
    created = invoice(api)
    applied = [{"type": "invoice", "invoice": created["id"], "amount": 100}]
    ok(api.post("/invoiced/payments", headers=AUTH, json={"amount": 100, "applied_to": applied}), 201)
    path = f"/invoiced/invoices/{created['id']}"
    assert ok(api.get(path, headers=AUTH))["closed"] is True
    body = refused(api.patch(path, headers=AUTH, json={"closed": False}), "closed")
    assert "cannot be re-opened" in body["message"]

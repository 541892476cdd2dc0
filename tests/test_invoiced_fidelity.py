"""Invoiced as its own documentation (github.com/Invoiced/api) says: every field, Bearer tokens, query shapes."""

from __future__ import annotations

import base64
import uuid

import httpx
import invoiced

# The attributes Invoiced documents for each object (Invoiced/api: source/includes/*.md.erb tables and the
# sample objects under data/). A line item's `plan` is documented as present only for plan lines.
CUSTOMER_FIELDS = {
    "id", "object", "name", "number", "email", "autopay", "autopay_delay_days", "payment_terms", "payment_source",
    "attention_to", "address1", "address2", "city", "state", "postal_code", "country", "language", "currency",
    "chase", "chasing_cadence", "next_chase_step", "phone", "credit_hold", "credit_limit", "owner", "taxable",
    "taxes", "tax_id", "avalara_entity_use_code", "avalara_exemption_number", "type", "parent_customer", "notes",
    "sign_up_page", "sign_up_url", "statement_pdf_url", "ach_gateway", "cc_gateway", "created_at", "updated_at",
    "metadata",
}  # fmt: skip
INVOICE_FIELDS = {
    "id", "object", "customer", "name", "number", "autopay", "currency", "draft", "closed", "paid", "status",
    "attempt_count", "next_payment_attempt", "subscription", "date", "due_date", "payment_terms", "purchase_order",
    "items", "notes", "subtotal", "discounts", "taxes", "total", "balance", "ship_to", "payment_plan", "url",
    "payment_url", "pdf_url", "created_at", "updated_at", "metadata",
}  # fmt: skip
LINE_ITEM_FIELDS = {
    "id", "object", "catalog_item", "type", "name", "description", "quantity", "unit_cost", "amount",
    "discountable", "discounts", "taxable", "taxes", "metadata", "updated_at",
}  # fmt: skip
PAYMENT_FIELDS = {
    "id", "object", "customer", "date", "currency", "amount", "balance", "matched", "voided", "method",
    "ach_sender_id", "reference", "source", "notes", "charge", "applied_to", "pdf_url", "created_at", "updated_at",
}  # fmt: skip


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_objects_carry_every_documented_field_so_the_sdk_reads_them(live_url: str) -> None:
    key = f"fields-{uuid.uuid4().hex}"
    client = invoiced.Client(key)
    client.api_url = f"{live_url}/invoiced"
    customer = client.Customer.retrieve(481594)
    assert (customer.payment_source, customer.owner, customer.chasing_cadence, customer.taxes) == (None, None, None, [])
    created = client.Customer.create(name="Fields Inc")
    for name in CUSTOMER_FIELDS:
        getattr(created, name)  # the SDK raises AttributeError for a field the response leaves out
    invoice = client.Invoice.create(customer=created.id, items=[{"name": "Work", "quantity": 2, "unit_cost": 5}])
    assert (invoice.ship_to, invoice.subscription) == (None, None)  # (the SDK's payment_plan is a method)
    assert invoice["items"][0]["updated_at"] == invoice.updated_at  # (`.items` is the dict method)

    for path, documented in (
        ("/customers/481594", CUSTOMER_FIELDS),
        ("/invoices/46226", INVOICE_FIELDS),
        ("/payments/1201", PAYMENT_FIELDS),
    ):
        body = httpx.get(f"{live_url}/invoiced{path}", headers=basic(key)).json()
        assert documented - set(body) == set(), path
    items = httpx.get(f"{live_url}/invoiced/invoices/46226", headers=basic(key)).json()["items"]
    assert all(LINE_ITEM_FIELDS - set(item) == set() for item in items)


def test_an_unchanged_line_item_keeps_its_updated_at_and_a_changed_one_moves(live_url: str) -> None:
    key = f"items-{uuid.uuid4().hex}"
    base = f"{live_url}/invoiced/invoices/46225"
    before = httpx.get(base, headers=basic(key)).json()["items"]
    httpx.post(f"{live_url}/__sandbox/tenants/{key}/clock", json={"advance": 3600})
    kept, changed = before
    body = {"items": [{"id": kept["id"]}, {"id": changed["id"], "quantity": changed["quantity"] + 1}]}
    after = httpx.patch(base, headers=basic(key), json=body).json()["items"]
    assert after[0]["updated_at"] == kept["updated_at"]
    assert after[1]["updated_at"] > changed["updated_at"]


def test_an_oauth_bearer_token_is_accepted_beside_basic(live_url: str) -> None:
    key = f"oauth-{uuid.uuid4().hex}"
    task = {"customer_id": 481594, "name": "Call", "action": "phone", "due_date": 1767830400}
    created = httpx.post(f"{live_url}/invoiced/tasks", headers={"Authorization": f"Bearer {key}"}, json=task)
    assert created.status_code == 201, created.text
    # The token names the same world as the API key with the same text.
    fetched = httpx.get(f"{live_url}/invoiced/tasks/{created.json()['id']}", headers=basic(key))
    assert fetched.json() == created.json()
    for header in ("Bearer", "Bearer two words", "Token abc"):
        refused = httpx.get(f"{live_url}/invoiced/tasks", headers={"Authorization": header})
        assert (refused.status_code, refused.json()["type"]) == (401, "invalid_request"), header


def test_query_parameters_are_read_in_the_shape_sent(live_url: str) -> None:
    key = basic(f"query-{uuid.uuid4().hex}")
    payments = f"{live_url}/invoiced/payments"
    matching = httpx.get(payments, headers=key, params={"metadata[channel]": "lockbox"})
    assert matching.status_code == 200
    for params in ({"metadata[]": "x"}, {"metadata[a][b]": "x"}, [("metadata[a]", "1"), ("metadata[a]", "2")]):
        refused = httpx.get(payments, headers=key, params=params)
        assert refused.status_code == 400, (params, refused.text)
        assert refused.json()["type"] == "invalid_request"
        assert refused.json()["param"].startswith("metadata")
    # Parameters an operation does not list are ignored, as Invoiced ignores them.
    balance = httpx.get(f"{live_url}/invoiced/customers/481594/balance", headers=key, params={"foo": "bar"})
    assert balance.status_code == 200

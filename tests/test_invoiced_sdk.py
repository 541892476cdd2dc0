"""The official `invoiced` SDK (3.x), unmodified but for its `api_url`, against a real sandbox server."""

from __future__ import annotations

import uuid

import httpx
import invoiced
import pytest
from invoiced.errors import ApiError, AuthenticationError, InvalidRequestError


@pytest.fixture
def key() -> str:
    """A fresh API key per test: its own world, seeded from the demo fixtures."""
    return f"sdk-{uuid.uuid4().hex}"


@pytest.fixture
def client(live_url: str, key: str) -> invoiced.Client:
    client = invoiced.Client(key)
    client.api_url = f"{live_url}/invoiced"
    return client


def test_tasks_create_retrieve_update_list_and_delete(client: invoiced.Client) -> None:
    task = client.Task.create(
        customer_id=481594, name="Call customer", action="phone", due_date=1571288400, user_id=1976
    )
    assert isinstance(task, invoiced.Task)
    assert task.id > 791  # above the fixture ids
    assert (task.complete, task.completed_date, task.chase_step_id) == (False, None, None)

    fetched = client.Task.retrieve(task.id)
    assert fetched == task

    fetched.due_date = 1587366000
    assert fetched.save() is True
    assert fetched.due_date == 1587366000
    assert fetched.save(complete=True) is True
    assert fetched.complete is True
    assert fetched.completed_date is not None
    assert fetched.completed_by_user_id == 1976
    assert fetched.save(complete=False) is True
    assert (fetched.completed_date, fetched.completed_by_user_id) == (None, None)

    tasks, metadata = client.Task.list(per_page=2)
    assert [t.id for t in tasks] == [788, 789]
    assert metadata.total_count == 5
    assert set(metadata.links) == {"self", "first", "next", "last"}
    assert "page=3" in metadata.links["last"]
    page_three, metadata = client.Task.list(per_page=2, page=3)
    assert [t.id for t in page_three] == [task.id]
    assert set(metadata.links) == {"self", "first", "previous", "last"}

    # The SDK writes Python literals into query strings: filter[complete]=False.
    open_tasks, metadata = client.Task.list(filter={"complete": False, "customer_id": 481594}, sort="due_date desc")
    assert [t.id for t in open_tasks] == [task.id]
    assert metadata.total_count == 1

    assert open_tasks[0].delete() is True
    with pytest.raises(InvalidRequestError) as missing:
        client.Task.retrieve(task.id)
    assert missing.value.status_code == 404
    assert missing.value.error == {"type": "invalid_request", "message": f"Task was not found: {task.id}"}


def test_customers_create_retrieve_update_list_delete_and_balance(client: invoiced.Client) -> None:
    customer = client.Customer.create(name="Initrode", email="ap@initrode.example", payment_terms="NET 30")
    assert customer.number == "CUST-0005"
    assert (customer.type, customer.country, customer.autopay) == ("company", "US", False)

    customer = client.Customer.retrieve(customer.id)
    customer.notes = "Prefers email"
    customer.metadata = {"account_rep": "Jan"}
    assert customer.save() is True
    assert client.Customer.retrieve(customer.id).notes == "Prefers email"

    customers, metadata = client.Customer.list(filter={"type": "company"}, sort="name asc")
    assert [c.name for c in customers] == ["Acme Corporation", "Globex Ltd", "Initrode"]
    assert metadata.total_count == 3
    reps, _ = client.Customer.list(metadata={"account_rep": "Jan"})
    assert [c.id for c in reps] == [481594, customer.id]

    assert customer.balance() == {
        "currency": "usd",
        "total_outstanding": 0,
        "due_now": 0,
        "past_due": False,
        "open_credit_notes": 0,
        "available_credits": 0,
        "history": [],
    }
    assert customer.delete() is True
    with pytest.raises(InvalidRequestError):
        client.Customer.retrieve(customer.id)


def test_an_invoice_paid_by_a_payment(client: invoiced.Client) -> None:
    request = {
        "customer": 481594,
        "payment_terms": "NET 14",
        "items": [
            {"name": "Copy Paper, Case", "quantity": 2, "unit_cost": 45},
            {"name": "Delivery", "unit_cost": 10.5},
        ],
    }
    invoice = client.Invoice.create(**request, idempotency_key="invoice-sdk-1")
    assert [item.get("amount") for item in invoice["items"]] == [90, 10.5]
    assert (invoice.total, invoice.balance, invoice.status, invoice.paid) == (100.5, 100.5, "not_sent", False)
    assert invoice.due_date == invoice.date + 14 * 86400
    # A retry with the same key returns the first response instead of a second invoice.
    again = client.Invoice.create(**request, idempotency_key="invoice-sdk-1")
    assert again == invoice

    invoice.sent = True
    assert invoice.save() is True
    assert invoice.status == "sent"

    payment = client.Payment.create(
        amount=60,
        method="check",
        reference="1450",
        applied_to=[{"type": "invoice", "invoice": invoice.id, "amount": 60}],
    )
    assert (payment.customer, payment.currency, payment.balance) == (481594, "usd", 0)
    invoice = client.Invoice.retrieve(invoice.id)
    assert (invoice.balance, invoice.status) == (40.5, "sent")

    client.Payment.create(
        customer=481594, amount=40.5, applied_to=[{"type": "invoice", "invoice": invoice.id, "amount": 40.5}]
    )
    invoice = client.Invoice.retrieve(invoice.id)
    assert (invoice.balance, invoice.paid, invoice.closed, invoice.status) == (0, True, True, "paid")

    payments, metadata = client.Payment.list(filter={"customer": 481594})
    assert metadata.total_count == 2
    assert payments[0].delete() is True  # voids it: 200 with the payment
    assert payments[0].voided is True
    invoice = client.Invoice.retrieve(invoice.id)
    assert (invoice.balance, invoice.status) == (60, "sent")

    other = client.Invoice.create(customer=481594, items=[{"name": "Setup", "unit_cost": 99}])
    assert other.void() is True
    assert (other.status, other.balance) == ("voided", 0)
    assert other.delete() is True


def test_sdk_error_classes(client: invoiced.Client, live_url: str) -> None:
    with pytest.raises(InvalidRequestError) as not_found:
        client.Invoice.retrieve(999999999)
    assert not_found.value.status_code == 404

    with pytest.raises(InvalidRequestError) as invalid:
        client.Task.create(name="No action", due_date=1767225600, customer_id=481594)
    assert invalid.value.status_code == 400
    assert invalid.value.error["param"] == "action"

    with pytest.raises(InvalidRequestError) as no_customer:
        client.Task.create(name="Call", action="phone", due_date=1767225600, customer_id=12)
    assert no_customer.value.error == {
        "type": "invalid_request",
        "message": "No such customer: 12",
        "param": "customer_id",
    }

    with pytest.raises(InvalidRequestError) as bad_key:
        client.Customer.create(name="A", idempotency_key="k-12345")
        client.Customer.create(name="B", idempotency_key="k-12345")
    assert bad_key.value.error["param"] == "Idempotency-Key"

    for api_key in ("", "not a key!"):
        anonymous = invoiced.Client(api_key)
        anonymous.api_url = client.api_url
        with pytest.raises(AuthenticationError) as unauthorized:
            anonymous.Task.list()
        assert unauthorized.value.status_code == 401
        assert unauthorized.value.error["type"] == "invalid_request"


def test_injected_faults_reach_the_sdk_as_its_error_classes(client: invoiced.Client, live_url: str, key: str) -> None:
    faults = f"{live_url}/__sandbox/tenants/{key}/faults"
    httpx.post(faults, json={"path": "/invoiced/tasks", "status": 503, "times": 1}).raise_for_status()
    with pytest.raises(ApiError) as unavailable:
        client.Task.list()
    assert unavailable.value.status_code == 503
    assert unavailable.value.error["type"] == "api_error"
    tasks, _ = client.Task.list()  # the rule is used up
    assert len(tasks) == 4

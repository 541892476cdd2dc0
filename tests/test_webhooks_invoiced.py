"""Invoiced's events over HTTP: every `object.action` the sandbox emits, in GET /events and delivered signed.

Signatures are checked by `invoiced_signature_holds`, written from Invoiced's
webhooks guide ("an HMAC-SHA256 signature of the request body, using your
webhook secret as the signing key", in `X-Invoiced-Signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import invoiced
import pytest

from sandbox.pytest_plugin import SandboxTenant
from sandbox.spec import SPECS_DIR, Spec
from sandbox.validation import compile_schema
from sandbox.webhook_receiver import WebhookReceiver

SECRET = "whsec-invoiced-sandbox-test"
EVENT_SCHEMA = compile_schema(Spec.load(SPECS_DIR / "invoiced.yaml").component_schema("Event"))


def invoiced_signature_holds(headers: dict[str, str], body: bytes, secret: str) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-invoiced-signature"])


@pytest.fixture
def key() -> str:
    return f"inv-hooks-{uuid.uuid4().hex}"


@pytest.fixture
def api(live_url: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_url}/invoiced", auth=(key, ""), timeout=10) as client:
        yield client


@pytest.fixture
def tenant(live_url: str, key: str) -> SandboxTenant:
    return SandboxTenant(live_url, key)


def ok(answer: httpx.Response) -> Any:
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


def newest_event(api: httpx.Client) -> dict[str, Any]:
    return ok(api.get("/events", params={"per_page": 1}))[0]


def test_every_emitted_event_type_is_listed_and_delivered_signed(
    api: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    tenant.subscribe("invoiced", webhook_receiver.url, secret=SECRET)
    webhook_receiver.secret = SECRET
    steps: list[tuple[str, Any]] = []

    def expect(event_type: str, object_id: int) -> dict[str, Any]:
        event = newest_event(api)
        assert (event["type"], event["data"]["object"]["id"]) == (event_type, object_id)
        steps.append((event_type, event))
        return event

    customer = ok(api.post("/customers", json={"name": "Acme Ltd", "email": "ap@acme.test"}))
    expect("customer.created", customer["id"])
    ok(api.patch(f"/customers/{customer['id']}", json={"email": "billing@acme.test"}))
    updated = expect("customer.updated", customer["id"])
    assert updated["data"]["previous"] == {"email": "ap@acme.test"}
    assert updated["data"]["object"]["email"] == "billing@acme.test"

    invoice = ok(api.post("/invoices", json={"customer": customer["id"], "items": [{"name": "Work", "unit_cost": 80}]}))
    expect("invoice.created", invoice["id"])
    ok(api.patch(f"/invoices/{invoice['id']}", json={"notes": "Thanks"}))
    assert expect("invoice.updated", invoice["id"])["data"]["previous"] == {"notes": None}
    payment = ok(
        api.post(
            "/payments",
            json={
                "customer": customer["id"],
                "amount": 80,
                "applied_to": [{"type": "invoice", "invoice": invoice["id"], "amount": 80}],
            },
        )
    )
    expect("payment.created", payment["id"])
    paid = [event for event in ok(api.get("/events")) if event["type"] == "invoice.paid"]
    assert paid and paid[0]["data"]["previous"]["balance"] == 80 and paid[0]["data"]["object"]["paid"] is True
    steps.append(("invoice.paid", paid[0]))
    ok(api.patch(f"/payments/{payment['id']}", json={"notes": "Wire"}))
    expect("payment.updated", payment["id"])
    ok(api.delete(f"/payments/{payment['id']}"))  # voids it
    deleted_payment = expect("payment.deleted", payment["id"])
    assert deleted_payment["data"]["object"]["voided"] is True

    task = ok(
        api.post(
            "/tasks", json={"name": "Call", "action": "phone", "customer_id": customer["id"], "due_date": 1800000000}
        )
    )
    expect("task.created", task["id"])
    ok(api.patch(f"/tasks/{task['id']}", json={"name": "Call again"}))
    expect("task.updated", task["id"])
    ok(api.patch(f"/tasks/{task['id']}", json={"complete": True}))
    assert expect("task.completed", task["id"])["data"]["previous"]["complete"] is False
    ok(api.delete(f"/tasks/{task['id']}"))
    expect("task.deleted", task["id"])

    draft = ok(api.post("/invoices", json={"customer": customer["id"], "draft": True}))
    ok(api.delete(f"/invoices/{draft['id']}"))
    expect("invoice.deleted", draft["id"])
    other = ok(api.post("/customers", json={"name": "Gone Inc"}))
    ok(api.delete(f"/customers/{other['id']}"))
    expect("customer.deleted", other["id"])

    types = {event_type for event_type, _ in steps}
    assert types == {
        f"{kind}.{action}"
        for kind, actions in (
            ("customer", ("created", "updated", "deleted")),
            ("invoice", ("created", "updated", "deleted", "paid")),
            ("payment", ("created", "updated", "deleted")),
            ("task", ("created", "updated", "deleted", "completed")),
        )
        for action in actions
    }
    listed = ok(api.get("/events"))
    for event in listed:
        assert not list(EVENT_SCHEMA.iter_errors(event)), event
        assert event["object"] == "event"
    hooks = webhook_receiver.wait_for(len(listed))
    delivered = {hook.json["id"]: hook for hook in hooks}
    assert set(delivered) == {event["id"] for event in listed}
    for event in listed:
        hook = delivered[event["id"]]
        assert hook.json == event  # the webhook is the event the API lists
        assert invoiced_signature_holds(hook.headers, hook.body, SECRET)
        assert hook.headers["user-agent"] == "Invoiced/1.0" and hook.headers["content-type"] == "application/json"


def test_events_list_newest_first_page_filter_and_retrieve(api: httpx.Client, live_url: str, key: str) -> None:
    first = ok(api.post("/customers", json={"name": "One"}))
    second = ok(api.post("/customers", json={"name": "Two"}))
    ok(
        api.post(
            "/tasks", json={"name": "Chase", "action": "email", "customer_id": first["id"], "due_date": 1800000000}
        )
    )
    page = api.get("/events", params={"per_page": 2})
    assert page.headers["x-total-count"] == "3"
    assert [e["type"] for e in page.json()] == ["task.created", "customer.created"]
    assert 'rel="next"' in page.headers["link"]
    related = ok(api.get("/events", params={"related_to": f"customer,{first['id']}"}))
    assert [e["type"] for e in related] == ["task.created", "customer.created"]
    assert related[1]["data"]["object"]["id"] == first["id"] and second["id"] != first["id"]
    event = ok(api.get(f"/events/{related[0]['id']}"))
    assert event == related[0]
    missing = api.get("/events/987654")
    assert missing.status_code == 404 and missing.json() == {
        "type": "invalid_request",
        "message": "Event was not found: 987654",
    }
    assert api.get("/events", params={"related_to": "planet,4"}).status_code == 400
    client = invoiced.Client(key, sandbox=False)
    client.api_url = f"{live_url}/invoiced"
    events, metadata = client.Event.list(per_page=10)
    assert [e.type for e in events] == ["task.created", "customer.created", "customer.created"]
    assert metadata.total_count == 3


def test_a_refused_request_emits_no_event(api: httpx.Client) -> None:
    customer = ok(api.post("/customers", json={"name": "Acme"}))
    refused = api.post(
        "/payments",
        json={
            "customer": customer["id"],
            "amount": 10,
            "applied_to": [{"type": "invoice", "invoice": 999999, "amount": 10}],
        },
    )
    assert refused.status_code == 400
    assert [e["type"] for e in ok(api.get("/events"))] == ["customer.created"]


def test_the_final_failed_attempt_disables_the_endpoint_as_invoiced_does(
    api: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscription = tenant.subscribe("invoiced", webhook_receiver.url, ["customer.created"])
    tenant.freeze()
    tenant.fault(target="deliveries", path="*", status=500)  # every attempt fails
    ok(api.post("/customers", json={"name": "Down"}))
    for _ in range(48):  # retried every hour, up to 48 times
        (delivery,) = tenant.deliveries()
        assert delivery["status"] == "pending"
        tenant.advance(3600)
    (delivery,) = tenant.deliveries()
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 49
    assert {attempt["response_code"] for attempt in delivery["attempts"]} == {500}
    (disabled,) = tenant._ok("GET", "/webhooks/subscriptions")["subscriptions"]
    assert disabled["id"] == subscription["id"] and disabled["active"] is False and disabled["disabled_reason"]
    tenant.clear_faults()
    ok(api.post("/customers", json={"name": "Later"}))
    assert len(tenant.deliveries()) == 1  # a disabled endpoint gets nothing new

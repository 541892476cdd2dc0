"""The webhook mechanism itself: retries on the tenant clock, receivers that hang, faults, pausing, strict mode."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.cli import build_parser
from sandbox.delivery import resolves_privately
from sandbox.engine import Settings
from sandbox.pytest_plugin import SandboxTenant
from sandbox.webhook_receiver import WebhookReceiver
from tests.debitura_contract import sign_contract

CASE_BODY = {
    "currencyCode": "EUR",
    "amountToRecover": 100,
    "isTest": True,
    "debtor": {"type": "Company", "name": "Debtor GmbH", "countryAlpha2": "DE"},
}


@pytest.fixture
def key() -> str:
    return f"engine-hooks-{uuid.uuid4().hex}"


@pytest.fixture
def debitura(live_url: str, key: str) -> Iterator[httpx.Client]:
    sign_contract(live_url, key)
    with httpx.Client(base_url=f"{live_url}/debitura/v1", headers={"XApiKey": key}, timeout=5) as client:
        yield client


@pytest.fixture
def invoiced(live_url: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_url}/invoiced", auth=(key, ""), timeout=5) as client:
        yield client


@pytest.fixture
def tenant(live_url: str, key: str) -> SandboxTenant:
    return SandboxTenant(live_url, key)


def subscribe(debitura: httpx.Client, receiver: WebhookReceiver) -> dict:
    created = debitura.post("/webhooks", json={"url": receiver.url, "events": ["case.created", "chat.created"]})
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    return created.json()


def create_case(debitura: httpx.Client, reference: str) -> dict:
    answer = debitura.post("/cases", json={**CASE_BODY, "creditorReference": reference})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_failed_delivery_is_retried_when_the_tenant_clock_reaches_the_next_attempt(
    debitura: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscribe(debitura, webhook_receiver)
    tenant.freeze("2026-06-01T12:00:00Z")
    webhook_receiver.answer(500, 503)  # fails twice, then succeeds
    create_case(debitura, "RETRY-1")
    webhook_receiver.wait_for(1)
    (delivery,) = tenant.deliveries()
    assert delivery["status"] == "pending" and delivery["next_attempt_at"].startswith("2026-06-01T12:01:00")
    assert [(a["status"], a["response_code"]) for a in delivery["attempts"]] == [("failed", 500)]

    tenant.advance(59)
    assert len(tenant.deliveries()[0]["attempts"]) == 1  # not due yet
    tenant.advance(1)
    webhook_receiver.wait_for(2)
    delivery = tenant.deliveries()[0]
    assert delivery["next_attempt_at"].startswith("2026-06-01T12:06:00")  # five minutes after the second attempt

    tenant.advance(300)
    webhook_receiver.wait_for(3)
    (delivery,) = tenant.deliveries()
    assert delivery["status"] == "delivered" and delivery["next_attempt_at"] is None
    assert [(a["number"], a["response_code"], a["time"]) for a in delivery["attempts"]] == [
        (1, 500, "2026-06-01T12:00:00Z"),
        (2, 503, "2026-06-01T12:01:00Z"),
        (3, 200, "2026-06-01T12:06:00Z"),
    ]
    assert delivery["attempts"][0]["error"] == "the receiver answered 500"
    bodies = {hook.body for hook in webhook_receiver.received}
    assert len(bodies) == 1 and all(hook.signature_valid for hook in webhook_receiver.received)


def test_a_receiver_that_hangs_holds_up_no_api_call(
    debitura: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscribe(debitura, webhook_receiver)
    webhook_receiver.hold()
    try:
        case = create_case(debitura, "HANG-1")
        webhook_receiver.wait_for_arrivals(1)  # the delivery is at the receiver, unanswered
        for number in range(5):  # each would time out (5 s) if the server waited on the receiver
            assert debitura.get(f"/cases/{case['id']}").status_code == 200
            chat = {"message": f"note {number}", "userEmail": "anna.holm@nordlys-design.example"}
            assert debitura.post(f"/cases/{case['id']}/chats", json=chat).status_code == 200
        assert webhook_receiver.received == []  # still held: nothing answered yet
        sending = tenant.deliveries(wait=0, type="case.created")
        assert [d["status"] for d in sending] == ["sending"]
    finally:
        webhook_receiver.release()
    webhook_receiver.wait_for(6)
    assert {d["status"] for d in tenant.deliveries()} == {"delivered"}


def test_fault_rules_fail_delay_drop_and_time_out_deliveries(
    debitura: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscribe(debitura, webhook_receiver)
    tenant.freeze()
    rule = tenant.fault(target="deliveries", path="http://127.0.0.1:*", status=503, times=1)
    assert (rule["target"], rule["remaining"]) == ("deliveries", 1)
    tenant.fault(target="deliveries", path="*", timeout=True, times=1)
    tenant.fault(target="deliveries", path="*", drop=True, latency_ms=50, times=1)
    create_case(debitura, "FAULT-1")
    create_case(debitura, "FAULT-2")
    create_case(debitura, "FAULT-3")
    errors = sorted(d["attempts"][0]["error"] for d in tenant.deliveries())
    assert errors[0].startswith("the connection was closed without an answer (fault")
    assert errors[1].startswith("the receiver answered 503 (fault")
    assert errors[2].startswith("timed out after 30 s (fault")
    assert webhook_receiver.received == []  # a faulted attempt sends nothing
    assert tenant._ok("GET", "/faults")["faults"] == []  # each rule fired its one time
    assert debitura.get("/me").status_code == 200  # delivery rules never touch calls
    tenant.advance(60)
    webhook_receiver.wait_for(3)
    assert {d["status"] for d in tenant.deliveries()} == {"delivered"}


def test_a_paused_subscription_holds_its_deliveries_until_resumed(
    debitura: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscription = subscribe(debitura, webhook_receiver)
    paused = tenant.pause(subscription["id"])
    assert paused["paused"] is True and paused["provider"] == "debitura"
    create_case(debitura, "PAUSE-1")
    (waiting,) = tenant.deliveries()
    assert (waiting["status"], waiting["attempts"]) == ("pending", [])
    assert webhook_receiver.received == []
    tenant.pause(subscription["id"], paused=False)
    webhook_receiver.wait_for(1)
    assert tenant.deliveries()[0]["status"] == "delivered"


def test_redeliver_sends_a_delivery_again_as_a_new_one(
    debitura: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscribe(debitura, webhook_receiver)
    create_case(debitura, "AGAIN-1")
    (first,) = tenant.deliveries()
    again = tenant.redeliver(first["id"])
    assert again["id"] != first["id"] and again["replay"] is True and again["event"] == first["event"]
    hooks = webhook_receiver.wait_for(2)
    assert hooks[0].body == hooks[1].body
    assert [d["status"] for d in tenant.deliveries()] == ["delivered", "delivered"]
    assert tenant._admin("POST", f"/webhooks/deliveries/{uuid.uuid4()}/redeliver")[0] == 404


def test_deliveries_are_per_tenant_and_travel_with_a_snapshot(
    debitura: httpx.Client, tenant: SandboxTenant, live_url: str, webhook_receiver: WebhookReceiver
) -> None:
    subscription = subscribe(debitura, webhook_receiver)
    create_case(debitura, "SNAP-1")
    webhook_receiver.wait_for(1)
    assert [d["status"] for d in tenant.deliveries()] == ["delivered"]  # recorded before the snapshot is taken
    other = SandboxTenant(live_url, f"other-{uuid.uuid4().hex}")
    assert other.deliveries() == [] and other._ok("GET", "/webhooks/subscriptions")["subscriptions"] == []
    snapshot = tenant.snapshot()
    assert snapshot["providers"]["debitura"]["collections"]["sandbox.subscriptions"][0]["id"] == subscription["id"]
    other.restore(snapshot)
    assert [d["status"] for d in other.deliveries()] == ["delivered"]


def test_admin_subscriptions_are_checked_and_removable(tenant: SandboxTenant, webhook_receiver) -> None:
    status, refused = tenant._admin("POST", "/webhooks/subscriptions", {"provider": "wethod", "url": "http://x.test"})
    assert status == 400 and refused["error"]["field"] == "provider"
    status, refused = tenant._admin("POST", "/webhooks/subscriptions", {"provider": "invoiced", "url": "nope"})
    assert status == 400 and refused["error"]["code"] == "InvalidWebhookUrl"
    status, refused = tenant._admin(
        "POST", "/webhooks/subscriptions", {"provider": "invoiced", "url": "http://x.test", "events": ["invoice.lost"]}
    )
    assert status == 400 and refused["error"]["code"] == "InvalidEventType"
    status, refused = tenant._admin(
        "POST", "/webhooks/subscriptions", {"provider": "debitura", "url": "http://x.test", "secret": "not base64!"}
    )
    assert status == 400 and refused["error"]["field"] == "secret"
    assert tenant._ok("GET", "/webhooks/subscriptions")["subscriptions"] == []
    created = tenant.subscribe("invoiced", webhook_receiver.url, ["invoice.paid"], secret="s3cr3t-value")
    assert (created["events"], created["secret"], created["active"]) == (["invoice.paid"], "s3cr3t-value", True)
    assert tenant._admin("DELETE", f"/webhooks/subscriptions/{created['id']}")[0] == 204
    assert tenant._admin("DELETE", f"/webhooks/subscriptions/{created['id']}")[0] == 404


def test_strict_mode_refuses_http_and_private_receivers() -> None:
    with TestClient(create_app(Settings(validate_responses=True, webhooks="strict"))) as client:
        headers = {"XApiKey": "strict"}
        for url in ("http://example.com/hooks", "https://127.0.0.1/hooks", "https://10.1.2.3/x", "https://localhost/x"):
            answer = client.post(
                "/debitura/v1/webhooks", headers=headers, json={"url": url, "events": ["case.created"]}
            )
            assert answer.status_code == 400 and answer.json()["error"] == "InvalidWebhookUrl", url
        admin = client.post(
            "/__sandbox/tenants/strict/webhooks/subscriptions",
            json={"provider": "invoiced", "url": "http://127.0.0.1:9000/hooks"},
        )
        assert admin.status_code == 400
        assert client.get("/debitura/v1/webhooks", headers=headers).json() == []
        accepted = client.post(
            "/debitura/v1/webhooks", headers=headers, json={"url": "https://example.com/h", "events": ["case.created"]}
        )
        assert accepted.status_code == 201


def test_serve_takes_the_webhooks_mode() -> None:
    assert build_parser().parse_args(["serve", "--webhooks", "strict"]).webhooks == "strict"
    assert build_parser().parse_args(["serve"]).webhooks == "open"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--webhooks", "lax"])


def test_strict_mode_checks_where_a_host_name_resolves_before_posting() -> None:
    assert "private address" in (resolves_privately("https://localhost:8443/hooks") or "")


def test_a_delivery_restored_mid_attempt_is_attempted_again(
    debitura: httpx.Client, tenant: SandboxTenant, live_url: str, webhook_receiver: WebhookReceiver
) -> None:
    subscribe(debitura, webhook_receiver)
    webhook_receiver.hold()
    try:
        create_case(debitura, "MIDWAY-1")
        webhook_receiver.wait_for_arrivals(1)
        snapshot = tenant.snapshot()  # the delivery is `sending`
    finally:
        webhook_receiver.release()
    other = SandboxTenant(live_url, f"restored-{uuid.uuid4().hex}")
    other.restore(snapshot)
    (delivery,) = other.deliveries()  # the restored world's next call attempts it again
    assert [(a["status"], a["error"]) for a in delivery["attempts"]] == [
        ("failed", "interrupted: the sandbox's state was restored mid-attempt"),
        ("succeeded", None),
    ]
    assert delivery["status"] == "delivered"
    assert len(webhook_receiver.wait_for(2)) == 2
    assert [d["status"] for d in tenant.deliveries()] == ["delivered"]  # the original finished on its own

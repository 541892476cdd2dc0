"""Debitura's webhooks over HTTP: subscribe, trigger every event type, receive, verify, list with the SDK, replay.

Signatures are checked by `debitura_signature_holds`, written from the steps in
Debitura's `POST /webhooks` documentation, not from the sandbox's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import debitura_debt_collection as dc
import httpx
import pytest

from sandbox.pytest_plugin import SandboxTenant
from sandbox.spec import SPECS_DIR, Spec
from sandbox.validation import compile_schema
from sandbox.webhook_receiver import WebhookReceiver
from tests.debitura_contract import sign_contract

PRODUCTION_CASE = "0fdf9248-8932-5566-a79b-069d9e8c034b"  # isTestCase: false (fixtures)
MORE_INFO_CASE = "c7085dfa-7f0b-5b03-afc8-7a47ea6d4af5"  # a test case in "More Info Required" (fixtures)
ANNA = "anna.holm@nordlys-design.example"
ALL_TYPES = ["case.created", "case.updated", "case.closed", "payment.created", "payment.deleted", "chat.created"]
EVENT_SCHEMA = compile_schema(Spec.load(SPECS_DIR / "debitura.yaml").component_schema("WebhookEvent"))


def debitura_signature_holds(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Debitura's five steps: split t and v1, sign `{t}.{body}` with the Base64-decoded secret, compare."""
    fields = dict(item.split("=", 1) for item in headers["x-debitura-signature"].split(","))
    timestamp, given = fields["t"], fields["v1"]
    digest = hmac.new(base64.b64decode(secret), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, given) and headers["x-debitura-timestamp"] == timestamp


@pytest.fixture
def key() -> str:
    return f"hooks-{uuid.uuid4().hex}"


@pytest.fixture
def api(live_url: str, key: str) -> Iterator[httpx.Client]:
    sign_contract(live_url, key)
    with httpx.Client(base_url=f"{live_url}/debitura/v1", headers={"XApiKey": key}, timeout=10) as client:
        yield client


@pytest.fixture
def tenant(live_url: str, key: str) -> SandboxTenant:
    return SandboxTenant(live_url, key)


@pytest.fixture
def sdk(live_url: str, key: str) -> Iterator[dc.ApiClient]:
    configuration = dc.Configuration(host=f"{live_url}/debitura/v1")
    configuration.api_key["ApiKey"] = key
    with dc.ApiClient(configuration) as client:
        yield client


def subscribe(api: httpx.Client, receiver: WebhookReceiver, events: list[str], test_mode: bool = False) -> dict:
    answer = api.post("/webhooks", json={"url": receiver.url, "events": events, "isTestMode": test_mode})
    assert answer.status_code == 201, answer.text
    receiver.secret = answer.json()["secret"]
    return answer.json()


def new_case(api: httpx.Client, reference: str) -> dict[str, Any]:
    body = {
        "currencyCode": "EUR",
        "amountToRecover": 800,
        "creditorReference": reference,
        "isTest": True,
        "debtor": {"type": "Company", "name": "Debtor GmbH", "countryAlpha2": "DE"},
    }
    answer = api.post("/cases", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def received_types(receiver: WebhookReceiver, count: int) -> list[str]:
    return sorted(hook.headers["x-debitura-event"] for hook in receiver.wait_for(count))


def test_every_emitted_event_type_is_delivered_signed_listed_and_read_by_the_sdk(
    api: httpx.Client, tenant: SandboxTenant, sdk: dc.ApiClient, webhook_receiver: WebhookReceiver
) -> None:
    created = dc.WebhooksApi(sdk).webhooks_post(
        dc.DebituraDomainModelWebhooksDtosCreateWebhookRequest(url=webhook_receiver.url, events=ALL_TYPES)
    )
    secret = webhook_receiver.secret = created.secret
    assert secret and len(base64.b64decode(secret)) == 32
    case = new_case(api, "HOOK-1")
    assert received_types(webhook_receiver, 1) == ["case.created"]
    assert api.post(f"/cases/{case['id']}/chats", json={"message": "Hello", "userEmail": ANNA}).status_code == 200
    tenant._ok("POST", f"/debitura/cases/{case['id']}/partner-messages", {"message": "Please call us"})
    assert received_types(webhook_receiver, 3).count("chat.created") == 2
    advanced = api.post(f"/test/cases/{case['id']}/advance", json={"to": "Closed:Paid", "amount": 300})
    assert advanced.json() == {"advanced": True, "state": "Closed:Paid"}
    types = received_types(webhook_receiver, 7)
    expected = ["case.created", "chat.created", "chat.created", "case.updated", "case.updated", "payment.created"]
    assert types == sorted([*expected, "case.closed"])

    for hook in webhook_receiver.received:
        assert debitura_signature_holds(hook.headers, hook.body, secret), hook.headers
        assert hook.signature_valid is True  # the fixture's own check agrees
        event = hook.json
        assert not list(EVENT_SCHEMA.iter_errors(event)), event
        assert event["event"] == hook.headers["x-debitura-event"]
        assert event["data"]["caseId"] == case["id"]
    by_type = {hook.json["event"]: hook.json["data"] for hook in webhook_receiver.received}
    assert by_type["case.created"]["creditorReference"] == "HOOK-1"
    assert by_type["case.created"]["debtorName"] == "Debtor GmbH"
    assert by_type["payment.created"]["amount"] == 300
    assert by_type["payment.created"]["remainder"] == 500
    assert by_type["case.closed"]["closeCode"] == "Paid"
    lifecycles = sorted(
        (h.json["data"]["oldLifecycle"], h.json["data"]["newLifecycle"])
        for h in webhook_receiver.received
        if h.json["event"] == "case.updated"
    )
    assert lifecycles == [("Active", "Closed"), ("Pending Verification Internal", "Active")]

    assert {d["status"] for d in tenant.deliveries()} == {"delivered"}  # waits for the last answers to be recorded
    listed = dc.WebhookEventsApi(sdk).webhooks_events_get(case_id=case["id"])
    assert all(isinstance(row, dc.DebituraWebExternalCustomerAPIModelsWebhooksDtosWebhookEventDto) for row in listed)
    assert sorted(row.event_type for row in listed) == types
    bodies = {hook.body for hook in webhook_receiver.received}
    assert {row.payload.encode() for row in listed} == bodies  # the exact bytes delivered
    assert all(row.attempt_count == 1 and row.last_response_code == 200 for row in listed)
    assert all(row.subscription_id == created.id and row.delivered_at is not None for row in listed)
    newest_first = [row.created_at for row in listed]
    assert newest_first == sorted(newest_first, reverse=True)


def test_a_lifecycle_change_finished_later_is_told_when_the_clock_reaches_it(
    api: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscribe(api, webhook_receiver, ["case.updated"])
    tenant.freeze()
    assert api.post(f"/cases/{MORE_INFO_CASE}/chats", json={"message": "Attached", "userEmail": ANNA}).is_success
    assert tenant.deliveries() == []
    tenant.advance(2)  # the reply is acted on after the tenant's resolution delay
    (hook,) = webhook_receiver.wait_for(1)
    assert (hook.json["data"]["oldLifecycle"], hook.json["data"]["newLifecycle"]) == (
        "More Info Required",
        "Pending Verification",
    )
    assert debitura_signature_holds(hook.headers, hook.body, webhook_receiver.secret or "")


def test_fire_sends_the_current_state_to_test_subscriptions_only(
    api: httpx.Client, sdk: dc.ApiClient, webhook_receiver: WebhookReceiver
) -> None:
    test_sub = subscribe(api, webhook_receiver, ["case.closed", "payment.created"], test_mode=True)
    other = api.post("/webhooks", json={"url": webhook_receiver.url + "/other", "events": ["case.closed"]}).json()
    case = new_case(api, "HOOK-FIRE")
    fired = dc.TestWebhooksApi(sdk).test_webhooks_fire_post(
        dc.DebituraWebExternalApiContractsV1CasesRequestsFireWebhookRequest(event="case.closed", case_id=case["id"])
    )
    assert (fired.event_type, fired.case_id, fired.enqueued_count) == ("case.closed", case["id"], 1)
    (hook,) = webhook_receiver.wait_for(1)
    assert hook.path == "/hooks" and hook.json["data"]["status"] == "Pending Verification Internal"
    assert debitura_signature_holds(hook.headers, hook.body, test_sub["secret"])

    no_payment = api.post("/test/webhooks/fire", json={"event": "payment.created", "caseId": case["id"]})
    assert no_payment.status_code == 422 and no_payment.json()["error"] == "WebhookDataMissing"
    never_deleted = api.post("/test/webhooks/fire", json={"event": "payment.deleted", "caseId": case["id"]})
    assert never_deleted.status_code == 422
    not_test = api.post(
        "/test/webhooks/fire", json={"event": "case.closed", "caseId": case["id"], "subscriptionId": other["id"]}
    )
    assert not_test.status_code == 400 and not_test.json()["error"] == "InvalidSubscription"
    unknown = api.post("/test/webhooks/fire", json={"event": "case.exploded", "caseId": case["id"]})
    assert unknown.status_code == 400 and unknown.json()["error"] == "InvalidEventType"
    production = api.post("/test/webhooks/fire", json={"event": "case.created", "caseId": PRODUCTION_CASE})
    assert production.status_code == 400 and production.json()["error"] == "NotATestCase"


def test_test_endpoint_answers_how_the_receiver_answered(api: httpx.Client, webhook_receiver: WebhookReceiver) -> None:
    subscription = subscribe(api, webhook_receiver, ["case.created"])
    passed = api.post(f"/webhooks/{subscription['id']}/test")
    assert passed.status_code == 200
    result = passed.json()
    assert (result["success"], result["httpStatusCode"], result["errorCategory"]) == (True, 200, None)
    (hook,) = webhook_receiver.wait_for(1)
    assert json.loads(hook.body) == result["testPayload"] and hook.json["event"] == "case.created"
    assert debitura_signature_holds(hook.headers, hook.body, subscription["secret"])

    webhook_receiver.answer(500)
    failed = api.post(f"/webhooks/{subscription['id']}:test").json()
    assert (failed["success"], failed["httpStatusCode"], failed["errorCategory"]) == (False, 500, "HttpError")
    assert "500" in failed["errorMessage"]
    assert api.post(f"/webhooks/{uuid.uuid4()}/test").status_code == 404


def test_subscriptions_read_update_and_delete(api: httpx.Client, webhook_receiver: WebhookReceiver) -> None:
    subscription = subscribe(api, webhook_receiver, ["case.created"])
    fetched = api.get(f"/webhooks/{subscription['id']}").json()
    assert fetched["secret"] is None and fetched["url"] == webhook_receiver.url  # the secret is shown once
    assert [w["id"] for w in api.get("/webhooks").json()] == [subscription["id"]]

    refused = api.patch(f"/webhooks/{subscription['id']}", json={"events": ["case.closed"], "isActive": False})
    assert refused.status_code == 400 and refused.json()["error"] == "EventTypesImmutable"
    assert api.get(f"/webhooks/{subscription['id']}").json()["isActive"] is True  # nothing changed

    renewed = api.patch(f"/webhooks/{subscription['id']}", json={"regenerateSecret": True}).json()
    assert renewed["secret"] and renewed["secret"] != subscription["secret"]
    new_case(api, "HOOK-SECRET")
    (hook,) = webhook_receiver.wait_for(1)
    assert debitura_signature_holds(hook.headers, hook.body, renewed["secret"])
    assert not debitura_signature_holds(hook.headers, hook.body, subscription["secret"])

    disabled = api.patch(f"/webhooks/{subscription['id']}", json={"isActive": False}).json()
    assert disabled["isActive"] is False and disabled["secret"] is None
    case = new_case(api, "HOOK-OFF")
    assert api.get("/webhooks/events", params={"caseId": case["id"]}).json() == []

    assert api.delete(f"/webhooks/{subscription['id']}").status_code == 204
    gone = api.get(f"/webhooks/{subscription['id']}")
    assert gone.status_code == 404 and gone.json()["error"] == "WebhookNotFound"


def test_replay_redelivers_the_same_payload_marked_as_a_replay(
    api: httpx.Client, sdk: dc.ApiClient, webhook_receiver: WebhookReceiver
) -> None:
    subscription = subscribe(api, webhook_receiver, ["case.created"])
    case = new_case(api, "HOOK-REPLAY")
    (first,) = webhook_receiver.wait_for(1)
    (row,) = api.get("/webhooks/events", params={"caseId": case["id"]}).json()
    replayed = dc.WebhookEventsApi(sdk).webhooks_events_id_replay_post(row["id"])
    assert (replayed.event_id, replayed.subscription_id, replayed.event_type) == (
        row["id"],
        subscription["id"],
        "case.created",
    )
    second = webhook_receiver.wait_for(2)[1]
    assert second.body == first.body and second.headers["x-debitura-replay"] == "true"
    assert "x-debitura-replay" not in first.headers
    assert debitura_signature_holds(second.headers, second.body, subscription["secret"])
    assert len(api.get("/webhooks/events", params={"caseId": case["id"]}).json()) == 2
    assert api.post(f"/webhooks/events/{uuid.uuid4()}/replay").status_code == 404


def test_deprecated_replay_counts_cases_and_sends_nothing(api: httpx.Client, webhook_receiver: WebhookReceiver) -> None:
    subscription = subscribe(api, webhook_receiver, ["case.created"])
    new_case(api, "HOOK-COUNT")
    webhook_receiver.wait_for(1)
    for path in (f"/webhooks/{subscription['id']}/replay", f"/webhooks/{subscription['id']}:replay"):
        answer = api.post(path, json={"sinceUtc": "2000-01-01T00:00:00Z"})
        assert answer.status_code == 200 and answer.json()["eventsReplayed"] >= 1
    assert api.post(f"/webhooks/{subscription['id']}/replay", json={"sinceUtc": "9999-01-01T00:00:00Z"}).json() == {
        "eventsReplayed": 0
    }
    assert len(webhook_receiver.received) == 1
    assert api.post(f"/webhooks/{uuid.uuid4()}/replay", json={"sinceUtc": "2000-01-01T00:00:00Z"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "not a url", "events": ["case.created"]}, "InvalidWebhookUrl", "url"),
        ({"url": "ftp://example.com/hooks", "events": ["case.created"]}, "InvalidWebhookUrl", "url"),
        (
            {"url": "http://127.0.0.1:9/hooks", "events": ["case.created", "case.exploded"]},
            "InvalidEventType",
            "events",
        ),
        ({"url": "http://127.0.0.1:9/hooks", "events": ["*"]}, "InvalidEventType", "events"),
        ({"url": "http://127.0.0.1:9/hooks", "events": []}, "ValidationFailed", None),
    ],
)
def test_bad_subscriptions_are_refused_in_debituras_envelope_and_create_nothing(
    api: httpx.Client, body: dict[str, Any], code: str, field: str | None
) -> None:
    answer = api.post("/webhooks", json=body)
    assert answer.status_code == 400
    error = answer.json()
    assert error["error"] == code and error["businessErrors"][0]["type"] == code
    assert "errors" not in error  # Debitura's documented envelope (ApiErrorResponseDto) has no such member
    assert (field or "events") in error["message"]  # the check, or the schema's, names the field
    assert api.get("/webhooks").json() == []


def test_a_refused_request_emits_nothing(
    api: httpx.Client, tenant: SandboxTenant, webhook_receiver: WebhookReceiver
) -> None:
    subscribe(api, webhook_receiver, ["case.created"])
    new_case(api, "HOOK-TWICE")
    webhook_receiver.wait_for(1)
    duplicate = api.post(
        "/cases",
        json={
            "currencyCode": "EUR",
            "amountToRecover": 1,
            "creditorReference": "HOOK-TWICE",
            "debtor": {"type": "Company", "name": "X", "countryAlpha2": "DE"},
        },
    )
    assert duplicate.status_code == 422
    assert len(tenant.deliveries()) == 1
    assert len(webhook_receiver.received) == 1

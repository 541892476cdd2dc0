"""Debitura's webhook operations answer what Debitura's own OpenAPI document describes (shapes and statuses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from conformance.reference import ReferenceDocument
from sandbox.app import create_app
from sandbox.engine import Settings
from sandbox.webhook_receiver import WebhookReceiver, running_receiver

MOUNT = "/debitura/v1"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as found:
        yield found


def test_every_webhook_operation_answers_in_debituras_documented_shape(
    debitura_reference: ReferenceDocument, receiver: WebhookReceiver
) -> None:
    checked: list[str] = []
    with TestClient(create_app(Settings(validate_responses=True))) as client:

        def call(method: str, path: str, expected: int, body: Any = None) -> Any:
            answer = client.request(method, MOUNT + path, headers={"XApiKey": "conformance-hooks"}, json=body)
            assert answer.status_code == expected, answer.text
            template = debitura_reference.operation_template(method, path.split("?")[0])
            assert template is not None, path
            assert debitura_reference.documents_status(method, template, expected), f"{method} {template} {expected}"
            payload = answer.json() if answer.content else None
            assert debitura_reference.response_errors(method, path.split("?")[0], expected, payload) == []
            checked.append(f"{method} {template} {expected}")
            return payload

        hook = call("POST", "/webhooks", 201, {"url": receiver.url, "events": ["case.created"], "isTestMode": True})
        call("POST", "/webhooks", 400, {"url": "nope", "events": ["case.created"]})
        call("GET", "/webhooks", 200)
        call("GET", f"/webhooks/{hook['id']}", 200)
        call("GET", f"/webhooks/{UNKNOWN}", 404)
        call("PATCH", f"/webhooks/{hook['id']}", 200, {"regenerateSecret": True})
        call("PATCH", f"/webhooks/{hook['id']}", 400, {"url": "nope"})
        call("PATCH", f"/webhooks/{UNKNOWN}", 404, {"isActive": True})
        call("POST", f"/webhooks/{hook['id']}/test", 200)
        call("POST", f"/webhooks/{hook['id']}:test", 200)
        call("POST", f"/webhooks/{UNKNOWN}/test", 404)
        call("POST", f"/webhooks/{hook['id']}/replay", 200, {"sinceUtc": "2020-01-01T00:00:00Z"})
        call("POST", f"/webhooks/{hook['id']}:replay", 200, {"sinceUtc": "2020-01-01T00:00:00Z"})
        call("POST", f"/webhooks/{UNKNOWN}/replay", 404, {"sinceUtc": "2020-01-01T00:00:00Z"})
        case = client.post(
            MOUNT + "/cases",
            headers={"XApiKey": "conformance-hooks"},
            json={
                "currencyCode": "EUR",
                "amountToRecover": 10,
                "isTest": True,
                "debtor": {"type": "Company", "name": "D", "countryAlpha2": "DE"},
                "allowPendingContracts": True,  # the demo account's contract is unsigned
            },
        ).json()
        rows = call("GET", f"/webhooks/events?caseId={case['id']}", 200)
        call("GET", "/webhooks/events", 400)
        call("POST", f"/webhooks/events/{rows[0]['id']}/replay", 200)
        call("POST", f"/webhooks/events/{UNKNOWN}/replay", 404)
        call("POST", "/test/webhooks/fire", 200, {"event": "case.created", "caseId": case["id"]})
        call("POST", "/test/webhooks/fire", 400, {"event": "case.nope", "caseId": case["id"]})
        call("POST", "/test/webhooks/fire", 404, {"event": "case.created", "caseId": UNKNOWN})
        call("POST", "/test/webhooks/fire", 422, {"event": "chat.created", "caseId": case["id"]})
        call("DELETE", f"/webhooks/{hook['id']}", 204)
        call("DELETE", f"/webhooks/{hook['id']}", 404)
    assert len(checked) == 24

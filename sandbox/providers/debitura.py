"""Debitura (international debt collection): cases, chats, tasks and the test-case helpers.

Wire facts: mounted at `/debitura/v1` (the SDK appends `/cases`, the guides
write `/v1/cases`); an `XApiKey` header or `Authorization: Bearer`; camelCase
JSON; `Page`/`PageSize` paging with a `page` metadata object; errors in the
`ApiErrorResponseDto` envelope (`error`, `message`, `businessErrors[]`), 422
`BusinessErrorResponseApiDTO` for business rules on `POST /cases`.

The spec's `x-sandbox` block declares the records, the case and task lists
(paging, filters, sorting) and case creation and lookup; this module holds the
business rules. Records are stored in wire shape; keys starting with `_` (and
a chat's `caseId`) are internal and never served.

Tasks resolve themselves: a chat reply schedules the case's open chat-driven
tasks for resolution `taskResolutionDelaySeconds` (default 2) of the tenant's
clock later. The due time is kept on the record (`_resolveAt`), so a snapshot
stays plain JSON, and `settle` finishes whatever is due before each call.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import re
import secrets
import uuid
from collections import defaultdict
from collections.abc import Container, Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar

from sandbox import events, idempotency
from sandbox.clock import iso8601, parse_iso8601, precise, seconds_of
from sandbox.errors import ApiError, ErrorKind
from sandbox.events import WebhookStyle
from sandbox.messages import as_json
from sandbox.multipart import UploadedFile
from sandbox.provider import Call, Provider, Reply, admin_action, handles, hook
from sandbox.schedule import scheduled
from sandbox.store import Record, Store
from sandbox.uuids import uuid5_hex, uuid5_text

DEFAULT_TASK_RESOLUTION_DELAY = 2.0
SETTINGS_ID = "sandbox"
APP_URL = "https://app.debitura.com"
ID_NAMESPACE = uuid.UUID("5b0c5d1e-4f3a-5c7e-9d21-0d3b1e7a9c42")  # also the spec's x-sandbox uuid-namespace

CHAT_TASK_TYPES = ("ReplyToChat", "ClientInputRequired", "MoreInfoNeeded")
ACCOUNT_TASK_TYPES = ("SignContract", "AssignBankAccount")
ACCOUNT_SOLUTION_URLS = {
    "AssignBankAccount": f"{APP_URL}/Invoices/Index?bankAccountId=-1",
    "SignContract": f"{APP_URL}/CreditorContracts",
}
# How long the partner gives the creditor to answer, by task type.
TASK_DEADLINES = {"ReplyToChat": timedelta(days=4), "ClientInputRequired": timedelta(days=4)}
DEFAULT_TASK_DEADLINE = timedelta(days=2)

NEEDS_INFO = "More Info Required"
CLOSE_PAID = "Paid"
CLOSE_NO_PAYMENT = "Pre-Legal Exhausted \u2013 No Payment"
TARGET_CLOSE_CODES = {"Closed:Paid": CLOSE_PAID, "Closed:NoPayment": CLOSE_NO_PAYMENT}
# The age buckets of POST /cases, in the order they are read; each is at most the next bigger one.
AGE_BUCKETS = (
    "amountToRecover",
    "amountToRecoverOver6Months",
    "amountToRecoverOver12Months",
    "amountToRecoverOver24Months",
)
AGE_BUCKETS_NEEDED = {
    "amountToRecoverOver24Months": ("amountToRecoverOver12Months",),
    "amountToRecoverOver6Months": ("amountToRecoverOver12Months", "amountToRecoverOver24Months"),
}
# A debtor in this country has no collection partner (a deterministic 422).
NO_PARTNER_COUNTRY = "AQ"
UNITED_STATES = "US"
PENDING_CONTRACT = "Pending contract signing"
MISSING_CONTRACT = "MissingDebtCollectionContract"
# Only POST /cases answers a 422 as `BusinessErrorResponseApiDTO`; Debitura's other 422s (webhooks,
# divisions) are `ApiErrorResponseDto` like its other errors.
CASE_CREATION_RULES = frozenset(
    {MISSING_CONTRACT, "NoPartnerAvailable", "DuplicateCreditorReference", "IdempotencyConflict"}
)
SIGNING_URL = ACCOUNT_SOLUTION_URLS["SignContract"]
# Where a human resolves a business error, by its code (BusinessErrorApiDTO.solutionUrl).
SOLUTION_URLS = {MISSING_CONTRACT: SIGNING_URL}


_RETRY_IN = re.compile(r"retry in (\d+) s")

SYSTEM_ACTOR: Record = {"type": "System", "name": "Debitura"}


def reused_key(key: str, operation: str) -> ApiError:
    return ApiError(
        ErrorKind.CONFLICT,
        f"The Idempotency-Key {as_json(key)} was already used with a different request body.",
        code="IdempotencyConflict",
    )


# -- webhooks: the /webhooks operations, and the events the behaviour below emits -------

WEBHOOK_EVENT_TYPES = (
    "case.created",
    "case.updated",
    "case.closed",
    "payment.created",
    "payment.deleted",
    "chat.created",
)
# Debitura publishes no retry schedule: the sandbox retries after 1 min, 5 min, 30 min, 2 h and 6 h.
WEBHOOK_RETRY_DELAYS = (60.0, 300.0, 1800.0, 7200.0, 21600.0)


def sign_webhook(subscription: Record, delivery: Record, body: bytes, timestamp: int) -> dict[str, str]:
    """Debitura's headers: HMAC-SHA256 of `{timestamp}.{body}` keyed with the Base64-decoded secret (hex)."""
    key = base64.b64decode(subscription["secret"])
    signature = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Debitura-Signature": f"t={timestamp},v1={signature}",
        "X-Debitura-Timestamp": str(timestamp),
        "X-Debitura-Event": delivery["type"],
    }
    if delivery["replay"]:
        headers["X-Debitura-Replay"] = "true"
    return headers


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """A receiver's check of `X-Debitura-Signature`, as Debitura's documentation describes it."""
    parts = dict(part.split("=", 1) for part in headers.get("x-debitura-signature", "").split(",") if "=" in part)
    if "t" not in parts or "v1" not in parts:
        return False
    key = base64.b64decode(secret)
    expected = hmac.new(key, f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def new_webhook_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


DEBITURA_WEBHOOKS = WebhookStyle(
    event_types=WEBHOOK_EVENT_TYPES,
    sign=sign_webhook,
    signature_header="X-Debitura-Signature",
    verify=verify_webhook,
    retry_delays=WEBHOOK_RETRY_DELAYS,
    new_secret=new_webhook_secret,
)


class DebituraWebhooks:
    """Debitura's webhook subscriptions, event log, replays and test fires (mixed into `Debitura`)."""

    name: str
    webhooks = DEBITURA_WEBHOOKS

    @handles("webhooksPost")
    def create_webhook(self, call: Call) -> Reply:
        body = call.body
        url = events.check_url(body["url"].strip(), call.engine.webhooks.strict, report_field=False)
        wanted = events.check_event_types(
            DEBITURA_WEBHOOKS, body["events"], "events", allow_all=False, report_field=False
        )
        extra = {"isTestMode": bool(body.get("isTestMode", False))}
        secret = new_webhook_secret()
        created = events.subscribe(call.records, call.clock_now, self.name, url, dict.fromkeys(wanted), secret, extra)
        return Reply(webhook_dto(created, with_secret=True), status=201)

    @handles("webhooksGet")
    def list_webhooks(self, call: Call) -> Any:
        return [webhook_dto(subscription) for subscription in events.subscriptions(call.records)]

    @handles("webhooksIdGet")
    def get_webhook(self, call: Call) -> Any:
        return webhook_dto(find_webhook(call))

    @handles("webhooksIdPatch")
    def update_webhook(self, call: Call) -> Any:
        subscription, body = find_webhook(call), call.body
        if body.get("events") is not None:
            raise ApiError(
                ErrorKind.INVALID,
                "Event types cannot be changed after creation; delete the subscription and create a new one.",
                code="EventTypesImmutable",
            )
        changes: Record = {}
        if body.get("url") is not None:
            changes["url"] = events.check_url(body["url"].strip(), call.engine.webhooks.strict, report_field=False)
        if body.get("isActive") is not None:
            changes.update(active=body["isActive"], disabledReason=None)
        if body.get("isTestMode") is not None:
            changes["extra"] = {**subscription["extra"], "isTestMode": body["isTestMode"]}
        if body.get("regenerateSecret"):
            changes["secret"] = new_webhook_secret()
        changed = events.change_subscription(call.records, call.clock_now, subscription["id"], changes)
        return webhook_dto(changed, with_secret=bool(body.get("regenerateSecret")))

    @handles("webhooksIdDelete")
    def delete_webhook(self, call: Call) -> Reply:
        events.unsubscribe(call.records, find_webhook(call)["id"])
        return Reply(status=204)

    @handles("webhooksIdTestPost")
    def test_webhook(self, call: Call) -> Any:
        """Queue a synthetic case.created for the subscription; the answer waits for its one attempt."""
        subscription, store, now = find_webhook(call), call.records, call.clock_now
        event_id, payload = event_payload(store, now, "case.created", synthetic_case_data(store))
        event = {"id": event_id, "type": "case.created", "subject": None, "body": events.encode(payload)}
        delivery = events.enqueue(store, now, event, [subscription])[0]
        return self.test_result(call, store, delivery)

    @handles("webhooksIdtestPost")
    def test_webhook_colon(self, call: Call) -> Any:
        return self.test_webhook(call)

    async def test_result(self, call: Call, store: Store, delivery: Record) -> Record:
        done = await call.engine.webhooks.deliver_now(call.tenant, self.name, store, delivery, retry=False)
        attempt = done["attempts"][-1] if done and done["attempts"] else {}
        code, error = attempt.get("response_code"), attempt.get("error")
        success = attempt.get("status") == "succeeded"
        category = None if success else error_category(code, error)
        duration = attempt.get("duration_ms")
        return {
            "success": success,
            "httpStatusCode": code,
            "durationMs": None if duration is None else round(duration),
            "errorMessage": None if success else error or "the delivery was not attempted",
            "errorCategory": category,
            "testPayload": events.payload_of(delivery),
        }

    @handles("webhooksIdReplayPost")
    def count_cases_since(self, call: Call) -> Any:
        """The deprecated "replay": counts cases created since `sinceUtc`, re-delivers nothing."""
        find_webhook(call)
        since = seconds_of(call.body["sinceUtc"])
        cases = call.records.collection("cases").values()
        return {"eventsReplayed": sum(1 for case in cases if seconds_of(case.get("dateCreated")) >= since)}

    @handles("webhooksIdreplayPost")
    def count_cases_since_colon(self, call: Call) -> Any:
        return self.count_cases_since(call)

    @handles("webhooksEventsGet")
    def list_webhook_events(self, call: Call) -> Any:
        case_id = call.query["caseId"].lower()
        since = seconds_of(call.query["since"]) if call.query.get("since") else None
        rows = [
            delivery
            for delivery in events.deliveries(call.records)
            if delivery["subject"] == case_id and (since is None or seconds_of(delivery["created"]) >= since)
        ]
        return [webhook_event_dto(delivery) for delivery in reversed(rows)]

    @handles("webhooksEventsIdReplayPost")
    def replay_webhook_event(self, call: Call) -> Any:
        original = events.delivery(call.records, call.path["id"])
        if original is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Webhook event {call.path['id']} not found.", code="NotFound")
        events.redeliver(call.records, call.clock_now, original)
        call.engine.webhooks.touch(call.tenant)
        return {"eventId": original["id"], "subscriptionId": original["subscription"], "eventType": original["type"]}

    @handles("testWebhooksFirePost")
    def fire_webhook(self, call: Call) -> Any:
        store, now, body = call.records, call.clock_now, call.body
        event_type = body["event"]
        if event_type not in WEBHOOK_EVENT_TYPES:
            events.check_event_types(DEBITURA_WEBHOOKS, [str(event_type)], "event", allow_all=False, report_field=False)
        case = call.resources.find(call, "cases", body["caseId"])
        require_test_case(case)
        if body.get("subscriptionId"):
            target = events.subscription(store, body["subscriptionId"])
            if target is None or not target["extra"].get("isTestMode"):
                raise ApiError(
                    ErrorKind.INVALID,
                    f"Subscription {body['subscriptionId']} does not exist or is not a test subscription.",
                    code="InvalidSubscription",
                )
            targets = [target]
        else:
            targets = [s for s in events.subscribers(store, event_type) if s["extra"].get("isTestMode")]
        data = current_event_data(store, case, event_type)
        event_id, payload = event_payload(store, now, event_type, data)
        event = events.record(store, now, event_type, payload, event_id=event_id, subject=case["id"])
        queued = events.enqueue(store, now, event, targets)
        call.engine.webhooks.touch(call.tenant)
        return {"eventType": event_type, "caseId": case["id"], "enqueuedCount": len(queued)}

    @hook("cases", "written")
    def case_created(self, call: Call, old: Record | None, new: Record | None) -> None:
        if old is None and new is not None:
            announce(call, "case.created", case_data(new), new["id"])


def find_webhook(call: Call) -> Record:
    found = events.subscription(call.records, call.path["id"])
    if found is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"Webhook {call.path['id']} not found.", code="WebhookNotFound")
    return found


def webhook_dto(subscription: Record, with_secret: bool = False) -> Record:
    return {
        "id": subscription["id"],
        "url": subscription["url"],
        "events": list(subscription["events"]),
        "isActive": subscription["active"],
        "createdUtc": iso8601(parse_iso8601(subscription["created"])),
        "updatedUtc": iso8601(parse_iso8601(subscription["updated"])),
        "disabledReason": subscription["disabledReason"],
        "secret": subscription["secret"] if with_secret else None,
        "isTestMode": bool(subscription["extra"].get("isTestMode")),
    }


def webhook_event_dto(delivery: Record) -> Record:
    attempts = delivery["attempts"]
    return {
        "id": delivery["id"],
        "subscriptionId": delivery["subscription"],
        "caseId": delivery["subject"],
        "eventType": delivery["type"],
        "payload": delivery["body"],
        "createdAt": iso8601(parse_iso8601(delivery["created"])),
        "deliveredAt": delivery["deliveredAt"],
        "attemptCount": len(attempts),
        "lastResponseCode": attempts[-1]["response_code"] if attempts else None,
        "lastError": delivery["error"],
    }


def error_category(code: int | None, error: str | None) -> str:
    if error and "timed out" in error:
        return "TimeoutError"
    return "NetworkError" if code is None else "HttpError"


def event_payload(store: Store, now: datetime, event_type: str, data: Record) -> tuple[str, Record]:
    """A new event id (`evt_` and 24 hex digits) and the body Debitura delivers."""
    number = events.next_event_id(store)
    event_id = f"evt_{uuid5_hex(ID_NAMESPACE, f'event:{number}')[:24]}"
    return event_id, {"id": event_id, "event": event_type, "timestamp": iso8601(now), "data": data}


def announce(call: Call, event_type: str, data: Record, case_id: str) -> None:
    """Emit one of Debitura's events about a case, from a call."""
    event_id, payload = event_payload(call.records, call.clock_now, event_type, data)
    events.emit(call, event_type, payload, event_id=event_id, subject=case_id)


def announce_in(store: Store, now: datetime, event_type: str, data: Record, case_id: str) -> None:
    """`announce` for work finished by `settle` (no call)."""
    event_id, payload = event_payload(store, now, event_type, data)
    events.emit_in(store, now, event_type, payload, event_id=event_id, subject=case_id)


def case_data(case: Record, **extra: Any) -> Record:
    return {
        "caseId": case["id"],
        "reference": case.get("reference"),
        "creditorReference": case.get("creditorReference"),
        "status": case.get("lifecycle"),
        "amount": case.get("grossAmount") or 0,
        "currency": case.get("currency"),
        "debtorName": (case.get("debtor") or {}).get("name"),
        **extra,
    }


def lifecycle_data(case: Record, old: str | None, new: str | None) -> Record:
    return case_data(case, oldLifecycle=old, newLifecycle=new)


def chat_data(case: Record, chat: Record) -> Record:
    user = chat.get("user") or {}
    sender = " ".join(part for part in (user.get("firstName"), user.get("lastName")) if part) or None
    return {
        "caseId": case["id"],
        "reference": case.get("reference"),
        "creditorReference": case.get("creditorReference"),
        "chatId": chat["id"],
        "message": chat.get("message"),
        "role": chat.get("role"),
        "roleLabel": chat.get("roleLabel"),
        "senderName": sender,
        "dateCreated": chat.get("dateCreated"),
    }


def payment_data(case: Record, amount: float, now: datetime) -> Record:
    paid_at = iso8601(now)
    return {
        "caseId": case["id"],
        "reference": case.get("reference"),
        "creditorReference": case.get("creditorReference"),
        "paymentId": str(uuid.uuid5(ID_NAMESPACE, f"payment:{case['id']}:{paid_at}:{amount!r}")),
        "amount": amount,
        "currency": case.get("currency"),
        "remainder": case.get("remainder") or 0,
        "paymentDate": paid_at,
    }


def announce_advance(call: Call, before: Record, after: Record, amount: float | None) -> None:
    """The events of a test case advanced: each lifecycle change, the payment, the close."""
    now = call.clock_now
    if before.get("lifecycle") != "Active" and after.get("dateCollectionStarted"):
        announce(call, "case.updated", lifecycle_data(after, before.get("lifecycle"), "Active"), after["id"])
    if after.get("lifecycle") != "Closed":
        return
    if amount is not None:
        announce(call, "payment.created", payment_data(after, amount, now), after["id"])
        record_payment(call, after, payment_data(after, amount, now))
    announce(call, "case.updated", lifecycle_data(after, "Active", "Closed"), after["id"])
    announce(call, "case.closed", case_data(after, closeCode=after.get("closeCode")), after["id"])


def current_event_data(store: Store, case: Record, event_type: str) -> Record:
    """What `POST /test/webhooks/fire` reports: the case as it is now (422 when it lacks what the type reports)."""
    if event_type == "case.created":
        return case_data(case)
    if event_type == "case.updated":
        return lifecycle_data(case, case.get("lifecycle"), case.get("lifecycle"))
    if event_type == "case.closed":
        return case_data(case, closeCode=case.get("closeCode"))
    if event_type == "chat.created":
        chats = chats_of(store, case["id"])
        if not chats:
            raise missing_webhook_data(case, "no chat messages")
        return chat_data(case, chats[-1])
    found = [e for e in events.events(store) if e["type"] == event_type and e["subject"] == case["id"]]
    if not found:
        what = "no payments" if event_type == "payment.created" else "no deleted payments"
        raise missing_webhook_data(case, what)
    return events.payload_of(found[-1])["data"]


def missing_webhook_data(case: Record, what: str) -> ApiError:
    return ApiError(
        ErrorKind.CONFLICT,
        f"Case {case.get('reference') or case['id']} has {what} to report.",
        code="WebhookDataMissing",
    )


def synthetic_case_data(store: Store) -> Record:
    """The `case.created` data of `POST /webhooks/{id}/test`: realistic, of no real case."""
    number = store.count(events.DELIVERIES) + 1
    return {
        "caseId": str(uuid.uuid5(ID_NAMESPACE, f"test-case:{number}")),
        "reference": "TESTCASE",
        "creditorReference": "TEST-0001",
        "status": "Active",
        "amount": 1000.0,
        "currency": "EUR",
        "debtorName": "Test Debtor Ltd",
    }


class Debitura(DebituraWebhooks, Provider):
    name = "debitura"
    mount = "/debitura/v1"
    fixture_schemas: ClassVar[dict[str, str | dict[str, Any]]] = {
        "cases": "CaseRecord",
        "chats": "ChatRecord",
        "tasks": "TaskRecord",
        "users": "TeamUserRecord",
        "creditors": "CreditorMeApiDTO",
        "settings": "SettingsRecord",
    }
    error_statuses: ClassVar[dict[ErrorKind, int]] = {ErrorKind.CONFLICT: 422, ErrorKind.PRECONDITION: 400}
    idempotency = idempotency.idempotent(reused_key)  # POST /cases declares Idempotency-Key

    def error_body(self, error: ApiError, status: int) -> Any:
        """`ApiErrorResponseDto`, for case creation's 422 `BusinessErrorResponseApiDTO`: only the members allowed."""
        code = self.error_code(error)
        business_errors = [{"type": code, "message": error.message, "solutionUrl": SOLUTION_URLS.get(code)}]
        if status == 422 and code in CASE_CREATION_RULES:
            handoff = {"combinedSigningUrl": SIGNING_URL} if code == MISSING_CONTRACT else None
            return {"businessErrors": business_errors, "signingHandoff": handoff}
        body: dict[str, Any] = {"error": code, "message": error.message, "businessErrors": business_errors}
        if status == 429:
            body["retryAfter"] = retry_after(error)
        return body

    # -- fixtures ----------------------------------------------------------

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None:
        cases = {**store.collection("cases"), **{case["id"]: case for case in fixtures.get("cases", [])}}
        for case in fixtures.get("cases", []):
            case.setdefault("_debtorId", str(uuid.uuid5(ID_NAMESPACE, f"debtor-of:{case['id']}")))
        if "tasks" in fixtures:
            fixtures["tasks"] = [complete_task(task, cases.get(task.get("caseId") or "")) for task in fixtures["tasks"]]
        super().seed(store, fixtures)

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        cases = dict(store.collection("cases")) if store is not None else {}
        cases.update({case["id"]: case for case in fixtures.get("cases", [])})
        problems: list[str] = []
        for index, task in enumerate(fixtures.get("tasks", [])):
            where = f"tasks[{index}] (id={task['id']!r})"
            problems.extend(f"{where}: {problem}" for problem in task_problems(task, cases))
        problems.extend(breadth_fixture_problems(fixtures))
        return problems

    # -- delayed work --------------------------------------------------------

    def settle(self, store: Store, now: datetime) -> None:
        for moment, collection, key in scheduled(store, ("tasks", "cases"), "_resolveAt").due(now.timestamp()):
            draft = unscheduled(store.collection(collection)[key])
            when = datetime.fromtimestamp(moment, UTC)
            if collection == "tasks" and draft.get("status") == "Open":
                draft.update(status="Solved", dateSolved=iso8601(when))
            elif collection == "cases" and draft.get("lifecycle") == NEEDS_INFO:
                target = "Active" if draft.get("dateCollectionStarted") else "Pending Verification"
                change_lifecycle(draft, target, when, "The partner received the information it asked for.")
                announce_in(store, when, "case.updated", lifecycle_data(draft, NEEDS_INFO, target), key)
            store.put(collection, draft)

    # -- cases ---------------------------------------------------------------

    @hook("cases", "write")
    def case_rules(self, call: Call, old: Record | None, draft: Record | None) -> None:
        """Fill in a new case from the POST /cases body; 400 or 422 (business rules) before anything is stored."""
        assert old is None and draft is not None, "cases are written by the layer only when created"
        store, body, cases = call.records, call.body, call.resources.resource("cases")
        check_age_buckets(body)
        draft["date"] = parse_flexible(body.get("date"), "date") or draft["dateCreated"]
        draft["dueDate"] = parse_flexible(body.get("dueDate"), "dueDate") or draft["date"]
        debtor_schema = call.resources.spec.component_schema("DebtorDto")["properties"]
        debtor = {key: body["debtor"].get(key) for key in debtor_schema}
        names: dict[str, str] = debtor_schema["country"]["x-names"]
        country = debtor["countryAlpha2"] = debtor_country(debtor, names)
        debtor["country"] = names[country]
        if debtor["stateAlpha2"]:
            debtor["stateAlpha2"] = debtor["stateAlpha2"].upper()
        elif country == UNITED_STATES:
            raise ApiError(
                ErrorKind.INVALID,
                "debtor.stateAlpha2 is missing: it is required for a debtor in the United States.",
                field="debtor.stateAlpha2",
            )
        if body.get("currencyCode") is None:
            raise ApiError(ErrorKind.INVALID, "currencyCode is missing: send an ISO 4217 code.", field="currencyCode")
        if body.get("assignedUserEmail"):
            user = team_member(store, "email", body["assignedUserEmail"], "assignedUserEmail")
            draft["assignedUser"] = {"email": user["email"], "name": user.get("name")}
        call.resources.check_keys(store, call.resources.resource("cases"), draft, None)  # before NoPartnerAvailable
        if country == NO_PARTNER_COUNTRY:
            raise ApiError(
                ErrorKind.CONFLICT, f"No collection partner covers debtors in {country}.", code="NoPartnerAvailable"
            )
        unsigned = not contract_signed(store)
        if unsigned and not body.get("allowPendingContracts"):
            raise ApiError(
                ErrorKind.CONFLICT,
                "Your debt-collection contract is not signed yet (your open SignContract task): sign it at "
                f"{SIGNING_URL}, or send allowPendingContracts: true to create the case as {PENDING_CONTRACT}.",
                code=MISSING_CONTRACT,
            )
        draft["id"] = call.resources.new_id(store, cases)
        division_id = (draft["creditorDivisionId"] or "").lower() or None
        gross = finite(body, "amountToRecover") or 0.0
        draft.update(
            _tag=body.get("tag"),
            _debtorId=uuid5_text(ID_NAMESPACE, f"debtor:{country}:{debtor['name'].strip().lower()}"),
            reference=new_reference(draft["id"], call.resources.key_index(store, cases, "reference")),
            creditorComments=body.get("comments"),
            grossAmount=gross,
            remainder=gross,
            currency=body["currencyCode"].upper(),
            isTestCase=bool(body.get("isTest", False)),
            lifecycle=PENDING_CONTRACT
            if unsigned
            else "Pending Verification"
            if body.get("skipDebituraVerification")
            else "Pending Verification Internal",
            signingHandoff={"combinedSigningUrl": SIGNING_URL} if unsigned else None,
            creditorDivisionId=division_id,
            debtor=debtor,
            creditor=creditor_of(call, division_id),
        )

    @handles("casesIdTimelineGet")
    def timeline(self, call: Call) -> Any:
        return timeline_of(call.records, call.resources.find(call, "cases"))

    # -- chats ---------------------------------------------------------------

    @handles("casesIdChatsGet")
    def list_chats(self, call: Call) -> Any:
        case = call.resources.find(call, "cases")
        shown = call.resources.presenter(call, "chats")
        return [shown(chat) for chat in chats_of(call.records, case["id"])]

    @handles("casesIdChatsPost")
    def send_chat(self, call: Call) -> Any:
        """The creditor replies: its open chat-driven tasks (and a "More Info Required" case) resolve after a delay."""
        store, now = call.records, call.clock_now
        case = call.resources.find(call, "cases")
        user = chat_sender(store, call.body)
        sender_fields = ("dateCreated", "dateUpdated", "firstName", "lastName", "email")
        sender = {"id": user["relationId"], **{key: user.get(key) for key in sender_fields}}
        chat = store.insert("chats", new_chat(call, case, 1, call.body["message"], sender))
        announce(call, "chat.created", chat_data(case, chat), case["id"])
        due = precise(now + timedelta(seconds=resolution_delay(store)))
        for task in tasks_of(store, case["id"]):
            if task.get("status") == "Open" and task.get("type") in CHAT_TASK_TYPES and "_resolveAt" not in task:
                store.update("tasks", task["id"], {"_resolveAt": due})
        changes = {"dateUpdated": iso8601(now)}
        if case.get("lifecycle") == NEEDS_INFO and "_resolveAt" not in case:
            changes["_resolveAt"] = due
        store.update("cases", case["id"], changes)
        return call.resources.present(call, "chats", chat)

    # -- tasks (GET /tasks is the declared list) -------------------------------

    # -- test helpers --------------------------------------------------------

    @handles("testCasesIdAdvancePost")
    def advance(self, call: Call) -> Any:
        now = call.clock_now
        case = call.resources.find(call, "cases")
        require_test_case(case)
        target = call.body["to"]
        if target is None:
            raise ApiError(
                ErrorKind.INVALID,
                'to is invalid: null is not one of ["Active", "Closed:Paid", "Closed:NoPayment"].',
                field="to",
            )
        current = state_of(case)
        if current == target:
            return {"advanced": False, "state": current}
        if current.startswith("Closed"):
            raise ApiError(
                ErrorKind.PRECONDITION,
                f"Case {case['reference']} is already {current}; it cannot move to {target} "
                "(test cases only move forward: Active, then one close code).",
                code="InvalidTestCaseTransition",
            )
        amount = finite(call.body, "amount") if target == "Closed:Paid" else None
        draft = dict(case)
        if current != "Active":
            activate(draft, now)
        if target != "Active":
            if amount is not None:
                register_payment(draft, amount, now)
            close_case(draft, TARGET_CLOSE_CODES[target], now)
        stored = call.records.put("cases", draft)
        announce_advance(call, case, stored, amount)
        return {"advanced": True, "state": state_of(stored)}

    @handles("testCasesIdDelete")
    def delete_test_case(self, call: Call) -> Reply:
        store, case_id = call.records, call.path["id"].lower()
        if store.get("cases", case_id) is None and was_deleted(store, case_id):
            return Reply(status=204)  # deleting twice is no error
        case = call.resources.find(call, "cases")
        require_test_case(case)
        delete_cases(store, [case["id"]], history_limit(call))
        return Reply(status=204)

    @handles("testCasesDelete")
    def delete_tagged_test_cases(self, call: Call) -> Reply:
        tag = call.query["tag"]
        matches = [case for case in call.records.collection("cases").values() if case.get("_tag") == tag]
        production = [case.get("reference") or case["id"] for case in matches if not case.get("isTestCase")]
        if production:
            raise ApiError(
                ErrorKind.INVALID,
                f"Tag {as_json(tag)} also marks production cases ({', '.join(production)}); only test cases can be "
                "deleted, so nothing was deleted.",
                code="NotATestCase",
            )
        delete_cases(call.records, [case["id"] for case in matches], history_limit(call))
        return Reply(status=204)

    @handles("meGet")
    def me(self, call: Call) -> Any:
        creditor = next(iter(call.records.collection("creditors").values()), None)
        if creditor is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Creditor not found.", code="CreditorNotFound")
        return {key: value for key, value in creditor.items() if not key.startswith("_")}

    # -- test helpers of the admin API (specs/debitura.admin.yaml) ------------

    @admin_action("debituraPartnerMessage")
    def partner_message(self, call: Call) -> Reply:
        """The collection partner writes on a case: add its chat message and open (or reuse) a chat-driven task.

        An open task of the same type that no reply has scheduled for resolution
        yet is reused (its description becomes the new message); otherwise a new
        task is opened. Answers the message, the task and whether it is new.
        """
        store, now, body = call.records, call.clock_now, call.body
        case = store.get("cases", call.path["id"].lower())
        if case is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"No Debitura case {call.path['id']} in this tenant.")
        task_type = body.get("taskType") or "ReplyToChat"
        if task_type not in CHAT_TASK_TYPES:
            kinds = ", ".join(CHAT_TASK_TYPES)
            raise ApiError(ErrorKind.INVALID, f"taskType must be one of {kinds}.", field="taskType")
        message = body["message"]
        open_tasks = [task for task in tasks_of(store, case["id"]) if task.get("status") == "Open"]
        reusable = next((t for t in open_tasks if t.get("type") == task_type and "_resolveAt" not in t), None)
        chat = store.insert("chats", new_chat(call, case, 0, message, partner_user(store, case)))
        announce(call, "chat.created", chat_data(case, chat), case["id"])
        if reusable is not None:
            task = store.update("tasks", reusable["id"], {"description": message})
        else:
            task = store.insert("tasks", new_chat_task(call, case, task_type, message))
        store.update("cases", case["id"], {"dateUpdated": iso8601(now)})
        present = call.resources.present
        shown = {"chat": present(call, "chats", chat), "task": present(call, "tasks", task)}
        return Reply({**shown, "taskCreated": reusable is None}, status=201)

    @admin_action("debituraResolveTask")
    def resolve_task(self, call: Call) -> Any:
        """Resolve an open task as a person following its solutionUrl would; 409 if it is already solved."""
        store, task_id = call.records, call.path["id"]
        task = store.get("tasks", task_id) or store.get("tasks", task_id.lower())
        if task is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"No Debitura task {task_id} in this tenant.")
        if task.get("status") == "Solved":
            raise ApiError(ErrorKind.CONFLICT, f"Task {task['id']} was already solved at {task.get('dateSolved')}.")
        solved = {**unscheduled(task), "status": "Solved", "dateSolved": iso8601(call.clock_now)}
        return call.resources.present(call, "tasks", store.put("tasks", solved))

    # -- divisions (create, fetch, replace, delete and archive are declared) ----

    @handles("divisionsGet")
    def list_divisions(self, call: Call) -> Any:
        include_archived = call.query.get("includeArchived", False)
        shown = call.resources.presenter(call, "divisions")
        divisions = sorted(call.records.collection("divisions").values(), key=created_first)
        listed = [shown(d) for d in divisions if include_archived or not d.get("isArchived")]
        return page_of(call, listed, "page", "pageSize", 10, "divisions")

    @hook("divisions", "write")
    def division_rules(self, call: Call, old: Record | None, draft: Record | None) -> None:
        """The country from `countryCode`, PUT's replacement of every field, the delete guard."""
        if draft is None:
            assert old is not None
            refuse_busy_division(call.records, old)
            return
        if call.operation.operation_id in ("divisionsPost", "divisionsIdPut"):
            body = call.body
            draft["country"] = division_country(body["countryCode"], country_names(call))
            if old is not None:
                for field in DIVISION_OPTIONAL_FIELDS:
                    draft[field] = body.get(field)
                refuse_taken_division_name(call, old, draft["companyName"])
        if old is not None:
            draft["updatedUtc"] = call.resources.timestamp(call)

    # -- payments (the lists are declared) ---------------------------------------

    @hook("payments", "present")
    def show_payment(self, call: Call, payment: Record) -> Record:
        """A payment with its case as it is now (lifecycle and reference)."""
        shown = {key: value for key, value in payment.items() if key != "caseId"}
        case = call.records.get("cases", payment["caseId"]) if "caseId" in payment else None
        if case is not None:
            shown["invoice"] = {
                "status": case.get("lifecycle"),
                "reference": case.get("reference"),
                "invoiceId": case["id"],
            }
        return shown

    @hook("payments", "visible")
    def payments_of_existing_cases(self, call: Call) -> Any:
        store = call.records
        return lambda payment: store.get("cases", payment["invoice"]["invoiceId"]) is not None

    @handles("paymentsIdGet")
    def get_payment(self, call: Call) -> Any:
        payment = call.resources.find(call, "payments")
        if call.records.get("cases", payment["caseId"]) is None:
            raise call.resources.resource("payments").not_found.error(id=call.path["id"])
        return call.resources.present(call, "payments", payment)

    # -- users, contracts, a case's exclusive period and validation --------------

    @handles("usersGet")
    def list_users(self, call: Call) -> Any:
        users = [
            {"id": u["id"], "name": u.get("name"), "email": u.get("email")}
            for u in call.records.collection("users").values()
        ]
        return page_of(call, users, "Page", "PageSize", 50, "users")

    @handles("contractsDebtCollectionStatusGet")
    def contract_status(self, call: Call) -> Any:
        return sdca_status(call.records)

    @handles("casesIdContractStatusGet")
    def case_contract_status(self, call: Call) -> Any:
        case = call.resources.find(call, "cases")
        sdca = sdca_status(call.records)
        partner_name = (case.get("collectionPartner") or {}).get("name")
        poa = poa_status(call.records, partner_name) if partner_name else None
        return {
            "sdca": {key: sdca[key] for key in ("signed", "requiresResigning", "solutionUrl")},
            "poa": poa,
            "pricingAppendix": None,
            "collectionPartnerName": partner_name,
            "needsPoaSigning": poa is not None and (not poa["signed"] or poa["requiresResigning"]),
        }

    @handles("casesIdExclusivePeriodGet")
    def exclusive_period(self, call: Call) -> Any:
        return exclusive_period_of(call.resources.find(call, "cases"), call.clock_now)

    @handles("casesIdValidationGet")
    def case_validation(self, call: Call) -> Any:
        return validation_of(call.records, call.resources.find(call, "cases"))

    # -- quote requests and quotes (read-only, from the fixtures) --------------------

    @handles("casesIdQuoteRequestsGet")
    def list_quote_requests(self, call: Call) -> Any:
        store, case = call.records, call.resources.find(call, "cases")
        leads = grouped(store, "quoteRequests", "caseId").get(case["id"], [])
        return {"quoteRequests": [lead_summary(lead, len(quotes_of(store, lead["id"]))) for lead in leads]}

    @handles("casesIdQuoteRequestsQuoteRequestIdGet")
    def get_quote_request(self, call: Call) -> Any:
        lead = quote_request_of(call)
        return lead_detail(lead, len(quotes_of(call.records, lead["id"])))

    @handles("casesIdQuoteRequestsQuoteRequestIdQuotesGet")
    def list_quotes(self, call: Call) -> Any:
        lead = quote_request_of(call)
        return {"quotes": [quote_summary(quote) for quote in quotes_of(call.records, lead["id"])]}

    @handles("casesIdQuoteRequestsQuoteRequestIdQuotesQuoteIdGet")
    def get_quote(self, call: Call) -> Any:
        lead = quote_request_of(call)
        quote = call.records.get("quotes", call.path["quoteId"].lower())
        if quote is None or quote["quoteRequestId"] != lead["id"]:
            raise ApiError(
                ErrorKind.NOT_FOUND,
                f"Quote request {lead['id']} has no quote {call.path['quoteId']}.",
                code="QuoteNotFound",
            )
        return quote_detail(quote)

    # -- case files (GET /cases/{id}/files is declared) ------------------------------

    @handles("casesIdFilesPost")
    def upload_file(self, call: Call) -> Any:
        case = call.resources.find(call, "cases")
        form = call.body
        upload = checked_upload(form["File"])
        document_type = form.get("DocumentType") or DEFAULT_DOCUMENT_TYPE
        if document_type not in DOCUMENT_TYPES:
            raise ApiError(
                ErrorKind.INVALID,
                f"DocumentType is invalid: {as_json(document_type)}; use one of {', '.join(DOCUMENT_TYPES)}.",
                field="DocumentType",
            )
        files = call.resources.resource("files")
        file_id, stamp = call.resources.new_id(call.records, files), call.resources.timestamp(call)
        stored = call.records.insert(
            "files",
            {
                "id": file_id,
                "dateCreated": stamp,
                "dateUpdated": stamp,
                "caseId": case["id"],
                "entityType": "Invoice",
                "entityId": case["id"],
                "fileName": upload.filename,
                "url": f"{APP_URL}/Files/Download/{file_id}",
                "description": form.get("Description"),
                "documentType": document_type,
            },
        )
        return call.resources.present(call, files, stored)

    # -- coverage, eligibility and the case preview (GET /coverage and /coverage/{id} are declared) --

    @handles("coverageSearchGet")
    def search_coverage(self, call: Call) -> Any:
        wanted = call.query["q"].strip().casefold()
        for jurisdiction in sorted(call.records.collection("jurisdictions").values(), key=lambda j: j["id"]):
            names = (jurisdiction.get("jurisdiction"), jurisdiction.get("country"), jurisdiction.get("countryAlpha2"))
            if any(isinstance(name, str) and name.casefold() == wanted for name in names):
                return call.resources.present(call, "jurisdictions", jurisdiction)
        raise ApiError(
            ErrorKind.NOT_FOUND, f"No jurisdiction matches {as_json(call.query['q'])}.", code="JurisdictionNotFound"
        )

    @handles("coveragesearchGet")
    def search_coverage_colon(self, call: Call) -> Any:
        return self.search_coverage(call)

    @handles("coverageCheckEligibilityPost")
    def check_eligibility(self, call: Call) -> Any:
        body, names = call.body, country_names(call)
        check_debtor_type(body["debtorType"], "debtorType")
        check_currency(body["currencyCode"], "currencyCode")
        country = known_country(body["countryAlpha2"], names, "countryAlpha2")
        state = us_state(country, body.get("stateAlpha2"), "stateAlpha2")
        jurisdiction = jurisdiction_for(call.records, country, state)
        partner = first_partner(jurisdiction)
        return {
            "isEligible": partner is not None,
            "jurisdiction": jurisdiction_info(jurisdiction),
            "partner": None if partner is None else {"id": partner["partnerId"], "name": partner.get("partnerName")},
            "powerOfAttorneyStatus": None if partner is None else poa_of(partner, with_terms=True),
            "errorMessage": None if partner is not None else no_partner_message(country),
        }

    @handles("casesPreviewPost")
    def preview_case(self, call: Call) -> Any:
        body, store, names = call.body, call.records, country_names(call)
        amount = finite(body, "amountToRecover") or 0.0
        if amount <= 0:
            raise ApiError(ErrorKind.INVALID, "amountToRecover must be greater than 0.", field="amountToRecover")
        check_currency(body["currencyCode"], "currencyCode")
        debtor = body["debtor"]
        check_debtor_type(debtor["type"], "debtor.type")
        country = known_country(debtor["countryAlpha2"], names, "debtor.countryAlpha2")
        state = us_state(country, debtor.get("stateAlpha2"), "debtor.stateAlpha2")
        check_age_buckets(body)
        surcharge = age_surcharge(body, amount, call.clock_now)
        jurisdiction = jurisdiction_for(store, country, state)
        partner = first_partner(jurisdiction)
        signed = contract_signed(store)
        return {
            "result": {
                "isEligible": partner is not None,
                "ineligibilityReason": None if partner is not None else no_partner_message(country),
                "partnerAssignment": None if partner is None else partner_assignment(store, partner),
                "requiredActions": [] if signed else [missing_contract_action()],
                "jurisdiction": None if jurisdiction is None else jurisdiction_dto(jurisdiction),
                "pricingPreview": None if partner is None else pricing_preview(body["currencyCode"], surcharge),
                "requiresKycVerification": False,
                "hasKycOnFile": True,
                "signingHandoff": None if signed else {"combinedSigningUrl": SIGNING_URL},
            }
        }


def new_chat(call: Call, case: Record, role: int, message: str, user: Record) -> Record:
    """A chat message on the case: role 1 is the creditor (you), 0 the collection partner."""
    stamp = iso8601(call.clock_now)
    return {
        "id": call.resources.new_id(call.records, call.resources.resource("chats")),
        "caseId": case["id"],
        "dateCreated": stamp,
        "dateUpdated": stamp,
        "role": role,
        "roleLabel": "Creditor" if role == 1 else "Partner",
        "message": message,
        "isSeen": False,
        "user": user,
    }


def new_chat_task(call: Call, case: Record, task_type: str, message: str) -> Record:
    partner = (case.get("collectionPartner") or {}).get("name")
    titles = {
        "ReplyToChat": f"Reply to {partner or 'your collection partner'}",
        "ClientInputRequired": f"{partner or 'Your collection partner'} needs your input",
        "MoreInfoNeeded": f"{partner or 'Your collection partner'} needs more information",
    }
    task_id = call.resources.new_id(call.records, call.resources.resource("tasks"))
    task = {"id": task_id, "type": task_type, "title": titles[task_type], "description": message}
    now = call.clock_now
    deadline = iso8601(now + TASK_DEADLINES.get(task_type, DEFAULT_TASK_DEADLINE))
    return complete_task({**task, "caseId": case["id"], "deadline": deadline, "dateCreated": iso8601(now)}, case)


# -- derived lookups -------------------------------------------------------------


def newest_first(record: Record) -> tuple[float, str]:
    """List order of cases and tasks: dateCreated descending, then id."""
    return (-seconds_of(record.get("dateCreated")), record["id"])


def chats_of(store: Store, case_id: str) -> list[Record]:
    """The case's chat messages, oldest first (then in the order they were added)."""

    def build(store: Store) -> dict[str, list[Record]]:
        grouped: dict[str, list[Record]] = defaultdict(list)
        for chat in sorted(store.collection("chats").values(), key=lambda chat: seconds_of(chat.get("dateCreated"))):
            grouped[chat.get("caseId")].append(chat)
        return grouped

    return store.derived("chats-by-case", build, watches=("chats",)).get(case_id, [])


def tasks_of(store: Store, case_id: str | None) -> list[Record]:
    """The case's tasks, newest first."""

    def build(store: Store) -> dict[str, list[Record]]:
        grouped: dict[str, list[Record]] = defaultdict(list)
        for task in sorted(store.collection("tasks").values(), key=newest_first):
            grouped[task.get("caseId")].append(task)
        return grouped

    return store.derived("tasks-by-case", build, watches=("tasks",)).get(case_id, [])


def unscheduled(record: Record) -> Record:
    """A mutable copy of a record without its due time."""
    return {key: value for key, value in record.items() if key != "_resolveAt"}


# -- case rules --------------------------------------------------------------------


def debtor_country(debtor: Record, names: dict[str, str]) -> str:
    """The debtor's ISO 3166-1 alpha-2 code: `countryAlpha2` when given (it wins), else the code of `country`.

    `country` must be the official English name (any case); an unknown name or
    code is Debitura's 400 validation error.
    """
    code = debtor.get("countryAlpha2")
    if code is not None:
        code = code.upper()
        if code not in names:
            raise ApiError(
                ErrorKind.INVALID,
                f"debtor.countryAlpha2 is invalid: {as_json(code)} is not an ISO 3166-1 alpha-2 country code.",
                field="debtor.countryAlpha2",
            )
        return code
    name = debtor.get("country")
    if name is None:
        raise ApiError(
            ErrorKind.INVALID,
            "debtor.countryAlpha2 is missing: send the country's ISO 3166-1 alpha-2 code, "
            "or its official English name as debtor.country.",
            field="debtor.countryAlpha2",
        )
    found = country_codes(names).get(name.strip().casefold())
    if found is None:
        raise ApiError(
            ErrorKind.INVALID,
            f"debtor.country is invalid: {as_json(name)} is not the official English name of a country "
            '(such as "Germany" or "United States"); or send debtor.countryAlpha2.',
            field="debtor.country",
        )
    return found


@functools.cache
def _codes_by_name(names: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {name.casefold(): code for code, name in names}


def country_codes(names: dict[str, str]) -> dict[str, str]:
    """Official English name (case-folded) -> alpha-2 code."""
    return _codes_by_name(tuple(names.items()))


def contract_signed(store: Store) -> bool:
    """The account's debt-collection contract is signed unless an account-level SignContract task is open."""
    return not any(
        task.get("type") == "SignContract" and task.get("status") == "Open" for task in tasks_of(store, None)
    )


def parse_flexible(value: Any, field: str) -> str | None:
    """A request date or date-time (naive means UTC) as a served timestamp; 400 if it is no real instant."""
    if value is None:
        return None
    try:
        text = value.strip().replace(" ", "T")
        parsed = datetime.fromisoformat(text) if "T" in text else datetime.fromisoformat(text + "T00:00:00")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return iso8601(parsed.astimezone(UTC))
    except (ValueError, OverflowError):
        raise ApiError(ErrorKind.INVALID, f"{field} is not a valid date: {as_json(value)}.", field=field) from None


def finite(body: Record, field: str) -> float | None:
    """A number from the body as a float; 400 if it is infinite or too large for one."""
    value = body.get(field)
    if value is None:
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ApiError(ErrorKind.INVALID, f"{field} must be a finite number.", field=field)
    return number


def check_age_buckets(body: Record) -> None:
    amounts = {name: finite(body, name) for name in AGE_BUCKETS}
    for name, needed in AGE_BUCKETS_NEEDED.items():
        if amounts[name] is not None and any(amounts[other] is None for other in needed):
            raise ApiError(ErrorKind.INVALID, f"{name} needs {' and '.join(needed)}.", field=name)
    given = [(name, value) for name, value in reversed(amounts.items()) if value is not None]
    for (name, value), (bigger_name, bigger) in pairwise(given):
        if value > bigger:
            raise ApiError(ErrorKind.INVALID, f"{name} ({value:g}) exceeds {bigger_name} ({bigger:g}).", field=name)


def new_reference(case_id: str, taken: Container[str]) -> str:
    """An 8-character Debitura reference derived from the case id (another derivation when it is taken).

    `taken`: the references in use (the key index itself: a copy would cost one step per case on every create).
    """
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    seed = uuid.UUID(case_id).int
    while True:
        number, digits = seed, []
        for _ in range(8):
            number, digit = divmod(number, len(alphabet))
            digits.append(alphabet[digit])
        reference = "".join(digits)
        if reference not in taken:
            return reference
        seed = uuid.uuid5(ID_NAMESPACE, reference).int


def creditor_of(call: Call, division_id: str | None) -> Record | None:
    """The account's profile as a case shows it, with the division (its `companyName`, or as another case names it)."""
    creditor = next(iter(call.records.collection("creditors").values()), None)
    if creditor is None:
        return None
    shown: Record = {
        key: creditor.get(key) for key in call.resources.spec.component_schema("CreditorDto")["properties"]
    }
    if division_id and (division := call.records.get("divisions", division_id)) is not None:
        shown["division"] = {"id": division_id, "name": division["companyName"]}
    elif division_id:
        divisions = (
            (case.get("creditor") or {}).get("division") or {} for case in call.records.collection("cases").values()
        )
        name = next((d.get("name") for d in divisions if str(d.get("id", "")).lower() == division_id), None)
        shown["division"] = {"id": division_id, "name": name}
    return shown


def state_of(case: Record) -> str:
    """The advance API's name for where a case is ("Active", "Closed:Paid", …) or its lifecycle text."""
    lifecycle = case.get("lifecycle") or ""
    if lifecycle == "Closed":
        return {CLOSE_PAID: "Closed:Paid", CLOSE_NO_PAYMENT: "Closed:NoPayment"}.get(case.get("closeCode"), "Closed")
    return lifecycle


def record_event(case: Record, when: datetime, kind: str, title: str, description: str) -> None:
    event = {"date": iso8601(when), "type": kind, "title": title, "description": description, "actor": SYSTEM_ACTOR}
    case["_events"] = [*case.get("_events", []), event]


def change_lifecycle(case: Record, target: str, when: datetime, why: str) -> None:
    previous = case.get("lifecycle")
    case.update(lifecycle=target, dateUpdated=iso8601(when))
    record_event(case, when, "LifecycleChanged", f"{previous} \u2192 {target}", why)


def activate(case: Record, now: datetime) -> None:
    case.pop("_resolveAt", None)
    change_lifecycle(case, "Active", now, "Advanced by the test-case API.")
    if not case.get("dateCollectionStarted"):
        case["dateCollectionStarted"] = iso8601(now)
        partner = (case.get("collectionPartner") or {}).get("name") or "The collection partner"
        record_event(case, now, "CollectionStarted", "Collection started", f"{partner} started collecting.")


def register_payment(case: Record, amount: float, now: datetime) -> None:
    remainder = case["remainder"] = round(max(0.0, float(case.get("remainder") or 0) - amount), 2)
    currency = case.get("currency") or ""
    outcome = f"{amount:.2f} {currency} received; {remainder:.2f} {currency} outstanding."
    record_event(case, now, "PaymentRegistered", "Payment registered", outcome)


def close_case(case: Record, close_code: str, now: datetime) -> None:
    change_lifecycle(case, "Closed", now, f"Closed as {close_code} by the test-case API.")
    case.update(closeCode=close_code, dateFinished=iso8601(now))


# The ids of the latest deleted cases, oldest first, in one record (deleting one of these again is
# 204). One list costs ~90 bytes a case where a record per case cost ~300.
DELETED_CASES = "deletedCases"
LATEST_DELETED = "latest"


def delete_cases(store: Store, case_ids: list[str], kept: int) -> None:
    """Delete test cases with their chats, tasks, payments, files and events; remember the newest `kept` ids."""
    deleted = set(case_ids)
    attached = [
        (collection, record["id"])
        for collection in ("payments", "files")
        for record in store.collection(collection).values()
        if record.get("caseId") in deleted
    ]
    for collection, key in attached:
        store.remove(collection, key)
    for case_id in case_ids:
        for collection, records in (("chats", chats_of(store, case_id)), ("tasks", tasks_of(store, case_id))):
            for record in records:
                store.remove(collection, record["id"])
        store.remove("cases", case_id)
    events.forget(store, case_ids)
    latest = store.get(DELETED_CASES, LATEST_DELETED)
    remembered = [*(latest["ids"] if latest else ()), *case_ids]
    store.put(DELETED_CASES, {"id": LATEST_DELETED, "ids": remembered[max(len(remembered) - kept, 0) :]})


def was_deleted(store: Store, case_id: str) -> bool:
    """Whether the case is one of the latest deleted (a record of its own: kept by an older sandbox's state)."""
    latest = store.get(DELETED_CASES, LATEST_DELETED)
    return (latest is not None and case_id in latest["ids"]) or store.get(DELETED_CASES, case_id) is not None


def history_limit(call: Call) -> int:
    assert call.tenant is not None, "only authenticated calls delete cases"
    return call.tenant.history_limit


def timeline_of(store: Store, case: Record) -> Record:
    """The case's history by date: entries derived from the case, its chats and tasks, and its recorded `_events`."""
    events = case.get("_events") or []
    partner = (case.get("collectionPartner") or {}).get("name")
    amount = f"{float(case.get('grossAmount') or 0):.2f} {case.get('currency') or ''}"
    system, partner_user = SYSTEM_ACTOR, {"type": "Partner user", "name": partner}
    found = [
        (
            case.get("dateCreated"),
            0,
            "CaseCreated",
            "Case created",
            f"Case {case.get('reference')} for {amount}.",
            system,
        )
    ]
    if not any(event.get("type") == "CollectionStarted" for event in events):
        started = f"{partner or 'The collection partner'} started collecting."
        found.append(
            (case.get("dateCollectionStarted"), 1, "CollectionStarted", "Collection started", started, partner_user)
        )
    for chat in chats_of(store, case["id"]):
        user = chat.get("user") or {}
        name = " ".join(part for part in (user.get("firstName"), user.get("lastName")) if part) or None
        actor = {"type": "Creditor user" if chat.get("role") == 1 else "Partner user", "name": name}
        found.append(
            (
                chat.get("dateCreated"),
                2,
                "ChatMessage",
                f"Message from {name or 'the partner'}",
                chat.get("message"),
                actor,
            )
        )
    for task in tasks_of(store, case["id"]):
        label, title = task.get("typeLabel") or task.get("type"), task.get("title")
        found.append((task.get("dateCreated"), 3, "TaskOpened", f"Task opened: {label}", title, system))
        if task.get("status") == "Solved":
            found.append((task.get("dateSolved"), 4, "TaskSolved", f"Task solved: {label}", title, system))
    if case.get("lifecycle") == "Closed":
        found.append(
            (
                case.get("dateFinished"),
                6,
                "CaseClosed",
                case.get("closeCode") or "Closed",
                "The case was closed.",
                system,
            )
        )
    items = [
        (date, rank, {"date": date, "type": kind, "title": title, "description": text, "actor": actor})
        for date, rank, kind, title, text, actor in found
    ]
    items += [(event.get("date"), 5, {"date": event.get("date"), **event}) for event in events]
    dated = sorted(
        (seconds_of(date), rank, position, item)
        for position, (date, rank, item) in enumerate(items)
        if isinstance(date, str)
    )
    phase = "Pre-legal" if case.get("lifecycle") in ("Active", "Paused") else None
    return {"items": [item for *_, item in dated], "currentEngagementPhase": phase}


# -- helpers ---------------------------------------------------------------------


def retry_after(error: ApiError) -> int:
    header = error.headers.get("Retry-After", "")
    if header.isdigit():
        return int(header)
    found = _RETRY_IN.search(error.message)
    return int(found.group(1)) if found else 1


def require_test_case(case: Record) -> None:
    if not case.get("isTestCase"):
        raise ApiError(
            ErrorKind.INVALID,
            f"Case {case.get('reference') or case['id']} is a production case; only test cases "
            "(created with isTest: true) can be advanced or deleted.",
            code="NotATestCase",
        )


def resolution_delay(store: Store) -> float:
    settings = store.get("settings", SETTINGS_ID)
    value = settings.get("taskResolutionDelaySeconds") if settings else None
    return float(value) if isinstance(value, int | float) else DEFAULT_TASK_RESOLUTION_DELAY


def case_url(case_id: str) -> str:
    return f"{APP_URL}/Invoices/Details/{case_id}"


def chat_action(case_id: str) -> Record:
    return {"method": "POST", "path": f"/cases/{case_id}/chats"}


def expected_action(task_type: str, case_id: str | None) -> Record | None:
    return chat_action(case_id) if task_type in CHAT_TASK_TYPES and case_id else None


def task_label(task_type: str) -> str:
    """ "ReplyToChat" -> "Reply to chat"."""
    return re.sub(r"(?<=.)([A-Z])", lambda capital: " " + capital.group(1).lower(), task_type)


def complete_task(task: Record, case: Record | None) -> Record:
    """Fill in what a fixture (or new) task left out, in the wire's key order."""
    task_type, case_id = task["type"], task.get("caseId")
    defaults: Record = {
        "id": None,
        "type": task_type,
        "typeLabel": task_label(task_type),
        "title": None,
        "description": None,
        "status": "Open",
        "caseId": None,
        "caseReference": None,
        "leadId": None,
        "deadline": None,
        "dateCreated": None,
        "dateSolved": None,
        "solutionUrl": ACCOUNT_SOLUTION_URLS.get(task_type) or (case_url(case_id) if case_id else f"{APP_URL}/Tasks"),
        "action": expected_action(task_type, case_id),
    }
    filled = {key: task.get(key, default) for key, default in defaults.items()}
    if filled["caseReference"] is None and case is not None:
        filled["caseReference"] = case.get("creditorReference")  # the creditor's reference, as TaskDto says
    return {**filled, **{key: value for key, value in task.items() if key.startswith("_")}}


def task_problems(task: Record, cases: dict[str, Record]) -> list[str]:
    task_type = task["type"]
    case_id = task.get("caseId")
    case = cases.get(case_id) if case_id else None
    problems: list[str] = []
    if task_type in ACCOUNT_TASK_TYPES and case_id is not None:
        problems.append(f"field 'caseId': {task_type} is an account-level task; its caseId must be null")
    if task_type in CHAT_TASK_TYPES and not case_id:
        problems.append(f"field 'caseId': {task_type} is resolved on a case's chat; it needs a caseId")
    reference = case.get("creditorReference") if case is not None else None
    if case is not None and task.get("caseReference") is not None and task["caseReference"] != reference:
        problems.append(
            f"field 'caseReference': {task['caseReference']!r} is not the creditor reference of case {case_id} "
            f"({reference!r})"
        )
    expected = expected_action(task_type, case_id)
    if "action" in task and task["action"] != expected:
        problems.append(f"field 'action': a {task_type} task's action is {json.dumps(expected)}")
    solved = task.get("status", "Open") == "Solved"
    if solved and not task.get("dateSolved"):
        problems.append("field 'dateSolved': a Solved task needs dateSolved")
    if not solved and task.get("dateSolved"):
        problems.append("field 'dateSolved': an Open task has no dateSolved (null)")
    return problems


def team_member(store: Store, key: str, wanted: str, field: str) -> Record:
    """The member of the creditor's team whose `key` (email or id) is `wanted`, any case; 400 InvalidUser if none."""
    users = store.collection("users").values()
    user = next((u for u in users if str(u.get(key, "")).lower() == wanted.strip().lower()), None)
    if user is None:
        shown = as_json(wanted)
        unknown = f"No member of your team has id {shown}." if key == "id" else f"{shown} is not a member of your team."
        raise ApiError(ErrorKind.INVALID, unknown, field=field, code="InvalidUser")
    return user


def chat_sender(store: Store, body: Record) -> Record:
    if body.get("userEmail"):
        return team_member(store, "email", body["userEmail"], "userEmail")
    if body.get("userId"):
        return team_member(store, "id", body["userId"], "userId")
    raise ApiError(
        ErrorKind.INVALID,
        "Say who is writing: send userEmail (a member of your team) or userId.",
        code="MissingUserIdentifier",
    )


def partner_user(store: Store, case: Record) -> Record:
    """Who writes for the partner: whoever wrote last for it on the case, else the partner's office."""
    for chat in reversed(chats_of(store, case["id"])):
        if chat.get("role") == 0 and isinstance(chat.get("user"), dict):
            return chat["user"]
    partner = case.get("collectionPartner") or {}
    return {
        "id": 9000,
        "dateCreated": None,
        "dateUpdated": None,
        "firstName": partner.get("name") or "Collection",
        "lastName": None if partner.get("name") else "partner",
        "email": partner.get("officeEmail"),
    }


# -- breadth: divisions, payments, users, contracts, coverage, quote requests ------------

DIVISION_OPTIONAL_FIELDS = ("registrationNumber", "address", "zipCode", "state", "officeEmail", "officePhone")
ENDED_LIFECYCLES = ("Closed", "Merged")
TERMS_URL = f"{APP_URL}/CreditorContracts/Download/DebtCollectionAgreement"
EXCLUSIVE_DAYS = 180  # the period when a case names no exclusivePeriodEndDate
BASE_SUCCESS_FEE = 20.0
# What each request for information is about, by the task that asks for it (GET /cases/{id}/validation).
VALIDATION_AREAS = {"MoreInfoNeeded": "CaseInformation", "ClientInputRequired": "CreditorInput"}
DEBTOR_TYPES = ("Company", "Private")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def page_of(call: Call, items: list[Any], position: str, size: str, default_size: int, member: str) -> Record:
    """One page of `items` with Debitura's page metadata; `position` and `size` name the query parameters."""
    per_page, number = call.query.get(size, default_size), call.query.get(position, 1)
    window = items[(number - 1) * per_page : number * per_page]
    page = {
        "totalResults": len(items),
        "pageSize": per_page,
        "currentPage": number,
        "responseCount": len(window),
        "totalPages": -(-len(items) // per_page),
    }
    return {"page": page, member: window}


def created_first(division: Record) -> tuple[float, str]:
    return (seconds_of(division.get("createdUtc")), division["id"])


def country_number(code: str, names: dict[str, str]) -> int:
    """A country's id: its position (from 1) among the sorted ISO codes the sandbox knows."""
    return sorted(names).index(code) + 1


def division_country(code: str, names: dict[str, str]) -> Record:
    alpha2 = known_country(code, names, "countryCode")
    return {"id": country_number(alpha2, names), "name": names[alpha2], "alpha2": alpha2}


def refuse_taken_division_name(call: Call, old: Record, name: str) -> None:
    """PUT documents no 422: another division's name is a 400 there (creation's 422 is the key's refusal)."""
    resource = call.resources.resource("divisions")
    owner = call.resources.by_key(call.records, resource, "companyName", name)
    if owner is not None and owner["id"] != old["id"]:
        raise ApiError(
            ErrorKind.INVALID,
            f"Another division of the account is already named {as_json(name)}.",
            field="companyName",
            code="DuplicateDivisionName",
        )


def refuse_busy_division(store: Store, division: Record) -> None:
    busy = [
        case.get("reference") or case["id"]
        for case in store.collection("cases").values()
        if (case.get("creditorDivisionId") or "").lower() == division["id"]
        and case.get("lifecycle") not in ENDED_LIFECYCLES
    ]
    if busy:
        raise ApiError(
            ErrorKind.CONFLICT,
            f"Division {division['id']} has active cases ({', '.join(sorted(busy))}); archive it instead.",
            code="DivisionHasActiveCases",
        )


def record_payment(call: Call, case: Record, data: Record) -> None:
    """Store the payment a `payment.created` event reports, under the event's `paymentId`."""
    invoice = {"status": case.get("lifecycle"), "reference": case.get("reference"), "invoiceId": case["id"]}
    payment = {
        "id": data["paymentId"],
        "dateCreated": iso8601(call.clock_now),
        "dateUpdated": None,
        "date": data["paymentDate"],
        "grossAmount": data["amount"],
        "recipient": "Partner",
        "method": "Bank transfer",
        "currency": case.get("currency"),
        "invoice": invoice,
        "caseId": case["id"],
    }
    call.records.insert("payments", payment)


def sdca_status(store: Store) -> Record:
    """The account's Debt Collection Agreement: unsigned (a new version to re-sign) while SignContract is open."""
    if contract_signed(store):
        return {
            "signed": True,
            "requiresResigning": False,
            "invalidationReason": "None",
            "termsUrl": TERMS_URL,
            "solutionUrl": None,
        }
    return {
        "signed": False,
        "requiresResigning": True,
        "invalidationReason": "NewVersion",
        "termsUrl": None,
        "solutionUrl": SIGNING_URL,
    }


def partners_named(store: Store, name: str) -> Record | None:
    for jurisdiction in store.collection("jurisdictions").values():
        for partner in jurisdiction.get("partners") or []:
            if partner.get("partnerName") == name:
                return partner
    return None


def poa_of(partner: Record, with_terms: bool = False) -> Record:
    status = {"signed": bool(partner.get("signed")), "requiresResigning": bool(partner.get("requiresResigning"))}
    if with_terms:
        status.update(invalidationReason=partner.get("invalidationReason"), termsUrl=partner.get("termsUrl"))
    status["solutionUrl"] = partner.get("solutionUrl")
    return status


def poa_status(store: Store, partner_name: str) -> Record:
    partner = partners_named(store, partner_name)
    return poa_of(partner) if partner is not None else {"signed": True, "requiresResigning": False, "solutionUrl": None}


def exclusive_period_of(case: Record, now: datetime) -> Record:
    start = case.get("dateCollectionStarted")
    if not start:
        raise ApiError(
            ErrorKind.NOT_FOUND,
            f"Case {case.get('reference') or case['id']} has no exclusive period: collection has not started.",
            code="ExclusivePeriodNotFound",
        )
    end = case.get("exclusivePeriodEndDate") or iso8601(parse_iso8601(start) + timedelta(days=EXCLUSIVE_DAYS))
    ends = parse_iso8601(end)
    expired = case.get("lifecycle") in ENDED_LIFECYCLES or ends <= now
    return {
        "engagementStartDate": start,
        "currentEndDate": end,
        "daysRemaining": math.floor((ends - now).total_seconds() / 86400),
        "status": "Expired" if expired else "Active",
        "extensions": [],
    }


def validation_of(store: Store, case: Record) -> Record:
    asks = [
        task
        for task in reversed(tasks_of(store, case["id"]))
        if task.get("status") == "Open" and task.get("type") in VALIDATION_AREAS
    ]
    replies = [chat for chat in chats_of(store, case["id"]) if chat.get("role") == 1]
    return {
        "needsInfo": case.get("lifecycle") == NEEDS_INFO,
        "creditorRespondedAt": replies[-1].get("dateCreated") if replies else None,
        "items": [
            {
                "resolutionArea": VALIDATION_AREAS[task["type"]],
                "description": task.get("description") or task.get("title"),
            }
            for task in asks
        ],
    }


def grouped(store: Store, collection: str, field: str) -> dict[Any, list[Record]]:
    """A collection's records by `field`, each group oldest first (then by id); rebuilt after a change."""

    def build(store: Store) -> dict[Any, list[Record]]:
        groups: dict[Any, list[Record]] = defaultdict(list)
        for record in sorted(
            store.collection(collection).values(), key=lambda r: (seconds_of(r.get("dateCreated")), r["id"])
        ):
            groups[record.get(field)].append(record)
        return groups

    return store.derived(f"{collection}-by-{field}", build, watches=(collection,))


def quotes_of(store: Store, lead_id: str) -> list[Record]:
    return grouped(store, "quotes", "quoteRequestId").get(lead_id, [])


def quote_request_of(call: Call) -> Record:
    """The quote request the path names, of the case it names (404 for either)."""
    case = call.resources.find(call, "cases")
    wanted = call.path["quoteRequestId"]
    lead = call.records.get("quoteRequests", wanted.lower())
    if lead is None or lead["caseId"] != case["id"]:
        raise ApiError(
            ErrorKind.NOT_FOUND,
            f"Case {case.get('reference') or case['id']} has no quote request {wanted}.",
            code="QuoteRequestNotFound",
        )
    return lead


LEAD_DATES = (
    "dateCreated",
    "dateQualified",
    "leadsDoneOffered",
    "dateReminderSent",
    "dateReminderTwoSent",
    "dateOutcomeSelected",
)


def lead_summary(lead: Record, quotes: int) -> Record:
    head = {"quoteRequestId": lead["id"], "caseId": lead["caseId"]}
    head.update({key: lead.get(key) for key in ("status", "leadFlowStatus", "quoteType", "maxQuotes")})
    head.update(currentQuotesCount=quotes, outcome=lead.get("outcome"), purpose=lead.get("purpose"))
    return {**head, **{key: lead.get(key) for key in LEAD_DATES}}


def lead_detail(lead: Record, quotes: int) -> Record:
    head = {"quoteRequestId": lead["id"], "caseId": lead["caseId"]}
    head.update({key: lead.get(key) for key in ("status", "leadFlowStatus", "quoteType", "maxQuotes")})
    head.update(
        currentQuotesCount=quotes, isMaxBidCountReached=quotes >= lead["maxQuotes"], outcome=lead.get("outcome")
    )
    head.update(request=lead.get("request"), existingFees=lead.get("existingFees"))
    return {**head, **{key: lead.get(key) for key in LEAD_DATES}}


def quote_summary(quote: Record) -> Record:
    pricing = quote.get("pricing") or {}
    return {
        "quoteId": quote["id"],
        **{key: quote.get(key) for key in ("quoteRequestId", "partnerId", "partnerName", "status", "agreementType")},
        "hourlyRate": pricing.get("hourlyRate"),
        "hourlyEstimated": pricing.get("hourlyEstimated"),
        "flatFeeEstimate": pricing.get("flatFeeEstimate"),
        "successFee": pricing.get("successFeeFee"),
        "hybridEstimate": pricing.get("hybridEstimate"),
        **{key: quote.get(key) for key in ("proposedSolution", "partnerWhyUsSection", "phase", "offerNature")},
        "currency": quote.get("currency"),
        "dateCreated": quote["dateCreated"],
    }


def quote_detail(quote: Record) -> Record:
    fields = (
        "quoteRequestId",
        "partnerId",
        "partnerName",
        "status",
        "agreementType",
        "pricing",
        "currency",
        "proposedSolution",
        "feeComments",
        "partnerWhyUsSection",
        "fullQuoteLink",
        "dateCreated",
        "dateUpdated",
    )
    return {"quoteId": quote["id"], **{key: quote.get(key) for key in fields}}


def country_names(call: Call) -> dict[str, str]:
    names: dict[str, str] = call.resources.spec.component_schema("DebtorDto")["properties"]["country"]["x-names"]
    return names


def known_country(code: str, names: dict[str, str], field: str) -> str:
    alpha2 = code.strip().upper()
    if alpha2 not in names:
        raise ApiError(
            ErrorKind.INVALID,
            f"{field} is invalid: {as_json(code)} is not an ISO 3166-1 alpha-2 country code.",
            field=field,
        )
    return alpha2


def us_state(country: str, state: str | None, field: str) -> str | None:
    if state:
        return state.strip().upper()
    if country == UNITED_STATES:
        raise ApiError(
            ErrorKind.INVALID, f"{field} is missing: it is required for a debtor in the United States.", field=field
        )
    return None


def check_debtor_type(value: str, field: str) -> None:
    if value not in DEBTOR_TYPES:
        raise ApiError(
            ErrorKind.INVALID, f"{field} is invalid: {as_json(value)} is not Company or Private.", field=field
        )


def check_currency(value: str, field: str) -> None:
    if not _CURRENCY.match(value):
        raise ApiError(ErrorKind.INVALID, f"{field} is invalid: {as_json(value)} is not an ISO 4217 code.", field=field)


def jurisdiction_for(store: Store, country: str, state: str | None) -> Record | None:
    """The debtor's jurisdiction: its state's, else its country's, else the rest of the world's."""
    jurisdictions = sorted(store.collection("jurisdictions").values(), key=lambda j: j["id"])
    candidates = ((country, state), (country, None), (None, None))
    for wanted_country, wanted_state in candidates:
        for jurisdiction in jurisdictions:
            if (
                jurisdiction.get("countryAlpha2") == wanted_country
                and jurisdiction.get("usStateAlpha2") == wanted_state
            ):
                return jurisdiction
    return None


def first_partner(jurisdiction: Record | None) -> Record | None:
    partners = (jurisdiction or {}).get("partners") or []
    return partners[0] if partners else None


def no_partner_message(country: str) -> str:
    return f"We don't have an exclusive pre-legal partner in the provided jurisdiction ({country})."


def jurisdiction_info(jurisdiction: Record | None) -> Record | None:
    if jurisdiction is None:
        return None
    return {
        "id": jurisdiction["jurisdictionId"],
        "name": jurisdiction.get("jurisdiction"),
        "country": jurisdiction.get("country"),
        "countryAlpha2": jurisdiction.get("countryAlpha2"),
        "usStateAlpha2": jurisdiction.get("usStateAlpha2"),
    }


def jurisdiction_dto(jurisdiction: Record) -> Record:
    return {
        "id": jurisdiction["jurisdictionId"],
        "name": jurisdiction.get("jurisdiction"),
        "countryAlpha2": jurisdiction.get("countryAlpha2"),
        "stateAlpha2": jurisdiction.get("usStateAlpha2"),
    }


def partner_assignment(store: Store, partner: Record) -> Record:
    """The partner, with the country of the first jurisdiction (by id) that lists it."""
    home = None
    for jurisdiction in sorted(store.collection("jurisdictions").values(), key=lambda j: j["id"]):
        if any(p.get("partnerId") == partner["partnerId"] for p in jurisdiction.get("partners") or []):
            home = jurisdiction.get("countryAlpha2")
            break
    return {
        "collectionPartnerId": partner["partnerId"],
        "partnerName": partner.get("partnerName"),
        "partnerCountry": home,
    }


def missing_contract_action() -> Record:
    return {
        "type": MISSING_CONTRACT,
        "message": "Sign the Standard Debt Collection Agreement (your open SignContract task) before submitting cases.",
        "solutionUrl": SIGNING_URL,
        "isBlocking": True,
    }


def age_surcharge(body: Record, amount: float, now: datetime) -> float:
    """Percentage points for aged claims: Debitura's blended formula over the age buckets, or from `dueDate`."""
    buckets = [body.get(name) for name in AGE_BUCKETS[1:]]
    due = body.get("dueDate")
    if due is not None and any(value is not None for value in buckets):
        raise ApiError(
            ErrorKind.INVALID, "dueDate cannot be combined with the amountToRecoverOver… fields.", field="dueDate"
        )
    if due is not None:
        due_at = parse_iso8601(parse_flexible(due, "dueDate") or "")
        if due_at > now:
            raise ApiError(ErrorKind.INVALID, "dueDate cannot be in the future.", field="dueDate")
        overdue_days = (now - due_at).days
        return 20.0 if overdue_days > 730 else 10.0 if overdue_days > 365 else 0.0
    over12 = finite(body, "amountToRecoverOver12Months") or 0.0
    over24 = finite(body, "amountToRecoverOver24Months") or 0.0
    return round(((over12 - over24) * 10 + over24 * 20) / amount, 2)


def pricing_preview(currency: str, surcharge: float) -> Record:
    total = round(BASE_SUCCESS_FEE + surcharge, 2)
    return {
        "baseSuccessFeePercentage": BASE_SUCCESS_FEE,
        "ageSurchargePercentage": surcharge,
        "totalSuccessFeePercentage": total,
        "currencyCode": currency.upper(),
        "pricingSource": "Standard agreement",
        "pricingSourceDescription": f"{total:g}% success fee under your standard agreement.",
    }


def breadth_fixture_problems(fixtures: dict[str, list[Record]]) -> list[str]:
    """Jurisdictions whose key is not their jurisdictionId (GET /coverage/{id} looks them up by it)."""
    return [
        f"jurisdictions[{index}] (id={record['id']!r}): field 'jurisdictionId': it must equal id ({record['id']})"
        for index, record in enumerate(fixtures.get("jurisdictions", []))
        if record.get("jurisdictionId") != record.get("id")
    ]


DOCUMENT_TYPES = (
    "OriginalInvoice",
    "DebtorDocuments",
    "CreditorDocuments",
    "PartnerDocuments",
    "DemandLetter",
    "Miscellaneous",
)
DEFAULT_DOCUMENT_TYPE = "OriginalInvoice"
FILE_EXTENSIONS = (".pdf", ".xls", ".xlsx", ".csv", ".txt", ".jpg", ".jpeg", ".png", ".gif")
MAX_FILE_BYTES = 25 * 1024 * 1024


def checked_upload(value: str) -> UploadedFile:
    """The form's `File`, refused when it is no file, empty, too large (413) or of a type Debitura refuses (415)."""
    if not isinstance(value, UploadedFile):
        raise ApiError(ErrorKind.INVALID, "File must be a file (a form part with a file name).", field="File")
    if not value:
        raise ApiError(ErrorKind.INVALID, f"File {as_json(value.filename)} is empty.", field="File", code="EmptyFile")
    if len(value) > MAX_FILE_BYTES:
        raise ApiError(ErrorKind.PAYLOAD_TOO_LARGE, "File is larger than 25 MB.", field="File", code="FileTooLarge")
    if not value.filename.lower().endswith(FILE_EXTENSIONS):
        raise ApiError(
            ErrorKind.INVALID,
            f"File {as_json(value.filename)} is not of an accepted type ({', '.join(FILE_EXTENSIONS)}).",
            field="File",
            code="UnsupportedFileType",
            status=415,
        )
    return value

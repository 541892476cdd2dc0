"""Debitura (international debt collection): cases, chats, tasks and the test-case helpers.

Wire facts: mounted at `/debitura/v1` (the SDK appends `/cases`, the guides
write `/v1/cases`); an `XApiKey` header or `Authorization: Bearer`; camelCase
JSON; `Page`/`PageSize` paging with a `page` metadata object; errors in the
`ApiErrorResponseDto` envelope (`error`, `message`, `businessErrors[]`), 422
`BusinessErrorResponseApiDTO` for business rules on `POST /cases`.

Tasks resolve themselves: a chat reply schedules the case's open chat-driven
tasks for resolution `taskResolutionDelaySeconds` (default 2) of the tenant's
clock later. The due time is kept on the record (`_resolveAt`), so a snapshot
stays plain JSON, and `settle` finishes whatever is due before each call.

Records are stored in wire shape; keys starting with `_` (and a chat's
`caseId`) are internal and stripped before serving. Derived lookups (orders,
per-case lists, pending resolutions) live in an `Index` cached per store and
rebuilt when the store changes.
"""

from __future__ import annotations

import copy
import heapq
import json
import math
import re
import uuid
import weakref
from bisect import bisect_right
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import islice, pairwise
from typing import Any, ClassVar

from sandbox import idempotency
from sandbox.clock import iso8601, parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, Reply, admin_action, handles
from sandbox.store import Record, Store

DEFAULT_TASK_RESOLUTION_DELAY = 2.0
SETTINGS_ID = "sandbox"
APP_URL = "https://app.debitura.com"
ID_NAMESPACE = uuid.UUID("5b0c5d1e-4f3a-5c7e-9d21-0d3b1e7a9c42")

CHAT_TASK_TYPES = ("ReplyToChat", "ClientInputRequired", "MoreInfoNeeded")
ACCOUNT_TASK_TYPES = ("SignContract", "AssignBankAccount")
TASK_LABELS = {
    "ReplyToChat": "Reply to chat",
    "ClientInputRequired": "Client input required",
    "MoreInfoNeeded": "More info needed",
    "SelectQuoteWinner": "Select quote winner",
    "ReviewPartner": "Review partner",
    "CaseValidationNeedsInfo": "Case validation needs info",
    "Generic": "Generic",
    "SignContract": "Sign contract",
    "AssignBankAccount": "Assign bank account",
}
ACCOUNT_SOLUTION_URLS = {
    "AssignBankAccount": f"{APP_URL}/Invoices/Index?bankAccountId=-1",
    "SignContract": f"{APP_URL}/CreditorContracts",
}
TASK_KEYS = (
    "id",
    "type",
    "typeLabel",
    "title",
    "description",
    "status",
    "caseId",
    "caseReference",
    "leadId",
    "deadline",
    "dateCreated",
    "dateSolved",
    "solutionUrl",
    "action",
)
# How long the partner gives the creditor to answer, by task type.
TASK_DEADLINES = {"ReplyToChat": timedelta(days=4), "ClientInputRequired": timedelta(days=4)}
DEFAULT_TASK_DEADLINE = timedelta(days=2)

# Lifecycle status names (the `Statuses` filter) and the texts cases carry.
LIFECYCLE_TEXTS = {
    "PendingContractSigning": "Pending contract signing",
    "PendingVerificationInternal": "Pending Verification Internal",
    "PendingVerification": "Pending Verification",
    "NeedsAdditionalDetails": "More Info Required",
    "Leads": "Collecting Quotes",
    "LeadsQuoteGiven": "Pending Quote Selection",
    "Active": "Active",
    "Paused": "Paused",
    "Closed": "Closed",
    "Merged": "Merged",
}
STATUS_LOOKUP = {
    **{name.lower(): text for name, text in LIFECYCLE_TEXTS.items()},
    **{text.lower(): text for text in LIFECYCLE_TEXTS.values()},
    # Older documentation's names for the two quote states.
    "pending quote by partner": "Collecting Quotes",
    "quote given by partner": "Pending Quote Selection",
}
NEEDS_INFO = "More Info Required"
CLOSE_PAID = "Paid"
CLOSE_NO_PAYMENT = "Pre-Legal Exhausted \u2013 No Payment"
TARGET_CLOSE_CODES = {"Closed:Paid": CLOSE_PAID, "Closed:NoPayment": CLOSE_NO_PAYMENT}

SORT_FIELDS = {
    name.lower(): name
    for name in (
        "dateCreated",
        "dateUpdated",
        "dateFinished",
        "dateCollectionStarted",
        "dueDate",
        "date",
        "grossAmount",
        "remainder",
        "interestFees",
        "collectionFees",
        "reminderFees",
        "lifecycle",
        "closeCode",
    )
}
DATE_FIELDS = frozenset({"dateCreated", "dateUpdated", "dateFinished", "dateCollectionStarted", "dueDate", "date"})

DEBTOR_KEYS = (
    "type",
    "name",
    "contactPerson",
    "companyRegistrationNumber",
    "address",
    "zipCode",
    "city",
    "state",
    "stateAlpha2",
    "countryAlpha2",
    "country",
    "email",
    "phone",
)
CREDITOR_KEYS = (
    "id",
    "companyName",
    "companyRegistrationNumber",
    "officeEmail",
    "officePhone",
    "address",
    "city",
    "zipCode",
    "state",
    "country",
)
COUNTRIES = {
    "AT": "Austria",
    "AU": "Australia",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "CN": "China",
    "CY": "Cyprus",
    "CZ": "Czech Republic",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "ES": "Spain",
    "FI": "Finland",
    "FO": "Faroe Islands",
    "FR": "France",
    "GB": "United Kingdom",
    "GL": "Greenland",
    "GR": "Greece",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IN": "India",
    "IS": "Iceland",
    "IT": "Italy",
    "JP": "Japan",
    "LI": "Liechtenstein",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "MX": "Mexico",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SG": "Singapore",
    "SI": "Slovenia",
    "SK": "Slovakia",
    "TR": "Turkey",
    "UA": "Ukraine",
    "US": "United States",
    "ZA": "South Africa",
}
# A debtor in this country has no collection partner (a deterministic 422).
NO_PARTNER_COUNTRY = "AQ"

ERROR_CODES = {
    ErrorKind.UNAUTHORIZED: "Unauthorized",
    ErrorKind.FORBIDDEN: "Forbidden",
    ErrorKind.NOT_FOUND: "NotFound",
    ErrorKind.METHOD_NOT_ALLOWED: "MethodNotAllowed",
    ErrorKind.PAYLOAD_TOO_LARGE: "PayloadTooLarge",
    ErrorKind.INVALID: "ValidationFailed",
    ErrorKind.PRECONDITION: "InvalidTestCaseTransition",
    ErrorKind.CONFLICT: "BusinessRuleViolation",
    ErrorKind.RATE_LIMITED: "RateLimitExceeded",
    ErrorKind.INTERNAL: "InternalServerError",
    ErrorKind.UNAVAILABLE: "ServiceUnavailable",
}
_RETRY_IN = re.compile(r"retry in (\d+) s")

SYSTEM_ACTOR: Record = {"type": "System", "name": "Debitura"}


def reused_key(key: str, operation: str) -> ApiError:
    return ApiError(
        ErrorKind.CONFLICT,
        f"The Idempotency-Key {key!r} was already used with a different request body.",
        code="IdempotencyConflict",
    )


class Debitura(Provider):
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

    def error_body(self, error: ApiError, status: int) -> Any:
        code = error.code or ERROR_CODES[error.kind]
        body: dict[str, Any] = {
            "error": code,
            "message": error.message,
            "businessErrors": [{"type": code, "message": error.message, "solutionUrl": None}],
        }
        if error.field:
            body["errors"] = {error.field: [error.message]}
        if status == 422:
            body["signingHandoff"] = None
        if status == 429:
            body["retryAfter"] = retry_after(error)
        return body

    # -- fixtures ----------------------------------------------------------

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None:
        cases = {**store.collection("cases"), **{case["id"]: case for case in fixtures.get("cases", [])}}
        for case in fixtures.get("cases", []):
            case.setdefault("_debtorId", str(uuid.uuid5(ID_NAMESPACE, f"debtor-of:{case['id']}")))
        for task in fixtures.get("tasks", []):
            complete_task(task, cases.get(task.get("caseId") or ""))
        super().seed(store, fixtures)
        invalidate(store)

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        new_cases = {case["id"]: case for case in fixtures.get("cases", [])}
        cases = {**(store.collection("cases") if store is not None else {}), **new_cases}
        problems: list[str] = []
        problems.extend(unique_case_references(cases, new_cases))
        for index, chat in enumerate(fixtures.get("chats", [])):
            if chat["caseId"] not in cases:
                problems.append(f"chats[{index}] (id={chat['id']!r}): field 'caseId': no case {chat['caseId']!r}")
        for index, task in enumerate(fixtures.get("tasks", [])):
            where = f"tasks[{index}] (id={task['id']!r})"
            problems.extend(f"{where}: {problem}" for problem in task_problems(task, cases))
        return problems

    # -- delayed work --------------------------------------------------------

    def settle(self, store: Store, now: datetime) -> None:
        due = index_of(store).due(now.timestamp())
        if not due:
            return
        for moment, _, collection, record_id in due:
            record = store.get(collection, record_id)
            if record is None or "_resolveAt" not in record:
                continue
            when = datetime.fromtimestamp(moment, UTC)
            del record["_resolveAt"]
            if collection == "tasks":
                if record.get("status") == "Open":
                    record["status"] = "Solved"
                    record["dateSolved"] = iso8601(when)
            elif record.get("lifecycle") == NEEDS_INFO:
                target = "Active" if record.get("dateCollectionStarted") else "Pending Verification"
                change_lifecycle(record, target, when, "The partner received the information it asked for.")
        invalidate(store)

    # -- cases ---------------------------------------------------------------

    @handles("casesPost")
    @idempotency.idempotent(reused_key)
    def create_case(self, call: Call) -> Any:
        store = call.records
        case = new_case(store, call.body, call.clock_now)
        store.put("cases", case)
        invalidate(store)
        return present(case)

    @handles("casesGet")
    def list_cases(self, call: Call) -> Any:
        store = call.records
        index = index_of(store)
        query = call.query
        statuses = None
        if "Statuses" in query:
            statuses = set()
            for value in query["Statuses"]:
                text = STATUS_LOOKUP.get(value.strip().lower())
                if text is None:
                    raise ApiError(
                        ErrorKind.INVALID,
                        f"Statuses: unknown case status {value!r}; use one of {', '.join(LIFECYCLE_TEXTS)}.",
                        field="Statuses",
                    )
                statuses.add(text)
        filters: list[tuple[str, set[str]]] = [
            (field, {value.lower() for value in query[name]})
            for name, field in (("Ids", "id"), ("DebtorIds", "_debtorId"), ("DivisionIds", "creditorDivisionId"))
            if name in query
        ]
        cases = store.collection("cases")
        order: list[str] = index.case_order
        if statuses is not None or filters:
            order = [
                case_id
                for case_id in order
                if (statuses is None or cases[case_id].get("lifecycle") in statuses)
                and all(str(cases[case_id].get(field) or "").lower() in wanted for field, wanted in filters)
            ]
        if query.get("Sort"):
            order = sort_cases(order, cases, query["Sort"])
        page, size = query.get("Page", 1), query.get("PageSize", 10)
        start = (page - 1) * size
        chosen = order[start : start + size] if start < len(order) else []
        return {"page": page_data(len(order), page, size, len(chosen)), "cases": [present(cases[i]) for i in chosen]}

    @handles("casesIdGet")
    def get_case(self, call: Call) -> Any:
        return present(find_case(call.records, call.path["id"]))

    @handles("casesByCreditorReferenceCreditorReferenceGet")
    def get_case_by_creditor_reference(self, call: Call) -> Any:
        store = call.records
        reference = call.path["creditorReference"]
        case_id = index_of(store).by_creditor_reference.get(reference)
        if case_id is None:
            raise case_not_found(f"No case with creditor reference {reference!r}.")
        return present(store.collection("cases")[case_id])

    @handles("casesCaseReferenceCaseReferenceGet")
    def get_case_by_reference(self, call: Call) -> Any:
        store = call.records
        reference = call.path["caseReference"]
        case_id = index_of(store).by_reference.get(reference.strip().upper())
        if case_id is None:
            raise case_not_found(f"No case with reference {reference!r}.")
        return present(store.collection("cases")[case_id])

    @handles("casesIdTimelineGet")
    def timeline(self, call: Call) -> Any:
        store = call.records
        case = find_case(store, call.path["id"])
        return timeline_of(store, case)

    # -- chats ---------------------------------------------------------------

    @handles("casesIdChatsGet")
    def list_chats(self, call: Call) -> Any:
        store = call.records
        case = find_case(store, call.path["id"])
        chats = store.collection("chats")
        return [present_chat(chats[i]) for i in index_of(store).chats_by_case.get(case["id"], [])]

    @handles("casesIdChatsPost")
    def send_chat(self, call: Call) -> Any:
        store = call.records
        now = call.clock_now
        case = find_case(store, call.path["id"])
        user = chat_sender(store, call.body)
        waiting = [
            task
            for task in case_tasks(store, case["id"])
            if task.get("status") == "Open" and task.get("type") in CHAT_TASK_TYPES and "_resolveAt" not in task
        ]
        stamp = iso8601(now)
        chat = {
            "id": new_id(store, "chats"),
            "caseId": case["id"],
            "dateCreated": stamp,
            "dateUpdated": stamp,
            "role": 1,
            "roleLabel": "Creditor",
            "message": call.body["message"],
            "isSeen": False,
            "user": {
                "id": user["relationId"],
                "dateCreated": user.get("dateCreated"),
                "dateUpdated": user.get("dateUpdated"),
                "firstName": user.get("firstName"),
                "lastName": user.get("lastName"),
                "email": user.get("email"),
            },
        }
        store.put("chats", chat)
        due = precise(now + timedelta(seconds=resolution_delay(store)))
        for task in waiting:
            task["_resolveAt"] = due
        if case.get("lifecycle") == NEEDS_INFO and "_resolveAt" not in case:
            case["_resolveAt"] = due
        case["dateUpdated"] = stamp
        invalidate(store)
        return present_chat(chat)

    # -- tasks ---------------------------------------------------------------

    @handles("tasksGet")
    def list_tasks(self, call: Call) -> Any:
        store = call.records
        index = index_of(store)
        status = call.query.get("status", "Open")
        types = list(dict.fromkeys(call.query.get("type") or []))
        lists = [index.tasks_with(status, kind) for kind in types] if types else [index.tasks_with(status, None)]
        total = sum(len(ids) for ids in lists)
        page, size = call.query.get("Page", 1), call.query.get("PageSize", 10)
        start = (page - 1) * size
        if start >= total:
            chosen: list[str] = []
        elif len(lists) == 1:
            chosen = lists[0][start : start + size]
        else:
            merged = heapq.merge(*lists, key=index.task_key.__getitem__)
            chosen = list(islice(merged, start, start + size))
        tasks = store.collection("tasks")
        return {"page": page_data(total, page, size, len(chosen)), "tasks": [present(tasks[i]) for i in chosen]}

    @handles("casesIdTasksGet")
    def list_case_tasks(self, call: Call) -> Any:
        store = call.records
        case = find_case(store, call.path["id"])
        status = call.query.get("status", "Open")
        types = set(call.query.get("type") or TASK_LABELS)
        return [
            present(task)
            for task in case_tasks(store, case["id"])
            if task.get("status") == status and task.get("type") in types and task.get("type") not in ACCOUNT_TASK_TYPES
        ]

    # -- test helpers --------------------------------------------------------

    @handles("testCasesIdAdvancePost")
    def advance(self, call: Call) -> Any:
        store = call.records
        now = call.clock_now
        case = find_case(store, call.path["id"])
        require_test_case(case)
        target = call.body["to"]
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
        if current != "Active":
            activate(case, now)
        if target != "Active":
            if amount is not None:
                register_payment(case, amount, now)
            close_case(case, TARGET_CLOSE_CODES[target], now)
        invalidate(store)
        return {"advanced": True, "state": state_of(case)}

    @handles("testCasesIdDelete")
    def delete_test_case(self, call: Call) -> Reply:
        store = call.records
        case_id = call.path["id"].lower()
        case = store.get("cases", case_id)
        if case is None:
            if store.get("deletedCases", case_id) is not None:
                return Reply(status=204)
            raise case_not_found(f"No case {call.path['id']}.")
        require_test_case(case)
        delete_cases(store, [case_id])
        return Reply(status=204)

    @handles("testCasesDelete")
    def delete_tagged_test_cases(self, call: Call) -> Reply:
        store = call.records
        tag = call.query["tag"]
        matches = [case for case in store.collection("cases").values() if case.get("_tag") == tag]
        production = [case.get("reference") or case["id"] for case in matches if not case.get("isTestCase")]
        if production:
            raise ApiError(
                ErrorKind.INVALID,
                f"Tag {tag!r} also marks production cases ({', '.join(production)}); only test cases can be "
                "deleted, so nothing was deleted.",
                code="NotATestCase",
            )
        delete_cases(store, [case["id"] for case in matches])
        return Reply(status=204)

    @handles("meGet")
    def me(self, call: Call) -> Any:
        creditor = next(iter(call.records.collection("creditors").values()), None)
        if creditor is None:
            raise ApiError(ErrorKind.NOT_FOUND, "Creditor not found.", code="CreditorNotFound")
        return {key: value for key, value in creditor.items() if not key.startswith("_")}

    # -- test helpers of the admin API (specs/debitura.admin.yaml) ------------

    @admin_action("debituraPartnerMessage")
    def partner_message_action(self, call: Call) -> Reply:
        return Reply(partner_message(call.records, call.clock_now, call.path["id"], call.body), status=201)

    @admin_action("debituraResolveTask")
    def resolve_task_action(self, call: Call) -> Any:
        return resolve_task(call.records, call.clock_now, call.path["id"])


# -- the counterparty (driven through the admin API) ---------------------------


def partner_message(store: Store, now: datetime, case_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The collection partner writes on a case: add its chat message and open (or reuse) a chat-driven task.

    An open task of the same type that no reply has scheduled for resolution
    yet is reused (its description becomes the new message); otherwise a new
    task is opened. Returns the message, the task and whether it is new.
    """
    case = store.get("cases", case_id.lower())
    if case is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"No Debitura case {case_id} in this tenant.")
    task_type = body.get("taskType") or "ReplyToChat"
    if task_type not in CHAT_TASK_TYPES:
        raise ApiError(ErrorKind.INVALID, f"taskType must be one of {', '.join(CHAT_TASK_TYPES)}.", field="taskType")
    message = body["message"]
    stamp = iso8601(now)
    reusable = next(
        (
            task
            for task in case_tasks(store, case["id"])
            if task.get("type") == task_type and task.get("status") == "Open" and "_resolveAt" not in task
        ),
        None,
    )
    chat = {
        "id": new_id(store, "chats"),
        "caseId": case["id"],
        "dateCreated": stamp,
        "dateUpdated": stamp,
        "role": 0,
        "roleLabel": "Partner",
        "message": message,
        "isSeen": False,
        "user": partner_user(store, case),
    }
    store.put("chats", chat)
    partner = (case.get("collectionPartner") or {}).get("name")
    if reusable is not None:
        task = reusable
        task["description"] = message
    else:
        titles = {
            "ReplyToChat": f"Reply to {partner or 'your collection partner'}",
            "ClientInputRequired": f"{partner or 'Your collection partner'} needs your input",
            "MoreInfoNeeded": f"{partner or 'Your collection partner'} needs more information",
        }
        task = {
            "id": new_id(store, "tasks"),
            "type": task_type,
            "typeLabel": TASK_LABELS[task_type],
            "title": titles[task_type],
            "description": message,
            "status": "Open",
            "caseId": case["id"],
            "caseReference": case.get("reference"),
            "leadId": None,
            "deadline": iso8601(now + TASK_DEADLINES.get(task_type, DEFAULT_TASK_DEADLINE)),
            "dateCreated": stamp,
            "dateSolved": None,
            "solutionUrl": case_url(case["id"]),
            "action": chat_action(case["id"]),
        }
        store.put("tasks", task)
    case["dateUpdated"] = stamp
    invalidate(store)
    return {"chat": present_chat(chat), "task": present(task), "taskCreated": reusable is None}


def resolve_task(store: Store, now: datetime, task_id: str) -> dict[str, Any]:
    """Resolve an open task as a person following its solutionUrl would; 409 if it is already solved."""
    task = store.get("tasks", task_id) or store.get("tasks", task_id.lower())
    if task is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"No Debitura task {task_id} in this tenant.")
    if task.get("status") == "Solved":
        raise ApiError(
            ErrorKind.CONFLICT,
            f"Task {task['id']} was already solved at {task.get('dateSolved')}.",
        )
    task.pop("_resolveAt", None)
    task["status"] = "Solved"
    task["dateSolved"] = iso8601(now)
    invalidate(store)
    return present(task)


# -- derived lookups -------------------------------------------------------------


class Index:
    """Orders and groupings of one store's records, built on first use, dropped when the store changes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.version = store.version

    @cached_property
    def case_order(self) -> list[str]:
        """Case ids, newest first (dateCreated descending, then id)."""
        cases = self.store.collection("cases")
        return sorted(cases, key=lambda i: (-timestamp_of(cases[i].get("dateCreated")), i))

    @cached_property
    def by_reference(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for case_id in reversed(self.case_order):  # the oldest case keeps a duplicated reference
            reference = self.store.collection("cases")[case_id].get("reference")
            if reference:
                found.setdefault(reference.upper(), case_id)
        return found

    @cached_property
    def by_creditor_reference(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for case_id in reversed(self.case_order):
            reference = self.store.collection("cases")[case_id].get("creditorReference")
            if reference:
                found.setdefault(reference, case_id)
        return found

    @cached_property
    def chats_by_case(self) -> dict[str, list[str]]:
        """Chat ids of each case, oldest first (then in the order they were added)."""
        chats = self.store.collection("chats")
        grouped: dict[str, list[str]] = defaultdict(list)
        for chat_id in sorted(chats, key=lambda i: timestamp_of(chats[i].get("dateCreated"))):
            grouped[chats[chat_id].get("caseId")].append(chat_id)
        return grouped

    @cached_property
    def task_key(self) -> dict[str, tuple[float, str]]:
        tasks = self.store.collection("tasks")
        return {task_id: (-timestamp_of(task.get("dateCreated")), task_id) for task_id, task in tasks.items()}

    @cached_property
    def task_order(self) -> list[str]:
        """Task ids, newest first (dateCreated descending, then id)."""
        return sorted(self.task_key, key=self.task_key.__getitem__)

    @cached_property
    def tasks_by_case(self) -> dict[str, list[str]]:
        tasks = self.store.collection("tasks")
        grouped: dict[str, list[str]] = defaultdict(list)
        for task_id in self.task_order:
            case_id = tasks[task_id].get("caseId")
            if case_id:
                grouped[case_id].append(task_id)
        return grouped

    @cached_property
    def tasks_by_status(self) -> dict[tuple[str, str | None], list[str]]:
        """Task ids by (status, type) and by (status, None), each newest first."""
        tasks = self.store.collection("tasks")
        grouped: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        for task_id in self.task_order:
            task = tasks[task_id]
            grouped[(task.get("status"), None)].append(task_id)
            grouped[(task.get("status"), task.get("type"))].append(task_id)
        return grouped

    def tasks_with(self, status: str, task_type: str | None) -> list[str]:
        return self.tasks_by_status.get((status, task_type), [])

    @cached_property
    def pending(self) -> list[tuple[float, int, str, str]]:
        """Scheduled work as (due timestamp, order, collection, id), soonest first."""
        found: list[tuple[float, int, str, str]] = []
        for rank, collection in enumerate(("tasks", "cases")):
            for record_id, record in self.store.collection(collection).items():
                if "_resolveAt" in record:
                    found.append((timestamp_of(record["_resolveAt"]), rank, collection, record_id))
        return sorted(found)

    def due(self, now: float) -> list[tuple[float, int, str, str]]:
        return self.pending[: bisect_right(self.pending, (now, math.inf))]


_INDEXES: weakref.WeakKeyDictionary[Store, Index] = weakref.WeakKeyDictionary()


def index_of(store: Store) -> Index:
    index = _INDEXES.get(store)
    if index is None or index.version != store.version:
        index = _INDEXES[store] = Index(store)
    return index


def invalidate(store: Store) -> None:
    """Forget the store's index after a change to what it derives from (statuses, schedules)."""
    _INDEXES.pop(store, None)


# -- helpers ---------------------------------------------------------------------


def timestamp_of(text: Any) -> float:
    if not isinstance(text, str):
        return 0.0
    try:
        return parse_iso8601(text).timestamp()
    except (ValueError, OverflowError):
        return 0.0


def precise(instant: datetime) -> str:
    """A UTC timestamp keeping its microseconds (for due times; served times are whole seconds)."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def retry_after(error: ApiError) -> int:
    header = error.headers.get("Retry-After", "")
    if header.isdigit():
        return int(header)
    found = _RETRY_IN.search(error.message)
    return int(found.group(1)) if found else 1


def new_id(store: Store, collection: str) -> str:
    """A fresh UUID, repeatable from one run to the next (derived from the collection's sequence)."""
    while True:
        candidate = str(uuid.uuid5(ID_NAMESPACE, f"{collection}:{store.next_id(collection)}"))
        if store.get(collection, candidate) is None:
            return candidate


def present(record: Record) -> Record:
    return {key: value for key, value in record.items() if not key.startswith("_")}


def present_chat(chat: Record) -> Record:
    return {key: value for key, value in chat.items() if key != "caseId" and not key.startswith("_")}


def page_data(total: int, page: int, size: int, count: int) -> Record:
    return {
        "totalResults": total,
        "pageSize": size,
        "currentPage": page,
        "responseCount": count,
        "totalPages": -(-total // size),
    }


def case_not_found(message: str) -> ApiError:
    return ApiError(ErrorKind.NOT_FOUND, message, code="CaseNotFound")


def find_case(store: Store, case_id: str) -> Record:
    case = store.get("cases", case_id.lower())
    if case is None:
        raise case_not_found(f"No case {case_id}.")
    return case


def case_tasks(store: Store, case_id: str) -> list[Record]:
    tasks = store.collection("tasks")
    return [tasks[task_id] for task_id in index_of(store).tasks_by_case.get(case_id, [])]


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


def complete_task(task: Record, case: Record | None) -> None:
    """Fill in what a fixture task left out, in the wire's key order."""
    task_type = task["type"]
    case_id = task.get("caseId")
    defaults: Record = {
        "typeLabel": TASK_LABELS[task_type],
        "title": None,
        "description": None,
        "status": "Open",
        "caseId": None,
        "caseReference": case.get("reference") if case else None,
        "leadId": None,
        "deadline": None,
        "dateSolved": None,
        "solutionUrl": ACCOUNT_SOLUTION_URLS.get(task_type) or (case_url(case_id) if case_id else f"{APP_URL}/Tasks"),
        "action": expected_action(task_type, case_id),
    }
    filled = {key: task[key] if key in task else defaults.get(key) for key in TASK_KEYS}
    if filled["caseReference"] is None:
        filled["caseReference"] = defaults["caseReference"]
    internal = {key: value for key, value in task.items() if key.startswith("_")}
    task.clear()
    task.update(filled)
    task.update(internal)


def task_problems(task: Record, cases: dict[str, Record]) -> list[str]:
    task_type = task["type"]
    case_id = task.get("caseId")
    case = cases.get(case_id) if case_id else None
    problems: list[str] = []
    if task_type in ACCOUNT_TASK_TYPES and case_id is not None:
        problems.append(f"field 'caseId': {task_type} is an account-level task; its caseId must be null")
    if task_type in CHAT_TASK_TYPES and not case_id:
        problems.append(f"field 'caseId': {task_type} is resolved on a case's chat; it needs a caseId")
    if case_id and case is None:
        problems.append(f"field 'caseId': no case {case_id!r}")
    if case is not None and task.get("caseReference") is not None and task["caseReference"] != case.get("reference"):
        problems.append(
            f"field 'caseReference': {task['caseReference']!r} is not the reference of case {case_id} "
            f"({case.get('reference')!r})"
        )
    if "action" in task and task["action"] != expected_action(task_type, case_id):
        expected = expected_action(task_type, case_id)
        problems.append(f"field 'action': a {task_type} task's action is {json.dumps(expected)}")
    solved = task.get("status", "Open") == "Solved"
    if solved and not task.get("dateSolved"):
        problems.append("field 'dateSolved': a Solved task needs dateSolved")
    if not solved and task.get("dateSolved"):
        problems.append("field 'dateSolved': an Open task has no dateSolved (null)")
    return problems


def unique_case_references(cases: dict[str, Record], new_cases: dict[str, Record]) -> list[str]:
    problems: list[str] = []
    for field, normalize in (("reference", str.upper), ("creditorReference", str)):
        owners: dict[str, str] = {}
        for case_id, case in cases.items():
            value = case.get(field)
            if not value:
                continue
            owner = owners.setdefault(normalize(value), case_id)
            if owner != case_id and (case_id in new_cases or owner in new_cases):
                problems.append(f"cases (id={case_id!r}): field '{field}': {value!r} is also the {field} of {owner}")
    return problems


def chat_sender(store: Store, body: Record) -> Record:
    users = store.collection("users").values()
    email = body.get("userEmail")
    user_id = body.get("userId")
    if email:
        user = next((u for u in users if str(u.get("email", "")).lower() == email.strip().lower()), None)
        if user is None:
            raise ApiError(
                ErrorKind.INVALID, f"{email!r} is not a member of your team.", field="userEmail", code="InvalidUser"
            )
        return user
    if user_id:
        user = next((u for u in users if str(u.get("id", "")).lower() == user_id.strip().lower()), None)
        if user is None:
            raise ApiError(
                ErrorKind.INVALID, f"No member of your team has id {user_id!r}.", field="userId", code="InvalidUser"
            )
        return user
    raise ApiError(
        ErrorKind.INVALID,
        "Say who is writing: send userEmail (a member of your team) or userId.",
        code="MissingUserIdentifier",
    )


def partner_user(store: Store, case: Record) -> Record:
    """Who writes for the partner: whoever wrote last for it on the case, else the partner's office."""
    chats = store.collection("chats")
    for chat_id in reversed(index_of(store).chats_by_case.get(case["id"], [])):
        chat = chats[chat_id]
        if chat.get("role") == 0 and isinstance(chat.get("user"), dict):
            return copy.deepcopy(chat["user"])
    partner = case.get("collectionPartner") or {}
    return {
        "id": 9000,
        "dateCreated": None,
        "dateUpdated": None,
        "firstName": partner.get("name") or "Collection",
        "lastName": None if partner.get("name") else "partner",
        "email": partner.get("officeEmail"),
    }


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
        raise ApiError(ErrorKind.INVALID, f"{field} is not a valid date: {value!r}.", field=field) from None


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
    total = finite(body, "amountToRecover")
    over6 = finite(body, "amountToRecoverOver6Months")
    over12 = finite(body, "amountToRecoverOver12Months")
    over24 = finite(body, "amountToRecoverOver24Months")
    if over24 is not None and over12 is None:
        raise ApiError(
            ErrorKind.INVALID,
            "amountToRecoverOver24Months needs amountToRecoverOver12Months.",
            field="amountToRecoverOver24Months",
        )
    if over6 is not None and (over12 is None or over24 is None):
        raise ApiError(
            ErrorKind.INVALID,
            "amountToRecoverOver6Months needs amountToRecoverOver12Months and amountToRecoverOver24Months.",
            field="amountToRecoverOver6Months",
        )
    assert total is not None
    chain = [
        ("amountToRecoverOver24Months", over24),
        ("amountToRecoverOver12Months", over12),
        ("amountToRecoverOver6Months", over6),
        ("amountToRecover", total),
    ]
    present_values = [(name, value) for name, value in chain if value is not None]
    for (name, value), (bigger_name, bigger) in pairwise(present_values):
        if value > bigger:
            raise ApiError(ErrorKind.INVALID, f"{name} ({value:g}) exceeds {bigger_name} ({bigger:g}).", field=name)


def new_case(store: Store, body: Record, now: datetime) -> Record:
    """The case a valid POST /cases body creates; raises before anything is stored."""
    check_age_buckets(body)
    stamp = iso8601(now)
    claim_date = parse_flexible(body.get("date"), "date") or stamp
    due_date = parse_flexible(body.get("dueDate"), "dueDate") or claim_date
    source = body["debtor"]
    debtor = {key: source.get(key) for key in DEBTOR_KEYS}
    country = source["countryAlpha2"].upper()
    debtor["countryAlpha2"] = country
    debtor["country"] = COUNTRIES.get(country) or source.get("country")
    if debtor["stateAlpha2"]:
        debtor["stateAlpha2"] = debtor["stateAlpha2"].upper()
    assigned = None
    if body.get("assignedUserEmail"):
        email = body["assignedUserEmail"].strip().lower()
        user = next((u for u in store.collection("users").values() if str(u.get("email", "")).lower() == email), None)
        if user is None:
            raise ApiError(
                ErrorKind.INVALID,
                f"{body['assignedUserEmail']!r} is not a member of your team.",
                field="assignedUserEmail",
                code="InvalidUser",
            )
        assigned = {"email": user["email"], "name": user.get("name")}
    index = index_of(store)
    creditor_reference = body.get("creditorReference")
    if creditor_reference and creditor_reference in index.by_creditor_reference:
        raise ApiError(
            ErrorKind.CONFLICT,
            f"Another case already has the creditor reference {creditor_reference!r}.",
            code="DuplicateCreditorReference",
        )
    if country == NO_PARTNER_COUNTRY:
        raise ApiError(
            ErrorKind.CONFLICT,
            f"No collection partner covers debtors in {country}.",
            code="NoPartnerAvailable",
        )
    case_id = new_id(store, "cases")
    reference = new_reference(case_id, index.by_reference)
    division_id = body.get("creditorDivisionId")
    division_id = division_id.lower() if division_id else None
    gross = finite(body, "amountToRecover") or 0.0
    return {
        "id": case_id,
        "_tag": body.get("tag"),
        "_debtorId": str(uuid.uuid5(ID_NAMESPACE, f"debtor:{country}:{debtor['name'].strip().lower()}")),
        "dateCreated": stamp,
        "dateUpdated": None,
        "reference": reference,
        "creditorReference": creditor_reference,
        "creditorComments": body.get("comments"),
        "claimDescription": body.get("claimDescription"),
        "grossAmount": gross,
        "remainder": gross,
        "interestFees": 0,
        "reminderFees": 0,
        "collectionFees": 0,
        "totalAddedFees": 0,
        "currency": body["currencyCode"].upper(),
        "isTestCase": bool(body.get("isTest", False)),
        "lifecycle": "Pending Verification"
        if body.get("skipDebituraVerification")
        else "Pending Verification Internal",
        "dueDate": due_date,
        "date": claim_date,
        "dateFinished": None,
        "dateCollectionStarted": None,
        "closeCode": None,
        "claimType": None,
        "creditorDivisionId": division_id,
        "debtor": debtor,
        "collectionPartner": None,
        "creditor": creditor_of(store, division_id),
        "bankAccount": None,
        "blendedAgeUpliftPoints": None,
        "preLegalSuccessFee": None,
        "solutionUrl": None,
        "signingHandoff": None,
        "exclusivePeriodEndDate": None,
        "disputeStatus": None,
        "validation": {"needsInfo": False},
        "assignedUser": assigned,
    }


def new_reference(case_id: str, taken: dict[str, str]) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    seed = uuid.UUID(case_id).int
    while True:
        digits = []
        number = seed
        for _ in range(8):
            number, digit = divmod(number, len(alphabet))
            digits.append(alphabet[digit])
        reference = "".join(digits)
        if reference not in taken:
            return reference
        seed = uuid.uuid5(ID_NAMESPACE, reference).int


def creditor_of(store: Store, division_id: str | None) -> Record | None:
    creditor = next(iter(store.collection("creditors").values()), None)
    if creditor is None:
        return None
    shown: Record = {key: creditor.get(key) for key in CREDITOR_KEYS}
    shown["division"] = None
    if division_id:
        name = None
        for case in store.collection("cases").values():
            division = (case.get("creditor") or {}).get("division") or {}
            if str(division.get("id", "")).lower() == division_id:
                name = division.get("name")
                break
        shown["division"] = {"id": division_id, "name": name}
    return shown


def state_of(case: Record) -> str:
    """The advance API's name for where a case is ("Active", "Closed:Paid", …) or its lifecycle text."""
    lifecycle = case.get("lifecycle") or ""
    if lifecycle == "Closed":
        return {CLOSE_PAID: "Closed:Paid", CLOSE_NO_PAYMENT: "Closed:NoPayment"}.get(case.get("closeCode"), "Closed")
    return lifecycle


def record_event(case: Record, when: datetime, kind: str, title: str, description: str) -> None:
    event = {"date": iso8601(when), "type": kind, "title": title, "description": description}
    event["actor"] = dict(SYSTEM_ACTOR)
    case.setdefault("_events", []).append(event)


def change_lifecycle(case: Record, target: str, when: datetime, why: str) -> None:
    previous = case.get("lifecycle")
    case["lifecycle"] = target
    case["dateUpdated"] = iso8601(when)
    record_event(case, when, "LifecycleChanged", f"{previous} \u2192 {target}", why)


def activate(case: Record, now: datetime) -> None:
    case.pop("_resolveAt", None)
    change_lifecycle(case, "Active", now, "Advanced by the test-case API.")
    if not case.get("dateCollectionStarted"):
        case["dateCollectionStarted"] = iso8601(now)
        partner = (case.get("collectionPartner") or {}).get("name") or "The collection partner"
        record_event(case, now, "CollectionStarted", "Collection started", f"{partner} started collecting.")


def register_payment(case: Record, amount: float, now: datetime) -> None:
    remainder = round(max(0.0, float(case.get("remainder") or 0) - amount), 2)
    case["remainder"] = remainder
    currency = case.get("currency") or ""
    record_event(
        case,
        now,
        "PaymentRegistered",
        "Payment registered",
        f"{amount:.2f} {currency} received; {remainder:.2f} {currency} outstanding.",
    )


def close_case(case: Record, close_code: str, now: datetime) -> None:
    change_lifecycle(case, "Closed", now, f"Closed as {close_code} by the test-case API.")
    case["closeCode"] = close_code
    case["dateFinished"] = iso8601(now)


def delete_cases(store: Store, case_ids: list[str]) -> None:
    index = index_of(store)
    for case_id in case_ids:
        for chat_id in index.chats_by_case.get(case_id, []):
            store.remove("chats", chat_id)
        for task_id in index.tasks_by_case.get(case_id, []):
            store.remove("tasks", task_id)
        store.remove("cases", case_id)
        store.put("deletedCases", {"id": case_id})
    invalidate(store)


def sort_cases(order: list[str], cases: dict[str, Record], sort: str) -> list[str]:
    terms: list[tuple[str, bool]] = []
    for part in sort.split(","):
        name, _, direction = part.strip().partition(":")
        field = SORT_FIELDS.get(name.strip().lower())
        direction = direction.strip().lower() or "asc"
        if field is not None and direction in ("asc", "desc"):
            terms.append((field, direction == "desc"))
    result = list(order)
    for field, descending in reversed(terms):

        def value(case_id: str, field: str = field) -> Any:
            raw = cases[case_id].get(field)
            if raw is None:
                return None
            return timestamp_of(raw) if field in DATE_FIELDS else raw

        known = [case_id for case_id in result if value(case_id) is not None]
        missing = [case_id for case_id in result if value(case_id) is None]
        result = sorted(known, key=value, reverse=descending) + missing
    return result


def timeline_of(store: Store, case: Record) -> Record:
    entries: list[tuple[float, int, int, Record]] = []

    def add(date: Any, rank: int, item: Record) -> None:
        if isinstance(date, str):
            entries.append((timestamp_of(date), rank, len(entries), {"date": date, **item}))

    def entry(kind: str, title: str, description: str | None, actor: Record | None) -> Record:
        return {"type": kind, "title": title, "description": description, "actor": actor}

    currency = case.get("currency") or ""
    partner = (case.get("collectionPartner") or {}).get("name")
    add(
        case.get("dateCreated"),
        0,
        entry(
            "CaseCreated",
            "Case created",
            f"Case {case.get('reference')} for {float(case.get('grossAmount') or 0):.2f} {currency}.",
            dict(SYSTEM_ACTOR),
        ),
    )
    events = case.get("_events") or []
    if not any(event.get("type") == "CollectionStarted" for event in events):
        add(
            case.get("dateCollectionStarted"),
            1,
            entry(
                "CollectionStarted",
                "Collection started",
                f"{partner or 'The collection partner'} started collecting.",
                {"type": "Partner user", "name": partner},
            ),
        )
    chats = store.collection("chats")
    for chat_id in index_of(store).chats_by_case.get(case["id"], []):
        chat = chats[chat_id]
        user = chat.get("user") or {}
        name = " ".join(part for part in (user.get("firstName"), user.get("lastName")) if part) or None
        actor = {"type": "Creditor user" if chat.get("role") == 1 else "Partner user", "name": name}
        add(
            chat.get("dateCreated"),
            2,
            entry("ChatMessage", f"Message from {name or 'the partner'}", chat.get("message"), actor),
        )
    for task in case_tasks(store, case["id"]):
        label = task.get("typeLabel") or task.get("type")
        add(
            task.get("dateCreated"),
            3,
            entry("TaskOpened", f"Task opened: {label}", task.get("title"), dict(SYSTEM_ACTOR)),
        )
        if task.get("status") == "Solved":
            add(
                task.get("dateSolved"),
                4,
                entry("TaskSolved", f"Task solved: {label}", task.get("title"), dict(SYSTEM_ACTOR)),
            )
    for event in events:
        add(event.get("date"), 5, {key: value for key, value in event.items() if key != "date"})
    if case.get("lifecycle") == "Closed":
        add(
            case.get("dateFinished"),
            6,
            entry("CaseClosed", case.get("closeCode") or "Closed", "The case was closed.", dict(SYSTEM_ACTOR)),
        )
    entries.sort(key=lambda found: found[:3])
    phase = "Pre-legal" if case.get("lifecycle") in ("Active", "Paused") else None
    return {"items": [item for *_, item in entries], "currentEngagementPhase": phase}

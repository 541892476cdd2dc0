"""Debitura (international debt collection): cases, chats, tasks and the test-case helpers.

Wire facts: mounted at `/debitura/v1` (the SDK appends `/cases`, the guides
write `/v1/cases`); an `XApiKey` header or `Authorization: Bearer`; camelCase
JSON; `Page`/`PageSize` paging with a `page` metadata object; errors in the
`ApiErrorResponseDto` envelope (`error`, `message`, `businessErrors[]`), 422
`BusinessErrorResponseApiDTO` for business rules on `POST /cases`.

The spec's `x-sandbox` block declares the records and serves the case and task
lists (paging, filters, sorting) and `GET /cases/{id}`; this module holds the
business rules.

Tasks resolve themselves: a chat reply schedules the case's open chat-driven
tasks for resolution `taskResolutionDelaySeconds` (default 2) of the tenant's
clock later. The due time is kept on the record (`_resolveAt`), so a snapshot
stays plain JSON, and `settle` finishes whatever is due before each call.

Records are stored in wire shape; keys starting with `_` (and a chat's
`caseId`) are internal and stripped before serving. Derived lookups (per-case
chats and tasks, references, pending resolutions) are `store.derived` indexes.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from bisect import bisect_right, insort
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar

from sandbox import idempotency
from sandbox.auth import bearer_token, unauthorized, valid_token
from sandbox.clock import iso8601, parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, Reply, handles
from sandbox.store import Change, Record, Store

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

NEEDS_INFO = "More Info Required"
CLOSE_PAID = "Paid"
CLOSE_NO_PAYMENT = "Pre-Legal Exhausted \u2013 No Payment"
TARGET_CLOSE_CODES = {"Closed:Paid": CLOSE_PAID, "Closed:NoPayment": CLOSE_NO_PAYMENT}

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

    def credential(self, headers: dict[str, str]) -> str:
        key = headers.get("xapikey")
        if key is not None:
            key = key.strip()
            if not key:
                raise unauthorized("The XApiKey header is empty: send your API key in it.")
            if not valid_token(key):
                raise unauthorized("Malformed XApiKey header: expected an API key.")
            return key
        token = bearer_token(headers, required=False)
        if token is None:
            raise unauthorized(
                "No credentials: send your API key in the 'XApiKey' header or as 'Authorization: Bearer <key>'."
            )
        return token

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
        if "tasks" in fixtures:
            fixtures["tasks"] = [complete_task(task, cases.get(task.get("caseId") or "")) for task in fixtures["tasks"]]
        super().seed(store, fixtures)

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
        for moment, collection, key in pending(store).due(now.timestamp()):
            draft = unscheduled(store.collection(collection)[key])
            when = datetime.fromtimestamp(moment, UTC)
            if collection == "tasks" and draft.get("status") == "Open":
                draft.update(status="Solved", dateSolved=iso8601(when))
            elif collection == "cases" and draft.get("lifecycle") == NEEDS_INFO:
                target = "Active" if draft.get("dateCollectionStarted") else "Pending Verification"
                change_lifecycle(draft, target, when, "The partner received the information it asked for.")
            store.put(collection, draft)

    # -- cases ---------------------------------------------------------------

    @handles("casesPost")
    @idempotency.idempotent(reused_key)
    def create_case(self, call: Call) -> Any:
        return present(call.records.insert("cases", new_case(call.records, call.body, call.clock_now)))

    @handles("casesByCreditorReferenceCreditorReferenceGet")
    def get_case_by_creditor_reference(self, call: Call) -> Any:
        reference = call.path["creditorReference"]
        return present(case_with(call.records, "creditorReference", reference, "creditor reference"))

    @handles("casesCaseReferenceCaseReferenceGet")
    def get_case_by_reference(self, call: Call) -> Any:
        return present(case_with(call.records, "reference", call.path["caseReference"], "reference"))

    @handles("casesIdTimelineGet")
    def timeline(self, call: Call) -> Any:
        return timeline_of(call.records, call.resources.find(call, "cases"))

    # -- chats ---------------------------------------------------------------

    @handles("casesIdChatsGet")
    def list_chats(self, call: Call) -> Any:
        case = call.resources.find(call, "cases")
        return [present_chat(chat) for chat in chats_of(call.records, case["id"])]

    @handles("casesIdChatsPost")
    def send_chat(self, call: Call) -> Any:
        store, now = call.records, call.clock_now
        case = call.resources.find(call, "cases")
        user = chat_sender(store, call.body)
        user_fields = ("dateCreated", "dateUpdated", "firstName", "lastName", "email")
        sender = {"id": user["relationId"], **{key: user.get(key) for key in user_fields}}
        chat = store.insert("chats", new_chat(store, case, now, 1, call.body["message"], sender))
        due = precise(now + timedelta(seconds=resolution_delay(store)))
        for task in tasks_of(store, case["id"]):
            if task.get("status") == "Open" and task.get("type") in CHAT_TASK_TYPES and "_resolveAt" not in task:
                store.update("tasks", task["id"], {"_resolveAt": due})
        changes = {"dateUpdated": iso8601(now)}
        if case.get("lifecycle") == NEEDS_INFO and "_resolveAt" not in case:
            changes["_resolveAt"] = due
        store.update("cases", case["id"], changes)
        return present_chat(chat)

    # -- tasks ---------------------------------------------------------------

    @handles("casesIdTasksGet")
    def list_case_tasks(self, call: Call) -> Any:
        case = call.resources.find(call, "cases")
        status = call.query.get("status", "Open")
        types = set(call.query.get("type") or TASK_LABELS) - set(ACCOUNT_TASK_TYPES)
        tasks = tasks_of(call.records, case["id"])
        return [present(task) for task in tasks if task.get("status") == status and task.get("type") in types]

    # -- test helpers --------------------------------------------------------

    @handles("testCasesIdAdvancePost")
    def advance(self, call: Call) -> Any:
        now = call.clock_now
        case = call.resources.find(call, "cases")
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
        draft = dict(case)
        if current != "Active":
            activate(draft, now)
        if target != "Active":
            if amount is not None:
                register_payment(draft, amount, now)
            close_case(draft, TARGET_CLOSE_CODES[target], now)
        return {"advanced": True, "state": state_of(call.records.put("cases", draft))}

    @handles("testCasesIdDelete")
    def delete_test_case(self, call: Call) -> Reply:
        store = call.records
        case_id = call.path["id"].lower()
        if store.get("cases", case_id) is None and store.get("deletedCases", case_id) is not None:
            return Reply(status=204)
        case = call.resources.find(call, "cases")
        require_test_case(case)
        delete_cases(store, [case["id"]])
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
        return present(creditor)


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
    reusable = next(
        (
            task
            for task in tasks_of(store, case["id"])
            if task.get("type") == task_type and task.get("status") == "Open" and "_resolveAt" not in task
        ),
        None,
    )
    chat = store.insert("chats", new_chat(store, case, now, 0, message, partner_user(store, case)))
    if reusable is not None:
        task = store.update("tasks", reusable["id"], {"description": message})
    else:
        task = store.insert("tasks", new_chat_task(store, case, task_type, message, now))
    store.update("cases", case["id"], {"dateUpdated": iso8601(now)})
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
    return present(store.put("tasks", {**unscheduled(task), "status": "Solved", "dateSolved": iso8601(now)}))


def new_chat(store: Store, case: Record, now: datetime, role: int, message: str, user: Record) -> Record:
    stamp = iso8601(now)
    return {
        "id": new_id(store, "chats"),
        "caseId": case["id"],
        "dateCreated": stamp,
        "dateUpdated": stamp,
        "role": role,
        "roleLabel": "Creditor" if role == 1 else "Partner",
        "message": message,
        "isSeen": False,
        "user": user,
    }


def new_chat_task(store: Store, case: Record, task_type: str, message: str, now: datetime) -> Record:
    partner = (case.get("collectionPartner") or {}).get("name")
    titles = {
        "ReplyToChat": f"Reply to {partner or 'your collection partner'}",
        "ClientInputRequired": f"{partner or 'Your collection partner'} needs your input",
        "MoreInfoNeeded": f"{partner or 'Your collection partner'} needs more information",
    }
    return {
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
        "dateCreated": iso8601(now),
        "dateSolved": None,
        "solutionUrl": case_url(case["id"]),
        "action": chat_action(case["id"]),
    }


# -- derived lookups -------------------------------------------------------------


def newest_first(record: Record) -> tuple[float, str]:
    """List order of cases and tasks: dateCreated descending, then id."""
    return (-timestamp_of(record.get("dateCreated")), record["id"])


def chats_of(store: Store, case_id: str) -> list[Record]:
    """The case's chat messages, oldest first (then in the order they were added)."""

    def build(store: Store) -> dict[str, list[Record]]:
        grouped: dict[str, list[Record]] = defaultdict(list)
        for chat in sorted(store.collection("chats").values(), key=lambda chat: timestamp_of(chat.get("dateCreated"))):
            grouped[chat.get("caseId")].append(chat)
        return grouped

    return store.derived("chats-by-case", build, watches=("chats",)).get(case_id, [])


def tasks_of(store: Store, case_id: str) -> list[Record]:
    """The case's tasks, newest first."""

    def build(store: Store) -> dict[str, list[Record]]:
        grouped: dict[str, list[Record]] = defaultdict(list)
        for task in sorted(store.collection("tasks").values(), key=newest_first):
            if task.get("caseId"):
                grouped[task["caseId"]].append(task)
        return grouped

    return store.derived("tasks-by-case", build, watches=("tasks",)).get(case_id, [])


def case_references(store: Store) -> dict[tuple[str, str], str]:
    """(field, value) -> case id for `reference` (upper-cased) and `creditorReference`; the oldest case keeps one."""

    def build(store: Store) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        for case in sorted(store.collection("cases").values(), key=newest_first, reverse=True):
            if case.get("reference"):
                found.setdefault(("reference", case["reference"].upper()), case["id"])
            if case.get("creditorReference"):
                found.setdefault(("creditorReference", case["creditorReference"]), case["id"])
        return found

    return store.derived("case-references", build, watches=("cases",))


def case_with(store: Store, field: str, value: str, name: str) -> Record:
    case_id = case_references(store).get((field, value.strip().upper() if field == "reference" else value))
    if case_id is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"No case with {name} {value!r}.", code="CaseNotFound")
    return store.collection("cases")[case_id]


class Pending:
    """Scheduled work: (due timestamp, collection, key) of every record with `_resolveAt`, soonest first."""

    def __init__(self, store: Store) -> None:
        self.entries = sorted(
            (timestamp_of(record["_resolveAt"]), collection, key)
            for collection in ("tasks", "cases")
            for key, record in store.collection(collection).items()
            if "_resolveAt" in record
        )

    def apply(self, change: Change) -> bool:
        if change.old is not None and "_resolveAt" in change.old:
            self.entries.remove((timestamp_of(change.old["_resolveAt"]), change.collection, change.key))
        if change.new is not None and "_resolveAt" in change.new:
            insort(self.entries, (timestamp_of(change.new["_resolveAt"]), change.collection, change.key))
        return True

    def due(self, now: float) -> list[tuple[float, str, str]]:
        return self.entries[: bisect_right(self.entries, now, key=lambda entry: entry[0])]


def pending(store: Store) -> Pending:
    return store.derived("pending", Pending, watches=("tasks", "cases"))


def unscheduled(record: Record) -> Record:
    """A mutable copy of a record without its due time."""
    return {key: value for key, value in record.items() if key != "_resolveAt"}


# -- cases -----------------------------------------------------------------------
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
    references = case_references(store)
    creditor_reference = body.get("creditorReference")
    if creditor_reference and ("creditorReference", creditor_reference) in references:
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
    reference = new_reference(case_id, {key for field, key in references if field == "reference"})
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


def new_reference(case_id: str, taken: set[str]) -> str:
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
    case["_events"] = [*case.get("_events", []), event]


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
    for case_id in case_ids:
        for chat in chats_of(store, case_id):
            store.remove("chats", chat["id"])
        for task in tasks_of(store, case_id):
            store.remove("tasks", task["id"])
        store.remove("cases", case_id)
        store.put("deletedCases", {"id": case_id})


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
    for chat in chats_of(store, case["id"]):
        user = chat.get("user") or {}
        name = " ".join(part for part in (user.get("firstName"), user.get("lastName")) if part) or None
        actor = {"type": "Creditor user" if chat.get("role") == 1 else "Partner user", "name": name}
        add(
            chat.get("dateCreated"),
            2,
            entry("ChatMessage", f"Message from {name or 'the partner'}", chat.get("message"), actor),
        )
    for task in tasks_of(store, case["id"]):
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


def complete_task(task: Record, case: Record | None) -> Record:
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

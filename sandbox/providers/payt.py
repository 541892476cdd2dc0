"""Payt (Dutch credit management): tasks inside administrations.

Wire facts: Bearer tokens with `<resource>:<read|write>` scopes, errors
`{"code", "message"}` with 422 for malformed requests, cursor pagination by
task id, `fields` sparse field selection, ISO 8601 UTC timestamps.
"""

from __future__ import annotations

import bisect
import json
import weakref
from typing import Any

from sandbox.clock import iso8601, parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, Reply, handles
from sandbox.store import Record, Store

ERROR_CODES = {
    ErrorKind.UNAUTHORIZED: "unauthorized",
    ErrorKind.FORBIDDEN: "forbidden",
    ErrorKind.NOT_FOUND: "not_found",
    ErrorKind.METHOD_NOT_ALLOWED: "method_not_allowed",
    ErrorKind.PAYLOAD_TOO_LARGE: "payload_too_large",
    ErrorKind.INVALID: "invalid_parameters",
    ErrorKind.PRECONDITION: "invalid_parameters",
    ErrorKind.CONFLICT: "invalid_parameters",
    ErrorKind.RATE_LIMITED: "too_many_requests",
    ErrorKind.INTERNAL: "internal_server_error",
    ErrorKind.UNAVAILABLE: "service_unavailable",
}

TASK_DEFAULTS: dict[str, Any] = {
    "assigned_to_user": None,
    "credit_case_id": None,
    "debtor_id": None,
    "invoice_id": None,
    "description": "",
    "expiry_date": None,
    "completed_at": None,
    "completed_status": None,
    "completed_status_message": None,
}
# Nested fields that `fields={"only": [{"<name>": [...]}]}` may select from.
NESTED_FIELDS = {
    "assigned_to_user": {"id", "name", "email_address"},
    "comments": {"id", "content", "created_at"},
}
TASK_FIELDS = {
    *TASK_DEFAULTS,
    "administration_id",
    "id",
    "subject",
    "updated_at",
    "created_at",
    "comments",
}
Selection = dict[str, set[str] | None]  # field -> chosen subfields (None: all of them)


class Payt(Provider):
    name = "payt"
    fixture_schemas = {"administrations": "Administration", "tasks": "FixtureTask", "tokens": "Token"}
    error_statuses = {ErrorKind.INVALID: 422, ErrorKind.PRECONDITION: 422, ErrorKind.CONFLICT: 422}

    def __init__(self) -> None:
        self._orders: weakref.WeakKeyDictionary[Store, TaskOrder] = weakref.WeakKeyDictionary()

    def error_body(self, error: ApiError, status: int) -> Any:
        return {"code": error.code or ERROR_CODES[error.kind], "message": error.message}

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None:
        for task in fixtures.get("tasks", []):
            for field, default in TASK_DEFAULTS.items():
                task.setdefault(field, default)
            task.setdefault("comments", [])
        super().seed(store, fixtures)

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        known = {a["id"] for a in fixtures.get("administrations", [])}
        if store is not None:
            known |= set(store.collection("administrations"))
        return [
            f"tasks[{index}] (id={task['id']!r}): field 'administration_id': "
            f"no administration {task['administration_id']!r}"
            for index, task in enumerate(fixtures.get("tasks", []))
            if task["administration_id"] not in known
        ]

    # -- handlers -----------------------------------------------------------

    @handles("getV1Tasks")
    def list_tasks(self, call: Call) -> Any:
        store = call.records
        administration_id = self.administration(call, call.query["administration_id"])
        selection = parse_fields(call.query.get("fields"))
        order = self.order(store).for_administration(administration_id)
        start = 0
        if "cursor" in call.query:
            start = order.position_after(self.cursor_task(store, administration_id, call.query["cursor"]))
        wanted_ids = parse_ids(call.query.get("ids"))
        updated_after = parse_iso8601(call.query["updated_after"]) if "updated_after" in call.query else None
        per_page = call.query.get("per_page", 100)
        tasks = store.collection("tasks")
        page: list[Record] = []
        more = False
        for task_id in order.ids_from(start):
            task = tasks[task_id]
            if wanted_ids is not None and task_id not in wanted_ids:
                continue
            if updated_after is not None and parse_iso8601(task["updated_at"]) <= updated_after:
                continue
            if len(page) == per_page:
                more = True
                break
            page.append(task)
        body: dict[str, Any] = {"data": [present(task, selection) for task in page]}
        if more:
            body["pagination"] = {"cursor": page[-1]["id"]}
        return body

    @handles("getV1TasksId")
    def get_task(self, call: Call) -> Any:
        selection = parse_fields(call.query.get("fields"))
        task = self.task(call, call.query["administration_id"])
        return present(task, selection)

    @handles("patchV1TasksIdMarkCompleted")
    def mark_completed(self, call: Call) -> Any:
        selection = parse_fields(call.body.get("fields"))
        task = self.task(call, call.body["administration_id"])
        if task["completed_at"] is not None:
            raise ApiError(
                ErrorKind.CONFLICT,
                f"Task {task['id']} is already completed (at {task['completed_at']}); unmark it first.",
                code="already_completed",
            )
        now = timestamp(call)
        task["completed_at"] = now
        task["completed_status"] = call.body.get("completed_status", "succeeded")
        task["completed_status_message"] = call.body.get("completed_status_message")
        if "comment" in call.body:
            add_comment(call, task, call.body["comment"])
        task["updated_at"] = now
        return present(task, selection)

    @handles("patchV1TasksIdUnmarkCompleted")
    def unmark_completed(self, call: Call) -> Any:
        selection = parse_fields(call.body.get("fields"))
        task = self.task(call, call.body["administration_id"])
        if task["completed_at"] is not None:
            task["completed_at"] = None
            task["completed_status"] = None
            task["completed_status_message"] = None
            task["updated_at"] = timestamp(call)
        return present(task, selection)

    @handles("postV1TasksIdComment")
    def comment(self, call: Call) -> Reply:
        task = self.task(call, call.body["administration_id"])
        add_comment(call, task, call.body["comment"])
        task["updated_at"] = timestamp(call)
        return Reply({"success": True, "count": 1, "errors": {}}, status=201)

    # -- lookups ------------------------------------------------------------

    def administration(self, call: Call, administration_id: str) -> str:
        grant = call.grant
        if grant is not None and "administrations" in grant and administration_id not in grant["administrations"]:
            raise ApiError(ErrorKind.FORBIDDEN, f"Missing permission: administration {administration_id}")
        if call.records.get("administrations", administration_id) is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Administration {administration_id} not found.")
        return administration_id

    def task(self, call: Call, administration_id: str) -> Record:
        self.administration(call, administration_id)
        task = call.records.get("tasks", call.path["id"])
        if task is None or task["administration_id"] != administration_id:
            raise ApiError(
                ErrorKind.NOT_FOUND, f"Task {call.path['id']} not found in administration {administration_id}."
            )
        return task

    def cursor_task(self, store: Store, administration_id: str, cursor: str) -> str:
        task = store.get("tasks", cursor)
        if task is None or task["administration_id"] != administration_id:
            raise ApiError(
                ErrorKind.INVALID,
                f"cursor is invalid: {cursor!r} is not a task of administration {administration_id}; "
                "pass the pagination.cursor of the previous page.",
                field="cursor",
            )
        return cursor

    def order(self, store: Store) -> TaskOrder:
        order = self._orders.get(store)
        if order is None or order.version != store.version:
            order = self._orders[store] = TaskOrder(store)
        return order


class TaskOrder:
    """Task ids of each administration in id order, rebuilt when tasks are added."""

    def __init__(self, store: Store) -> None:
        self.version = store.version
        by_administration: dict[str, list[str]] = {}
        for task_id, task in store.collection("tasks").items():
            by_administration.setdefault(task["administration_id"], []).append(task_id)
        self._orders = {admin: AdministrationOrder(ids) for admin, ids in by_administration.items()}

    def for_administration(self, administration_id: str) -> AdministrationOrder:
        return self._orders.get(administration_id) or AdministrationOrder([])


class AdministrationOrder:
    def __init__(self, ids: list[str]) -> None:
        self.ids = sorted(ids, key=id_order)
        self.keys = [id_order(task_id) for task_id in self.ids]

    def position_after(self, task_id: str) -> int:
        return bisect.bisect_right(self.keys, id_order(task_id))

    def ids_from(self, start: int):
        for index in range(start, len(self.ids)):
            yield self.ids[index]


def id_order(task_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, before any other ids in text order."""
    return (0, int(task_id), "") if task_id.isdigit() else (1, 0, task_id)


def timestamp(call: Call) -> str:
    return iso8601(call.clock_now)


def add_comment(call: Call, task: Record, content: str) -> None:
    comment_id = call.records.next_id("comments")
    task["comments"].append({"id": str(comment_id), "content": content, "created_at": timestamp(call)})


def parse_ids(raw: str | None) -> set[str] | None:
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def parse_fields(raw: str | None) -> Selection | None:
    """`{"only": ["id", {"assigned_to_user": ["name"]}]}` as a selection; None for the default fields."""
    if raw is None:
        return None

    def invalid(reason: str) -> ApiError:
        return ApiError(ErrorKind.INVALID, f"fields is invalid: {reason}", field="fields")

    try:
        parsed = json.loads(raw)
    except ValueError:
        raise invalid('expected a JSON object such as {"only": ["id", "subject"]}') from None
    if not isinstance(parsed, dict) or set(parsed) != {"only"} or not isinstance(parsed["only"], list):
        raise invalid('expected a JSON object with one key, "only", holding a list')
    selection: Selection = {}
    for item in parsed["only"]:
        if isinstance(item, str):
            if item not in TASK_FIELDS:
                raise invalid(f"unknown field {item!r}")
            selection[item] = None
        elif isinstance(item, dict):
            for name, subfields in item.items():
                allowed = NESTED_FIELDS.get(name)
                if allowed is None:
                    raise invalid(f"{name!r} has no nested fields")
                if not isinstance(subfields, list) or not all(isinstance(s, str) for s in subfields):
                    raise invalid(f"the fields of {name!r} must be a list of names")
                unknown = sorted(set(subfields) - allowed)
                if unknown:
                    raise invalid(f"unknown field {name}.{unknown[0]}")
                selection[name] = set(subfields)
        else:
            raise invalid("each entry of only must be a field name or an object")
    return selection


def present(task: Record, selection: Selection | None) -> Record:
    if selection is None:
        shown = dict(task)  # a copy in C, then drop comments: same keys in the same order, faster
        shown.pop("comments", None)
        return shown
    shown: Record = {}
    for name, subfields in selection.items():
        value = task.get(name)
        if subfields is not None and isinstance(value, dict):
            value = {key: v for key, v in value.items() if key in subfields}
        elif subfields is not None and isinstance(value, list):
            value = [{key: v for key, v in item.items() if key in subfields} for item in value]
        shown[name] = value
    return shown

"""Payt (Dutch credit management): tasks inside administrations.

Wire facts: Bearer tokens with `<resource>:<read|write>` scopes, errors
`{"code", "message"}` with 422 for malformed requests, cursor pagination by
task id, `fields` sparse field selection, ISO 8601 UTC timestamps.

Tasks are declared in the spec's `x-sandbox` block (scope, paging, filters,
fixture defaults, list and retrieve); this module keeps completion and comments.
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, Reply, handles
from sandbox.store import Record

COMPLETION_FIELDS = ("completed_at", "completed_status", "completed_status_message")


class Payt(Provider):
    name = "payt"
    fixture_schemas = {"administrations": "Administration", "tasks": "FixtureTask", "tokens": "Token"}
    error_statuses = {ErrorKind.INVALID: 422, ErrorKind.PRECONDITION: 422, ErrorKind.CONFLICT: 422}


    def error_body(self, error: ApiError, status: int) -> Any:
        return {"code": self.error_code(error), "message": error.message}

    @handles("patchV1TasksIdMarkCompleted")
    def mark_completed(self, call: Call) -> Any:
        tasks = call.resources
        selection = tasks.selection(call)
        task = tasks.find(call)
        if task["completed_at"] is not None:
            raise ApiError(
                ErrorKind.CONFLICT,
                f"Task {task['id']} is already completed (at {task['completed_at']}); unmark it first.",
                code="already_completed",
            )
        changes = {
            "completed_at": tasks.timestamp(call),
            "completed_status": call.body.get("completed_status", "succeeded"),
            "completed_status_message": call.body.get("completed_status_message"),
        }
        if "comment" in call.body:
            changes["comments"] = with_comment(call, task, call.body["comment"])
        return tasks.present(call, "tasks", tasks.save(call, "tasks", task, changes), selection)

    @handles("patchV1TasksIdUnmarkCompleted")
    def unmark_completed(self, call: Call) -> Any:
        """A no-op on an open task: saving unchanged fields leaves `updated_at` alone."""
        tasks = call.resources
        selection = tasks.selection(call)
        task = tasks.save(call, "tasks", tasks.find(call), dict.fromkeys(COMPLETION_FIELDS))
        return tasks.present(call, "tasks", task, selection)

    @handles("postV1TasksIdComment")
    def comment(self, call: Call) -> Reply:
        tasks = call.resources
        task = tasks.find(call)
        tasks.save(call, "tasks", task, {"comments": with_comment(call, task, call.body["comment"])})
        return Reply({"success": True, "count": 1, "errors": {}}, status=201)


def with_comment(call: Call, task: Record, content: str) -> list[Any]:
    """The task's comments and a new one, numbered from the tenant's `comments` sequence."""
    comment_id = str(call.records.next_id("comments"))
    comment = {"id": comment_id, "content": content, "created_at": call.resources.timestamp(call)}
    return [*task.get("comments", ()), comment]

"""Random sequences of mark, unmark, comment and reads keep Payt's invariants.

- completed_at is set exactly when the model says the task is completed;
- comments only grow, in order, and match the model;
- updated_at never goes back;
- another tenant's world is untouched by all of it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.clock import parse_iso8601
from sandbox.engine import Settings

ADMIN = "adm_1001"
TASK_IDS = ["5001", "5002", "5003", "5004"]
FIELDS = '{"only": ["id", "completed_at", "completed_status", "updated_at", "comments"]}'


class PaytTasks(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = TestClient(create_app(Settings(validate_responses=True)))
        self.auth = {"Authorization": "Bearer machine"}
        self.bystander = {"Authorization": "Bearer bystander"}

    @initialize()
    def load_world(self) -> None:
        tasks = self.read_all(self.auth)
        self.completed = {t["id"]: "completed_at" in t for t in tasks}
        self.comments = {t["id"]: [c["content"] for c in t["comments"]] for t in tasks}
        self.updated = {t["id"]: t["updated_at"] for t in tasks}
        self.bystander_view = self.read_all(self.bystander)

    def read_all(self, auth: dict[str, str]) -> list[dict[str, Any]]:
        response = self.client.get(
            "/payt/v1/tasks", params={"administration_id": ADMIN, "fields": FIELDS}, headers=auth
        )
        assert response.status_code == 200
        return response.json()["data"]

    @rule(seconds=st.integers(min_value=0, max_value=7200))
    def time_passes(self, seconds: int) -> None:
        self.client.post("/__sandbox/tenants/machine/clock", json={"advance": seconds})

    @rule(task_id=st.sampled_from(TASK_IDS), status=st.sampled_from(["succeeded", "failed", "cleaned_up"]))
    def mark(self, task_id: str, status: str) -> None:
        response = self.client.patch(
            f"/payt/v1/tasks/{task_id}/mark_completed",
            json={"administration_id": ADMIN, "completed_status": status},
            headers=self.auth,
        )
        if self.completed[task_id]:
            assert response.status_code == 422
            assert response.json()["code"] == "already_completed"
        else:
            assert response.status_code == 200
            assert response.json()["completed_status"] == status
            self.completed[task_id] = True

    @rule(task_id=st.sampled_from(TASK_IDS))
    def unmark(self, task_id: str) -> None:
        response = self.client.patch(
            f"/payt/v1/tasks/{task_id}/unmark_completed", json={"administration_id": ADMIN}, headers=self.auth
        )
        assert response.status_code == 200
        assert "completed_at" not in response.json()
        self.completed[task_id] = False

    @rule(task_id=st.sampled_from(TASK_IDS), text=st.text(min_size=1, max_size=40))
    def comment(self, task_id: str, text: str) -> None:
        response = self.client.post(
            f"/payt/v1/tasks/{task_id}/comment", json={"administration_id": ADMIN, "comment": text}, headers=self.auth
        )
        assert response.status_code == 201
        self.comments[task_id].append(text)

    @invariant()
    def state_matches_the_model(self) -> None:
        if not hasattr(self, "completed"):
            return
        for task in self.read_all(self.auth):
            task_id = task["id"]
            assert ("completed_at" in task) == self.completed[task_id]
            assert ("completed_status" in task) == self.completed[task_id]
            assert [c["content"] for c in task["comments"]] == self.comments[task_id]
            assert parse_iso8601(task["updated_at"]) >= parse_iso8601(self.updated[task_id])
            self.updated[task_id] = task["updated_at"]
        assert self.read_all(self.bystander) == self.bystander_view

    def teardown(self) -> None:
        self.client.close()


PaytTasks.TestCase.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
test_payt_task_invariants = PaytTasks.TestCase

"""Random sequences of invoice calls, checked against a model of Wethod's invoice state machine.

The model knows each invoice's status, payment date and notes. Every call's
status is predicted from the model (404, 412 or success; the token holds
`invoices.edit_sent`, so PATCH and DELETE work in every status); after a refused call
the invoice must read back byte for byte as before, and after every step the
list of the company's invoices must match the model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings

APP = create_app(Settings(validate_responses=True))
TOKENS = (f"state-machine-{n}" for n in itertools.count())
TODAY = "2026-03-10"
ARCHIVED_PROJECTS = {3}
UNKNOWN_ID = 999_999
dates = st.dates().map(lambda day: day.isoformat())


@dataclass
class Model:
    status: str
    payment_date: str | None
    notes: str | None
    project_id: int


class InvoiceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = TestClient(APP)
        self.token = next(TOKENS)
        self.headers = {
            "Authorization": f"Bearer {self.token}",
            "Wethod-Company": "acme",
            "Wethod-Version": "2024-06-15",
        }
        self.model: dict[int, Model] = {}

    @initialize()
    def start(self) -> None:
        clock = self.client.post(
            f"/__sandbox/tenants/{self.token}/clock", json={"frozen": True, "set": f"{TODAY}T18:18:59.457Z"}
        )
        assert clock.status_code == 200
        for invoice in self.list_invoices():
            self.model[invoice["id"]] = Model(
                invoice["status"], invoice["payment_date"], invoice["notes"], invoice["project_id"]
            )

    # -- helpers ----------------------------------------------------------------

    def list_invoices(self) -> list[dict[str, Any]]:
        response = self.client.get("/wethod/api/invoices", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def read(self, invoice_id: int) -> bytes:
        return self.client.get(f"/wethod/api/invoices/{invoice_id}", headers=self.headers).content

    def pick(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from([*sorted(self.model), UNKNOWN_ID]), label="invoice id")

    def call(self, method: str, invoice_id: int, suffix: str = "", **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"/wethod/api/invoices/{invoice_id}{suffix}", headers=self.headers, **kwargs)

    def expect(self, invoice_id: int, allowed: set[str], response_of: Any) -> httpx.Response | None:
        """Run a call on an invoice; return its response when the model says it succeeds."""
        model = self.model.get(invoice_id)
        before = self.read(invoice_id)
        response = response_of()
        if model is None:
            assert response.status_code == 404, response.text
            assert response.json()["key"] == "not_found"
            return None
        if model.status not in allowed or model.project_id in ARCHIVED_PROJECTS:
            assert response.status_code == 412, response.text
            body = response.json()
            assert body["key"] == "precondition_failure"
            if model.project_id not in ARCHIVED_PROJECTS:
                assert f"is {model.status}" in body["message"]
            assert self.read(invoice_id) == before
            return None
        assert response.status_code in (200, 201), response.text
        return response

    # -- rules --------------------------------------------------------------------

    @rule(project_id=st.sampled_from([1, 2, 3]), value=st.integers(-(10**6), 10**6), issue_date=dates)
    def create(self, project_id: int, value: int, issue_date: str) -> None:
        body = {"project_id": project_id, "value": value, "issue_date": issue_date}
        response = self.client.post("/wethod/api/invoices", headers=self.headers, json=body)
        if project_id in ARCHIVED_PROJECTS:
            assert response.status_code == 412, response.text
            return
        assert response.status_code == 201, response.text
        invoice = response.json()
        assert invoice["id"] not in self.model
        assert (invoice["status"], invoice["payment_date"], invoice["value"]) == ("draft", None, value)
        self.model[invoice["id"]] = Model("draft", None, None, project_id)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), notes=st.one_of(st.none(), st.text(max_size=20)))
    def update(self, data: st.DataObject, notes: str | None) -> None:
        invoice_id = self.pick(data)
        patch = lambda: self.call("PATCH", invoice_id, json={"notes": notes})  # noqa: E731
        response = self.expect(invoice_id, {"draft", "sent", "paid"}, patch)
        if response is not None:
            assert response.json()["notes"] == notes
            self.model[invoice_id].notes = notes

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        invoice_id = self.pick(data)
        response = self.expect(invoice_id, {"draft"}, lambda: self.call("POST", invoice_id, ":send"))
        if response is not None:
            assert response.json()["status"] == "sent"
            self.model[invoice_id].status = "sent"

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), payment_date=st.one_of(st.none(), dates))
    def set_paid(self, data: st.DataObject, payment_date: str | None) -> None:
        invoice_id = self.pick(data)
        body = {} if payment_date is None else {"payment_date": payment_date}
        response = self.expect(
            invoice_id, {"sent", "paid"}, lambda: self.call("POST", invoice_id, ":set-paid", json=body)
        )
        if response is not None:
            expected = payment_date or TODAY
            assert (response.json()["status"], response.json()["payment_date"]) == ("paid", expected)
            self.model[invoice_id].status = "paid"
            self.model[invoice_id].payment_date = expected

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def set_unpaid(self, data: st.DataObject) -> None:
        invoice_id = self.pick(data)
        response = self.expect(invoice_id, {"paid"}, lambda: self.call("POST", invoice_id, ":set-unpaid"))
        if response is not None:
            assert (response.json()["status"], response.json()["payment_date"]) == ("sent", None)
            self.model[invoice_id].status = "sent"
            self.model[invoice_id].payment_date = None

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        invoice_id = self.pick(data)
        response = self.expect(invoice_id, {"draft", "sent", "paid"}, lambda: self.call("DELETE", invoice_id))
        if response is not None:
            assert response.content == b""
            del self.model[invoice_id]

    # -- invariants -----------------------------------------------------------------

    @invariant()
    def listing_matches_the_model(self) -> None:
        if not self.model:
            return  # before `start`
        listed = {
            invoice["id"]: Model(invoice["status"], invoice["payment_date"], invoice["notes"], invoice["project_id"])
            for invoice in self.list_invoices()
        }
        assert listed == self.model
        for model in listed.values():
            assert (model.payment_date is not None) == (model.status == "paid")


InvoiceMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
test_invoice_state_machine = InvoiceMachine.TestCase

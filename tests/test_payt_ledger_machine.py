"""Random sequences of payments, reversals, block/resume and payment plan actions keep Payt's books straight.

A model holds each invoice's open amount, whether it is blocked, and each
payment plan's state and starting balance. After every step the sandbox must
agree with it:

- every invoice's open amount, paid flag and block;
- each credit case's open amount is the sum over its invoices;
- a plan's state (`active`, `approved_at`, `rejected_at`, `deactivated_at`);
- an active plan's terms still due add up to what its invoices have not paid
  since it started (`amount_due`), in due-date order.

Refused requests (a payment beyond the total, blocking a blocked invoice, an
action the plan's state does not allow) must change nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings

ADMIN = "adm_1001"
TOTALS = {
    "2026-0042": Decimal("1210"),
    "2026-0051": Decimal("605"),
    "2026-0060": Decimal("363"),
    "2026-0070": Decimal("242"),
    "2026-0075": Decimal("500"),
}
CASES = {"cc_301": ["2026-0042", "2026-0070"], "cc_302": ["2026-0051"], "cc_303": ["2026-0060"]}
PLANS = {"1": ["2026-0075"], "2": ["2026-0051"]}
MOVES = {"approve": ("proposed", "active"), "reject": ("proposed", "rejected"), "deactivate": ("active", "deactivated")}
STAMPS = {"active": "approved_at", "rejected": "rejected_at", "deactivated": "deactivated_at"}


def cents(value: str) -> Decimal:
    return Decimal(value)


class PaytLedger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = TestClient(create_app(Settings(validate_responses=True)))
        self.auth = {"Authorization": "Bearer ledger-machine"}

    @initialize()
    def load_world(self) -> None:
        self.open = {number: cents(self.invoice(number)["open_amount"]) for number in TOTALS}
        self.blocked = {number: "paused_at" in self.invoice(number) for number in TOTALS}
        self.state = {"1": "active", "2": "proposed"}
        self.baseline = {"1": Decimal("500")}

    def invoice(self, number: str) -> dict[str, Any]:
        response = self.client.get(
            f"/payt/v1/invoices/{number}",
            params={"administration_id": ADMIN, "identifier_type": "invoice_number"},
            headers=self.auth,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(f"/payt/v1/{path}", params={"administration_id": ADMIN}, headers=self.auth)
        assert response.status_code == 200, response.text
        return response.json()

    def set_open(self, number: str, open_amount: Decimal) -> dict[str, Any]:
        body = {"administration_id": ADMIN, "invoices": [{"invoice_number": number, "amount_open": str(open_amount)}]}
        response = self.client.patch("/payt/v1/invoices", json=body, headers=self.auth)
        assert response.status_code == 200, response.text
        return response.json()

    @rule(number=st.sampled_from(sorted(TOTALS)), amount=st.integers(min_value=1, max_value=150_000))
    def pay(self, number: str, amount: int) -> None:
        target = self.open[number] - Decimal(amount) / 100
        answer = self.set_open(number, target)
        if target < 0:
            assert answer == {
                "success": True,
                "count": 0,
                "errors": {number: ["The payments exceed the invoice total."]},
            }
        else:
            assert answer == {"success": True, "count": 1, "errors": {}}
            self.open[number] = target

    @rule(number=st.sampled_from(sorted(TOTALS)), amount=st.integers(min_value=1, max_value=150_000))
    def reverse(self, number: str, amount: int) -> None:
        target = min(self.open[number] + Decimal(amount) / 100, TOTALS[number])
        assert self.set_open(number, target)["count"] == 1
        self.open[number] = target

    @rule(number=st.sampled_from(sorted(TOTALS)), action=st.sampled_from(["block", "resume"]))
    def block_or_resume(self, number: str, action: str) -> None:
        body = {"administration_id": ADMIN, "invoice_numbers": [number]}
        answer = self.client.patch(f"/payt/v1/invoices/{action}", json=body, headers=self.auth).json()
        may_block = not self.blocked[number] and self.open[number] != 0
        allowed = may_block if action == "block" else self.blocked[number]
        assert answer["count"] == (1 if allowed else 0), answer
        if allowed:
            self.blocked[number] = action == "block"

    @rule(plan=st.sampled_from(sorted(PLANS)), move=st.sampled_from(sorted(MOVES)))
    def plan_action(self, plan: str, move: str) -> None:
        response = self.client.patch(
            f"/payt/v1/payment_plans/{plan}/{move}", json={"administration_id": ADMIN}, headers=self.auth
        )
        source, target = MOVES[move]
        if self.state[plan] != source:
            assert response.status_code == 422
            assert response.json()["code"] == "invalid_state"
            return
        assert response.status_code == 200, response.text
        self.state[plan] = target
        if target == "active":
            self.baseline[plan] = sum((self.open[n] for n in PLANS[plan]), Decimal(0))

    @invariant()
    def books_match_the_model(self) -> None:
        if not hasattr(self, "open"):
            return
        invoices = {i["invoice_number"]: i for i in self.get("invoices")["data"]}
        for number, open_amount in self.open.items():
            shown = invoices[number]
            assert cents(shown["open_amount"]) == open_amount
            assert shown["open_amount"] == f"{open_amount:.2f}"
            assert ("payment_date" in shown) == (open_amount == 0)
            assert ("paused_at" in shown) == self.blocked[number]
        for case, numbers in CASES.items():
            expected = sum((self.open[n] for n in numbers), Decimal(0))
            assert cents(self.get(f"credit_cases/{case}")["open_amount"]) == expected

    @invariant()
    def plans_match_the_model(self) -> None:
        if not hasattr(self, "state"):
            return
        for plan_id, state in self.state.items():
            plan = self.get(f"payment_plans/{plan_id}")
            assert plan["active"] is (state == "active")
            if state in STAMPS:
                assert STAMPS[state] in plan
            if state != "active":
                continue
            received = max(self.baseline[plan_id] - sum((self.open[n] for n in PLANS[plan_id]), Decimal(0)), Decimal(0))
            planned = sum((cents(t["total_amount"]) for t in plan["payment_terms"]), Decimal(0))
            due = sum((cents(t["amount_due"]) for t in plan["payment_terms"]), Decimal(0))
            assert due == max(planned - received, Decimal(0))
            dues = [cents(t["amount_due"]) for t in plan["payment_terms"]]
            # Terms are paid in due-date order: once one still has something due, every later one is whole.
            first_open = next((i for i, d in enumerate(dues) if d > 0), len(dues))
            later = plan["payment_terms"][first_open + 1 :]
            assert all(cents(t["amount_due"]) == cents(t["total_amount"]) for t in later)
            assert all((t["payment_date"] == "") == (cents(t["amount_due"]) > 0) for t in plan["payment_terms"])

    def teardown(self) -> None:
        self.client.close()


PaytLedger.TestCase.settings = settings(max_examples=25, stateful_step_count=12, deadline=None)
test_payt_ledger_invariants = PaytLedger.TestCase

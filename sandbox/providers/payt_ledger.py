"""Payt's money rules: amounts as two-decimal strings, open amounts from payments, and what follows a payment.

An invoice's open amount is its total minus its principal payments. After an
invoice's payments change, its credit case's totals and its payment plan's
terms follow (`follow_invoice`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sandbox.store import Record, Store

CENT = Decimal("0.01")
ZERO = Decimal("0")


def amount(value: Any) -> Decimal:
    """A wire amount ("12.50", 12.5) as a Decimal; anything else is 0."""
    try:
        return Decimal(str(value)) if value is not None and value != "" else ZERO
    except InvalidOperation:
        return ZERO


def money(value: Decimal) -> str:
    """An amount as Payt writes it: a string with two decimals."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def in_administration(store: Store, collection: str, administration: str) -> list[Record]:
    return [
        record for record in store.collection(collection).values() if record.get("administration_id") == administration
    ]


def by_field(records: Iterable[Record], field: str) -> dict[str, Record]:
    return {str(record[field]): record for record in records if record.get(field) is not None}


def payments_of(store: Store, invoice_id: str) -> list[Record]:
    return [p for p in store.collection("payments").values() if p.get("invoice_id") == invoice_id]


def principal(payments: Iterable[Record], field: str = "total_amount") -> Decimal:
    return sum((amount(p.get(field)) for p in payments if p.get("cost_type", "principal") == "principal"), ZERO)


def open_amounts(invoice: Record, payments: list[Record]) -> tuple[Decimal, Decimal]:
    """(open, book open) of an invoice: its totals minus its principal payments."""
    open_amount = amount(invoice.get("total_amount")) - principal(payments)
    book_open = amount(invoice.get("book_total_amount")) - principal(payments, "total_book_amount")
    return open_amount, book_open


def book_share(invoice: Record, value: Decimal) -> Decimal:
    """An amount in invoice currency in the administration's currency, at the invoice's own rate."""
    total = amount(invoice.get("total_amount"))
    if total == ZERO:
        return value
    return (value * amount(invoice.get("book_total_amount")) / total).quantize(CENT, rounding=ROUND_HALF_UP)


def replace(
    store: Store, collection: str, record: Record, changes: dict[str, Any], dropped: Iterable[str] = ()
) -> Record:
    """A stored record with changes applied and some fields removed (Payt sends no nulls: absent means none)."""
    dropped = frozenset(dropped)  # once, not once per field
    new = {key: value for key, value in {**record, **changes}.items() if key not in dropped}
    return store.put(collection, new, key=str(record["id"]))


def settle_invoice(store: Store, invoice: Record, stamp: str, today: str) -> Record:
    """Recompute an invoice's open amounts, paid flag and payment date from its payments, then what follows."""
    payments = payments_of(store, str(invoice["id"]))
    open_amount, book_open = open_amounts(invoice, payments)
    paid = open_amount == ZERO
    changes: dict[str, Any] = {"open_amount": money(open_amount), "book_open_amount": money(book_open), "_paid": paid}
    dropped: list[str] = []
    if paid and payments:
        changes["payment_date"] = max(str(p["payment_date"]) for p in payments)
    elif paid:
        changes["payment_date"] = invoice.get("payment_date") or today
    else:
        dropped.append("payment_date")
    current = {key: invoice.get(key) for key in changes}
    if current != changes or any(key in invoice for key in dropped):
        changes["updated_at"] = stamp
        invoice = replace(store, "invoices", invoice, changes, dropped)
    follow_invoice(store, invoice, stamp, today)
    return invoice


def follow_invoice(store: Store, invoice: Record, stamp: str, today: str) -> None:
    case_id = invoice.get("active_credit_case_id")
    if case_id is not None:
        settle_credit_case(store, str(case_id), stamp)
    plan_id = invoice.get("active_payment_plan_id")
    if plan_id is not None:
        settle_plan(store, str(plan_id), stamp, today)


def settle_credit_case(store: Store, case_id: str, stamp: str) -> None:
    """A credit case's totals are the sums over its invoices."""
    case = store.get("credit_cases", case_id)
    if case is None:
        return
    invoices = [i for i in store.collection("invoices").values() if i.get("active_credit_case_id") == case_id]
    changes = {
        "total_amount": money(sum((amount(i["total_amount"]) for i in invoices), ZERO)),
        "open_amount": money(sum((amount(i["open_amount"]) for i in invoices), ZERO)),
    }
    if any(case.get(key) != value for key, value in changes.items()):
        store.update("credit_cases", case_id, {**changes, "updated_at": stamp})


def plan_open(store: Store, plan: Record) -> Decimal:
    invoices = (store.get("invoices", invoice_id) for invoice_id in plan.get("_invoice_ids") or ())
    return sum((amount(i["open_amount"]) for i in invoices if i is not None), ZERO)


def settle_plan(store: Store, plan_id: str, stamp: str, today: str) -> None:
    """Pay an active plan's terms in due-date order with what its invoices received since it started."""
    plan = store.get("payment_plans", plan_id)
    if plan is None or plan.get("_state") != "active":
        return
    received = max(amount(plan.get("_baseline")) - plan_open(store, plan), ZERO)
    terms = []
    for term in sorted(plan.get("payment_terms") or (), key=lambda t: (t["due_date"], t["id"])):
        total = amount(term["total_amount"])
        share = min(total, received)
        received -= share
        due = total - share
        paid_on = (term.get("payment_date") or today) if due == ZERO else ""
        terms.append({**term, "amount_due": money(due), "payment_date": paid_on})
    if terms != [dict(t) for t in sorted(plan.get("payment_terms") or (), key=lambda t: (t["due_date"], t["id"]))]:
        store.update("payment_plans", plan_id, {"payment_terms": terms, "updated_at": stamp})


def today_of(now: datetime) -> str:
    return now.date().isoformat()

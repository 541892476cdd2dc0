"""Invoiced (accounts-receivable automation): tasks, customers, invoices and payments.

Wire facts (see docs/research/invoiced.md): HTTP Basic auth with the API key as
the user name and an empty password; errors `{"type", "message", "param"}`
with `type` invalid_request (4xx), rate_limit_error (429) or api_error (5xx);
integer ids; Unix-second timestamps; lists are bare arrays paged by
`page`/`per_page` with `Link` and `X-Total-Count` headers; `Idempotency-Key`
on POST and PATCH. The official Python SDK (`invoiced` 3.x) must work against
it unchanged.

Invoices keep a few internal fields (prefixed `_`) beside the ones the API
shows: whether they were sent, viewed or voided, and the amount paid. Their
`status` depends on the clock (`past_due`), so it is computed when shown.
"""

from __future__ import annotations

import bisect
import re
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from sandbox import idempotency
from sandbox.auth import basic_username
from sandbox.errors import ApiError, ErrorKind
from sandbox.idempotency import HEADER
from sandbox.provider import Call, Provider, Reply, handles
from sandbox.store import Record, Store

COLLECTIONS = ("customers", "invoices", "payments", "tasks")
NUMBERED = {"customers": "CUST", "invoices": "INV"}  # collection -> number prefix
MODEL_NAMES = {"customers": "Customer", "invoices": "Invoice", "payments": "Payment", "tasks": "Task"}
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 100
IDEMPOTENCY_SECONDS = 24 * 3600
# Money, quantities and amounts are refused beyond this size (and when not finite).
MAX_MONEY = 1_000_000_000_000
DAY = 86400
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Basic realm="Invoiced"'}
MISSING_KEY = "Missing API key! HINT: You can pass in your API key as the username parameter using HTTP Basic Auth."
# Statuses of fixture invoices that mean the invoice was issued to the customer.
SENT_STATUSES = {"sent", "viewed", "past_due", "paid"}

CUSTOMER_DEFAULTS: dict[str, Any] = {
    "email": None,
    "type": "company",
    "autopay": False,
    "payment_terms": None,
    "attention_to": None,
    "address1": None,
    "address2": None,
    "city": None,
    "state": None,
    "postal_code": None,
    "country": "US",
    "language": None,
    "currency": None,
    "phone": None,
    "tax_id": None,
    "notes": None,
    "chase": True,
    "credit_hold": False,
    "credit_limit": None,
    "taxable": True,
    "active": True,
}
UPPER_FIELDS = {"country"}
LOWER_FIELDS = {"language", "currency"}


class ListRules:
    """What one list operation may filter and sort on."""

    def __init__(self, collection: str, booleans: set[str], sortable: set[str]) -> None:
        self.collection = collection
        self.booleans = booleans
        self.sortable = sortable


TASK_LIST = ListRules(
    "tasks",
    booleans={"complete"},
    sortable={
        "id",
        "name",
        "action",
        "customer_id",
        "user_id",
        "due_date",
        "complete",
        "completed_date",
        "created_at",
        "updated_at",
    },
)
CUSTOMER_LIST = ListRules(
    "customers", booleans={"active"}, sortable={"id", "name", "number", "email", "created_at", "updated_at"}
)
INVOICE_LIST = ListRules(
    "invoices",
    booleans={"draft", "paid", "closed"},
    sortable={"id", "number", "date", "due_date", "total", "balance", "status", "created_at", "updated_at"},
)
PAYMENT_LIST = ListRules(
    "payments", booleans={"voided"}, sortable={"id", "date", "amount", "balance", "created_at", "updated_at"}
)

Handler = Callable[[Any, Call], Any]


def invalid(message: str, field: str | None = None) -> ApiError:
    return ApiError(ErrorKind.INVALID, message, field=field)


def reused_key(key: str, operation: str) -> ApiError:
    return invalid(
        f"The idempotency key {key!r} was already used for a different request ({operation}); "
        "use a new key for a new request.",
        HEADER,
    )


idempotent = idempotency.idempotent(reused_key, ttl_seconds=IDEMPOTENCY_SECONDS)


class Books:
    """Indexes derived from one store: ids of each collection in order, and the numbers in use.

    The provider keeps them in step with its own writes; a store changed any other
    way (its `version` moved) gets fresh books.
    """

    def __init__(self, store: Store) -> None:
        self.version = store.version
        self.ids: dict[str, list[int]] = {}
        self.numbers: dict[str, dict[str, int]] = {}
        for name in COLLECTIONS:
            records = store.collections.get(name, {})
            self.ids[name] = sorted(int(key) for key in records if key.isdigit())
            if name in NUMBERED:
                self.numbers[name] = {record["number"]: record["id"] for record in records.values()}

    def added(self, collection: str, record_id: int) -> None:
        ids = self.ids.setdefault(collection, [])
        if not ids or record_id > ids[-1]:
            ids.append(record_id)
        else:
            bisect.insort(ids, record_id)

    def removed(self, collection: str, record_id: int) -> None:
        ids = self.ids.get(collection, [])
        index = bisect.bisect_left(ids, record_id)
        if index < len(ids) and ids[index] == record_id:
            del ids[index]


class Invoiced(Provider):
    name = "invoiced"
    fixture_schemas = {"customers": "Customer", "invoices": "Invoice", "payments": "Payment", "tasks": "Task"}

    def __init__(self) -> None:
        self._books: weakref.WeakKeyDictionary[Store, Books] = weakref.WeakKeyDictionary()

    # -- wire format ----------------------------------------------------------

    def credential(self, headers: dict[str, str]) -> str:
        if not headers.get("authorization", "").strip():
            raise ApiError(ErrorKind.UNAUTHORIZED, MISSING_KEY, headers=WWW_AUTHENTICATE)
        try:
            return basic_username(headers)
        except ApiError as error:
            raise ApiError(ErrorKind.UNAUTHORIZED, error.message, headers=WWW_AUTHENTICATE) from None

    def error_body(self, error: ApiError, status: int) -> Any:
        kind = "rate_limit_error" if status == 429 else "api_error" if status >= 500 else "invalid_request"
        body: dict[str, Any] = {"type": kind, "message": error.message}
        if error.field:
            body["param"] = error.field
        return body

    # -- fixtures -------------------------------------------------------------

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None:
        for invoice in fixtures.get("invoices", []):
            status = invoice["status"]
            invoice["_sent"] = status in SENT_STATUSES
            invoice["_viewed"] = status == "viewed"
            invoice["_voided"] = status == "voided"
            invoice["_amount_paid"] = 0
            for item in invoice["items"]:
                item["amount"] = money(item["quantity"] * item["unit_cost"])
            invoice["subtotal"] = invoice["total"] = money(sum(item["amount"] for item in invoice["items"]))
        for payment in fixtures.get("payments", []):
            if payment["voided"]:
                payment["applied_to"] = []
        super().seed(store, fixtures)
        self.recount(store)
        self._books.pop(store, None)

    def recount(self, store: Store) -> None:
        """Recompute what payments say about invoices, and every sequence, from the records."""
        invoices = store.collection("invoices")
        for invoice in invoices.values():
            invoice["_amount_paid"] = 0
        max_application = store.sequences.get("payment_applications", 0)
        for payment in store.collection("payments").values():
            applied = 0.0
            for application in payment["applied_to"]:
                max_application = max(max_application, application["id"])
                applied += application["amount"]
                invoice = invoices.get(str(application["invoice"]))
                if invoice is not None:
                    invoice["_amount_paid"] = money(invoice["_amount_paid"] + application["amount"])
            payment["balance"] = money(payment["amount"] - applied)
        max_item = store.sequences.get("line_items", 0)
        for invoice in invoices.values():
            refresh(invoice, None)
            for item in invoice["items"]:
                max_item = max(max_item, item["id"])
        store.sequences["payment_applications"] = max_application
        store.sequences["line_items"] = max_item
        for name in COLLECTIONS:
            ids = [int(key) for key in store.collection(name) if key.isdigit()]
            store.sequences[name] = max([store.sequences.get(name, 0), *ids])
        for name, prefix in NUMBERED.items():
            pattern = re.compile(re.escape(prefix) + r"-(\d{1,9})")
            used = [int(m.group(1)) for r in store.collection(name).values() if (m := pattern.fullmatch(r["number"]))]
            sequence = f"{name}_number"
            store.sequences[sequence] = max([store.sequences.get(sequence, 0), *used])

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        def known(collection: str) -> set[str]:
            ids = {str(record["id"]) for record in fixtures.get(collection, [])}
            return ids | set(store.collection(collection)) if store is not None else ids

        customers, invoices = known("customers"), known("invoices")
        problems: list[str] = []

        def check(collection: str, index: int, record: Record, field: str, value: Any, ids: set[str]) -> None:
            if value is not None and str(value) not in ids:
                model = "customer" if ids is customers else "invoice"
                problems.append(f"{collection}[{index}] (id={record['id']!r}): field '{field}': no {model} {value!r}")

        for index, task in enumerate(fixtures.get("tasks", [])):
            check("tasks", index, task, "customer_id", task["customer_id"], customers)
        for index, invoice in enumerate(fixtures.get("invoices", [])):
            check("invoices", index, invoice, "customer", invoice["customer"], customers)
            for position, item in enumerate(invoice["items"]):
                for field in ("quantity", "unit_cost"):
                    if not abs(item[field]) <= MAX_MONEY:
                        problems.append(
                            f"invoices[{index}] (id={invoice['id']!r}): field 'items[{position}].{field}': "
                            f"larger than {MAX_MONEY}"
                        )
        for index, payment in enumerate(fixtures.get("payments", [])):
            where = f"payments[{index}] (id={payment['id']!r})"
            check("payments", index, payment, "customer", payment["customer"], customers)
            if not abs(payment["amount"]) <= MAX_MONEY:
                problems.append(f"{where}: field 'amount': larger than {MAX_MONEY}")
                continue
            applied = 0.0
            for position, application in enumerate(payment["applied_to"]):
                check("payments", index, payment, f"applied_to[{position}].invoice", application["invoice"], invoices)
                applied += min(application["amount"], MAX_MONEY + 1)
            if not payment["voided"] and money(applied) > payment["amount"]:
                problems.append(f"{where}: field 'applied_to': applies {money(applied)}, more than amount")
        problems.extend(self.duplicate_numbers(fixtures, store))
        return problems

    @staticmethod
    def duplicate_numbers(fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        problems: list[str] = []
        for name in NUMBERED:
            records = fixtures.get(name, [])
            replaced = {str(record["id"]) for record in records}
            taken: dict[str, Any] = {}
            if store is not None:
                taken = {r["number"]: r["id"] for k, r in store.collection(name).items() if k not in replaced}
            for index, record in enumerate(records):
                if record["number"] in taken:
                    problems.append(
                        f"{name}[{index}] (id={record['id']!r}): field 'number': {record['number']!r} is already "
                        f"used by {name} {taken[record['number']]!r}"
                    )
                taken[record["number"]] = record["id"]
        return problems

    # -- tasks ------------------------------------------------------------------

    @handles("createTask")
    @idempotent
    def create_task(self, call: Call) -> Reply:
        store, body, now = call.records, call.body, unix(call)
        customer_id = self.customer(store, body["customer_id"], "customer_id")["id"]
        complete = body.get("complete", False)
        user_id = body.get("user_id")
        if not complete and body.get("completed_by_user_id") is not None:
            raise completed_by_without_complete()
        task = {
            "id": store.next_id("tasks"),
            "name": body["name"],
            "action": body["action"],
            "customer_id": customer_id,
            "user_id": integer(user_id),
            "due_date": int(body["due_date"]),
            "complete": complete,
            "completed_date": now if complete else None,
            "completed_by_user_id": integer(body.get("completed_by_user_id", user_id)) if complete else None,
            "chase_step_id": None,
            "created_at": now,
            "updated_at": now,
        }
        self.insert(store, "tasks", task)
        return Reply(dict(task), 201)

    @handles("retrieveTask")
    def retrieve_task(self, call: Call) -> Any:
        return dict(self.find(call.records, "tasks", call.path["id"]))

    @handles("updateTask")
    @idempotent
    def update_task(self, call: Call) -> Any:
        store, changes, now = call.records, call.body, unix(call)
        task = self.find(store, "tasks", call.path["id"])
        if "customer_id" in changes:
            self.customer(store, changes["customer_id"], "customer_id")
        complete = changes.get("complete", task["complete"])
        if not complete and changes.get("completed_by_user_id") is not None:
            raise completed_by_without_complete()
        for field in ("name", "action"):
            if field in changes:
                task[field] = changes[field]
        for field in ("customer_id", "user_id", "due_date"):
            if field in changes:
                task[field] = integer(changes[field])
        if not complete:
            task["completed_date"] = None
            task["completed_by_user_id"] = None
        elif not task["complete"]:
            task["completed_date"] = now
            task["completed_by_user_id"] = integer(changes.get("completed_by_user_id", task["user_id"]))
        elif "completed_by_user_id" in changes:
            task["completed_by_user_id"] = integer(changes["completed_by_user_id"])
        task["complete"] = complete
        task["updated_at"] = now
        return dict(task)

    @handles("deleteTask")
    def delete_task(self, call: Call) -> Reply:
        store = call.records
        task = self.find(store, "tasks", call.path["id"])
        self.discard(store, "tasks", task["id"])
        return Reply(status=204)

    @handles("listTasks")
    def list_tasks(self, call: Call) -> Reply:
        return self.list_page(call, TASK_LIST, dict)

    # -- customers ------------------------------------------------------------

    @handles("createCustomer")
    @idempotent
    def create_customer(self, call: Call) -> Reply:
        store, body, now = call.records, call.body, unix(call)
        check_customer_fields(body)
        books = self.books(store)
        if "number" in body and body["number"] in books.numbers["customers"]:
            raise number_taken("customer", body["number"])
        customer: Record = {"id": 0, "object": "customer", "name": body["name"], "number": ""}
        customer.update(CUSTOMER_DEFAULTS)
        customer.update(customer_fields(body))
        customer["metadata"] = dict(body.get("metadata", {}))
        customer["created_at"] = customer["updated_at"] = now
        customer["number"] = body["number"] if "number" in body else self.next_number(store, "customers")
        customer["id"] = store.next_id("customers")
        self.insert(store, "customers", customer)
        return Reply(dict(customer), 201)

    @handles("retrieveCustomer")
    def retrieve_customer(self, call: Call) -> Any:
        return dict(self.find(call.records, "customers", call.path["id"]))

    @handles("updateCustomer")
    @idempotent
    def update_customer(self, call: Call) -> Any:
        store, changes = call.records, call.body
        customer = self.find(store, "customers", call.path["id"])
        check_customer_fields(changes)
        fields = customer_fields(changes)
        numbers = self.books(store).numbers["customers"]
        number = changes.get("number", customer["number"])
        if numbers.get(number, customer["id"]) != customer["id"]:
            raise number_taken("customer", number)
        self.renumber("customers", customer, store, number)
        customer.update(fields)
        if "metadata" in changes:
            customer["metadata"] = dict(changes["metadata"])
        customer["updated_at"] = unix(call)
        return dict(customer)

    @handles("deleteCustomer")
    def delete_customer(self, call: Call) -> Reply:
        store = call.records
        customer = self.find(store, "customers", call.path["id"])
        customer_id = customer["id"]
        if any(payment["customer"] == customer_id for payment in store.collection("payments").values()):
            raise invalid("Customers with transactions cannot be deleted")
        if any(invoice["customer"] == customer_id for invoice in store.collection("invoices").values()):
            raise invalid("Customers with invoices cannot be deleted; delete their invoices first.")
        tasks = [task["id"] for task in store.collection("tasks").values() if task["customer_id"] == customer_id]
        for task_id in tasks:
            self.discard(store, "tasks", task_id)
        self.discard(store, "customers", customer_id)
        return Reply(status=204)

    @handles("listCustomers")
    def list_customers(self, call: Call) -> Reply:
        return self.list_page(call, CUSTOMER_LIST, dict)

    @handles("retrieveCustomerBalance")
    def customer_balance(self, call: Call) -> Any:
        store, now = call.records, unix(call)
        customer = self.find(store, "customers", call.path["id"])
        currency = (call.query.get("currency") or customer["currency"] or "usd").strip().lower()
        outstanding = due_now = 0.0
        past_due = False
        for invoice in store.collection("invoices").values():
            if invoice["customer"] != customer["id"] or invoice["draft"] or invoice["_voided"]:
                continue
            past_due = past_due or status_of(invoice, now) == "past_due"
            if invoice["currency"] != currency or invoice["paid"]:
                continue
            outstanding += invoice["balance"]
            if invoice["date"] <= now:
                due_now += invoice["balance"]
        return {
            "currency": currency,
            "total_outstanding": money(outstanding),
            "due_now": money(due_now),
            "past_due": past_due,
            "open_credit_notes": 0,
            "available_credits": 0,
            "history": [],
        }

    # -- invoices -------------------------------------------------------------

    @handles("createInvoice")
    @idempotent
    def create_invoice(self, call: Call) -> Reply:
        store, body, now = call.records, call.body, unix(call)
        customer = self.customer(store, body["customer"], "customer")
        items = build_items(body.get("items", []), {})
        total = invoice_total(items)
        if "number" in body and body["number"] in self.books(store).numbers["invoices"]:
            raise number_taken("invoice", body["number"])
        date = int(body.get("date", now))
        terms = body.get("payment_terms", customer["payment_terms"])
        due_date = integer(body["due_date"]) if "due_date" in body else due_from_terms(terms, date)
        invoice: Record = {
            "id": 0,
            "object": "invoice",
            "customer": customer["id"],
            "name": body.get("name", "Invoice"),
            "number": "",
            "currency": (body.get("currency") or customer["currency"] or "usd").strip().lower(),
            "date": date,
            "due_date": due_date,
            "payment_terms": terms,
            "purchase_order": body.get("purchase_order"),
            "draft": body.get("draft", False),
            "closed": False,
            "paid": False,
            "status": "draft",
            "chase": body.get("chase", False),
            "autopay": False,
            "attempt_count": 0,
            "next_payment_attempt": None,
            "items": items,
            "notes": body.get("notes"),
            "subtotal": total,
            "discounts": [],
            "taxes": [],
            "total": total,
            "balance": total,
            "url": None,
            "payment_url": None,
            "pdf_url": None,
            "metadata": dict(body.get("metadata", {})),
            "created_at": now,
            "updated_at": now,
            "_sent": body.get("sent", False),
            "_viewed": False,
            "_voided": False,
            "_amount_paid": 0,
        }
        invoice["number"] = body["number"] if "number" in body else self.next_number(store, "invoices")
        invoice["id"] = store.next_id("invoices")
        self.number_items(store, items)
        refresh(invoice, now)
        self.insert(store, "invoices", invoice)
        return Reply(show_invoice(invoice, now), 201)

    @handles("retrieveInvoice")
    def retrieve_invoice(self, call: Call) -> Any:
        return show_invoice(self.find(call.records, "invoices", call.path["id"]), unix(call))

    @handles("updateInvoice")
    @idempotent
    def update_invoice(self, call: Call) -> Any:
        store, changes, now = call.records, call.body, unix(call)
        invoice = self.find(store, "invoices", call.path["id"])
        if invoice["_voided"]:
            raise invalid("Your changes cannot be saved because this document is voided.", "voided")
        if invoice["closed"]:
            raise invalid(
                "Your changes cannot be saved because this document is closed. "
                "Please re-open the document to make any changes.",
                "closed",
            )
        if changes.get("draft") is True and not invoice["draft"]:
            raise invalid("Cannot save as a draft because the document has already been issued.", "draft")
        items = invoice["items"]
        if "items" in changes:
            items = build_items(changes["items"], {item["id"]: item for item in invoice["items"]})
        total = invoice_total(items)
        if total < invoice["_amount_paid"]:
            raise invalid(
                f"The invoice total ({total}) cannot be less than the amount already paid ({invoice['_amount_paid']}).",
                "items",
            )
        currency = changes["currency"].strip().lower() if "currency" in changes else invoice["currency"]
        if currency != invoice["currency"] and invoice["_amount_paid"] > 0:
            raise invalid("The currency cannot be changed while a payment is applied to this invoice.", "currency")
        number = changes.get("number", invoice["number"])
        if self.books(store).numbers["invoices"].get(number, invoice["id"]) != invoice["id"]:
            raise number_taken("invoice", number)
        self.renumber("invoices", invoice, store, number)
        for field in ("name", "purchase_order", "draft", "chase", "notes", "payment_terms"):
            if field in changes:
                invoice[field] = changes[field]
        if "date" in changes:
            invoice["date"] = int(changes["date"])
        if "due_date" in changes:
            invoice["due_date"] = integer(changes["due_date"])
        elif "payment_terms" in changes or "date" in changes:
            due_date = due_from_terms(invoice["payment_terms"], invoice["date"])
            if due_date is not None:
                invoice["due_date"] = due_date
        if "metadata" in changes:
            invoice["metadata"] = dict(changes["metadata"])
        if "sent" in changes:
            invoice["_sent"] = changes["sent"]
        invoice["currency"] = currency
        if "items" in changes:
            self.number_items(store, items)
            invoice["items"] = items
            invoice["subtotal"] = invoice["total"] = total
        invoice["updated_at"] = now
        refresh(invoice, now)
        return show_invoice(invoice, now)

    @handles("deleteInvoice")
    def delete_invoice(self, call: Call) -> Reply:
        store = call.records
        invoice = self.find(store, "invoices", call.path["id"])
        if invoice["_amount_paid"] > 0:
            raise payment_applied()
        self.discard(store, "invoices", invoice["id"])
        return Reply(status=204)

    @handles("voidInvoice")
    @idempotent
    def void_invoice(self, call: Call) -> Any:
        store, now = call.records, unix(call)
        invoice = self.find(store, "invoices", call.path["id"])
        if invoice["_voided"]:
            raise invalid("This document has already been voided.")
        if invoice["_amount_paid"] > 0:
            raise payment_applied()
        invoice["_voided"] = True
        invoice["updated_at"] = now
        refresh(invoice, now)
        return show_invoice(invoice, now)

    @handles("listInvoices")
    def list_invoices(self, call: Call) -> Reply:
        now = unix(call)
        return self.list_page(call, INVOICE_LIST, lambda invoice: show_invoice(invoice, now))

    # -- payments -------------------------------------------------------------

    @handles("createPayment")
    @idempotent
    def create_payment(self, call: Call) -> Reply:
        store, body, now = call.records, call.body, unix(call)
        amount = checked_money(body["amount"], "amount")
        customer = None if body.get("customer") is None else self.customer(store, body["customer"], "customer")
        requested = body.get("applied_to", [])
        first = first_invoice(store, requested)
        if customer is None and first is not None:
            customer = store.get("customers", first["customer"])
        currency = payment_currency(body.get("currency"), first, customer)
        customer_id = None if customer is None else customer["id"]
        plan = plan_applications(store, requested, customer_id, currency, amount, {})
        payment: Record = {
            "id": store.next_id("payments"),
            "object": "payment",
            "customer": customer_id,
            "date": int(body.get("date", now)),
            "currency": currency,
            "amount": amount,
            "balance": amount,
            "method": body.get("method", "other"),
            "reference": body.get("reference"),
            "source": "keyed",
            "notes": body.get("notes"),
            "voided": False,
            "matched": None,
            "ach_sender_id": None,
            "charge": None,
            "pdf_url": None,
            "applied_to": [],
            "metadata": dict(body.get("metadata", {})),
            "created_at": now,
            "updated_at": now,
        }
        self.apply(store, payment, plan, now)
        self.insert(store, "payments", payment)
        return Reply(dict(payment), 201)

    @handles("retrievePayment")
    def retrieve_payment(self, call: Call) -> Any:
        return dict(self.find(call.records, "payments", call.path["id"]))

    @handles("updatePayment")
    @idempotent
    def update_payment(self, call: Call) -> Any:
        store, changes, now = call.records, call.body, unix(call)
        payment = self.find(store, "payments", call.path["id"])
        if payment["voided"]:
            raise invalid("The payment is voided and cannot be edited.", "voided")
        amount = checked_money(changes["amount"], "amount") if "amount" in changes else payment["amount"]
        customer_id = payment["customer"]
        if changes.get("customer") is not None:
            customer_id = self.customer(store, changes["customer"], "customer")["id"]
        elif "customer" in changes:
            customer_id = None
        if "applied_to" in changes:
            requested = changes["applied_to"]
            first = first_invoice(store, requested)
            if customer_id is None and first is not None:
                customer_id = first["customer"]
        elif customer_id != payment["customer"]:
            requested = []
        else:
            requested = payment["applied_to"]
            applied = money(sum(application["amount"] for application in requested))
            if applied > amount:
                raise invalid("The amount cannot cause the balance to go below 0.", "amount")
        currency = changes["currency"].strip().lower() if "currency" in changes else payment["currency"]
        current = {application["invoice"]: application for application in payment["applied_to"]}
        plan = plan_applications(store, requested, customer_id, currency, amount, current)
        self.release(store, payment, now)
        for field in ("date", "method", "reference", "notes"):
            if field in changes:
                payment[field] = int(changes[field]) if field == "date" else changes[field]
        if "metadata" in changes:
            payment["metadata"] = dict(changes["metadata"])
        payment.update({"amount": amount, "customer": customer_id, "currency": currency, "updated_at": now})
        self.apply(store, payment, plan, now)
        return dict(payment)

    @handles("deletePayment")
    def delete_payment(self, call: Call) -> Any:
        store, now = call.records, unix(call)
        payment = self.find(store, "payments", call.path["id"])
        if payment["voided"]:
            raise invalid("This payment has already been voided.")
        self.release(store, payment, now)
        payment["voided"] = True
        payment["balance"] = payment["amount"]
        payment["updated_at"] = now
        return dict(payment)

    @handles("listPayments")
    def list_payments(self, call: Call) -> Reply:
        return self.list_page(call, PAYMENT_LIST, dict)

    # -- payments applied to invoices -----------------------------------------

    def apply(self, store: Store, payment: Record, plan: list[tuple[Record, float, int | None]], now: int) -> None:
        applications = []
        for invoice, amount, application_id in plan:
            if application_id is None:
                application_id = next_sequence(store, "payment_applications")
            applications.append({"id": application_id, "type": "invoice", "invoice": invoice["id"], "amount": amount})
            invoice["_amount_paid"] = money(invoice["_amount_paid"] + amount)
            invoice["updated_at"] = now
            refresh(invoice, now)
        payment["applied_to"] = applications
        payment["balance"] = money(payment["amount"] - sum(amount for _, amount, _ in plan))

    def release(self, store: Store, payment: Record, now: int) -> None:
        for application in payment["applied_to"]:
            invoice = store.get("invoices", application["invoice"])
            if invoice is not None:
                invoice["_amount_paid"] = money(max(0, invoice["_amount_paid"] - application["amount"]))
                invoice["updated_at"] = now
                refresh(invoice, now)
        payment["applied_to"] = []
        payment["balance"] = payment["amount"]

    # -- lists ----------------------------------------------------------------

    def list_page(self, call: Call, rules: ListRules, show: Callable[[Record], Record]) -> Reply:
        store, query, now = call.records, call.query, unix(call)
        per_page = min(max(query.get("per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        page = max(query.get("page", 1), 1)
        order = parse_sort(query.get("sort"), rules)
        records = store.collection(rules.collection)
        ids = self.books(store).ids[rules.collection]
        start = (page - 1) * per_page
        simple = not any(name in query for name in ("filter", "metadata", "updated_after"))
        if simple and all(field == "id" for field, _ in order):
            # Id order needs no scan: the page costs what it holds.
            total = len(ids)
            descending = bool(order) and order[0][1]
            window = range(total - 1 - start, max(total - 1 - start - per_page, -1), -1) if descending else None
            chosen = [ids[i] for i in window] if window is not None else ids[start : start + per_page]
            page_records = [records[str(record_id)] for record_id in chosen]
        else:
            matches = [records[str(i)] for i in ids if matches_query(records[str(i)], query, rules, now)]
            for field, descending in reversed(order):
                matches.sort(key=lambda record, f=field: sort_key(record, f, now), reverse=descending)
            total = len(matches)
            page_records = matches[start : start + per_page]
        last = max(1, -(-total // per_page))
        headers = {"Link": link_header(call, page, per_page, last), "X-Total-Count": str(total)}
        return Reply([show(record) for record in page_records], headers=headers)

    # -- lookups and bookkeeping ----------------------------------------------

    def find(self, store: Store, collection: str, record_id: int) -> Record:
        record = store.get(collection, record_id)
        if record is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"{MODEL_NAMES[collection]} was not found: {record_id}")
        return record

    def customer(self, store: Store, customer_id: Any, field: str) -> Record:
        """A customer named by a request field; a missing one is a 400 (as Invoiced answers), not a 404."""
        customer = store.get("customers", integer(customer_id))
        if customer is None:
            raise invalid(f"No such customer: {customer_id}", field)
        return customer

    def books(self, store: Store) -> Books:
        books = self._books.get(store)
        if books is None or books.version != store.version:
            books = self._books[store] = Books(store)
        return books

    def insert(self, store: Store, collection: str, record: Record) -> None:
        books = self.books(store)
        store.put(collection, record)
        books.added(collection, record["id"])
        if collection in NUMBERED:
            books.numbers[collection][record["number"]] = record["id"]
        books.version = store.version

    def discard(self, store: Store, collection: str, record_id: Any) -> None:
        books = self.books(store)
        record = store.remove(collection, record_id)
        if record is not None and collection in books.ids:
            books.removed(collection, record["id"])
            if collection in NUMBERED:
                books.numbers[collection].pop(record["number"], None)
        books.version = store.version

    def renumber(self, collection: str, record: Record, store: Store, number: str) -> None:
        if number != record["number"]:
            numbers = self.books(store).numbers[collection]
            numbers.pop(record["number"], None)
            numbers[number] = record["id"]
            record["number"] = number

    def next_number(self, store: Store, collection: str) -> str:
        numbers = self.books(store).numbers[collection]
        sequence = f"{collection}_number"
        counter = store.sequences.get(sequence, 0)
        while True:
            counter += 1
            number = f"{NUMBERED[collection]}-{counter:04d}"
            if number not in numbers:
                store.sequences[sequence] = counter
                return number

    @staticmethod
    def number_items(store: Store, items: list[Record]) -> None:
        for item in items:
            if item["id"] is None:
                item["id"] = next_sequence(store, "line_items")


# -- invoices -----------------------------------------------------------------


def build_items(requested: list[Record], existing: dict[int, Record]) -> list[Record]:
    """Line items from a request (new ones without an id yet); nothing is stored."""
    items: list[Record] = []
    kept: set[int] = set()
    for index, raw in enumerate(requested):
        base: Record = {}
        if "id" in raw:
            item_id = int(raw["id"])
            if item_id not in existing or item_id in kept:
                reason = "appears twice" if item_id in kept else "is not a line item of this invoice"
                raise invalid(f"items[{index}].id: line item {item_id} {reason}.", "items")
            kept.add(item_id)
            base = existing[item_id]
        quantity = checked_money(raw.get("quantity", base.get("quantity", 1)), f"items[{index}].quantity")
        unit_cost = checked_money(raw.get("unit_cost", base.get("unit_cost", 0)), f"items[{index}].unit_cost")
        amount = checked_money(quantity * unit_cost, f"items[{index}]")
        items.append(
            {
                "id": base.get("id"),
                "object": "line_item",
                "catalog_item": None,
                "type": raw.get("type", base.get("type")),
                "name": raw.get("name", base.get("name", "")),
                "description": raw.get("description", base.get("description")),
                "quantity": quantity,
                "unit_cost": unit_cost,
                "amount": amount,
                "discountable": raw.get("discountable", base.get("discountable", True)),
                "discounts": [],
                "taxable": raw.get("taxable", base.get("taxable", True)),
                "taxes": [],
                "metadata": dict(raw.get("metadata", base.get("metadata", {}))),
            }
        )
    return items


def invoice_total(items: list[Record]) -> int | float:
    total = checked_money(sum(item["amount"] for item in items), "items")
    if total < 0:
        raise invalid(f"The invoice total cannot be negative (it would be {total}).", "items")
    return total


def refresh(invoice: Record, now: int | None) -> None:
    """Recompute balance, paid, closed and (when the time is known) status from the stored facts."""
    voided = invoice["_voided"]
    invoice["balance"] = 0 if voided else money(invoice["total"] - invoice["_amount_paid"])
    invoice["paid"] = not invoice["draft"] and not voided and invoice["balance"] <= 0
    invoice["closed"] = invoice["paid"]
    if now is not None:
        invoice["status"] = status_of(invoice, now)


def status_of(invoice: Record, now: int) -> str:
    if invoice["_voided"]:
        return "voided"
    if invoice["draft"]:
        return "draft"
    if invoice["paid"]:
        return "paid"
    if invoice["due_date"] is not None and invoice["due_date"] < now:
        return "past_due"
    if invoice["_viewed"]:
        return "viewed"
    return "sent" if invoice["_sent"] else "not_sent"


def show_invoice(invoice: Record, now: int) -> Record:
    shown = {key: value for key, value in invoice.items() if not key.startswith("_")}
    shown["status"] = status_of(invoice, now)
    return shown


_NET = re.compile(r"\s*net\s*(\d{1,6})\s*", re.IGNORECASE)


def due_from_terms(terms: str | None, date: int) -> int | None:
    """`NET <n>` is n days after the date, `Due on Receipt` the date itself; other terms set no due date."""
    if terms is None:
        return None
    net = _NET.fullmatch(terms)
    if net:
        return date + int(net.group(1)) * DAY
    return date if terms.strip().lower() == "due on receipt" else None


def payment_applied() -> ApiError:
    return invalid("This invoice cannot be voided because it has a payment applied.", "voided")


# -- payments -----------------------------------------------------------------


def first_invoice(store: Store, requested: list[Record]) -> Record | None:
    if requested and "invoice" in requested[0]:
        return store.get("invoices", int(requested[0]["invoice"]))
    return None


def payment_currency(given: str | None, invoice: Record | None, customer: Record | None) -> str:
    if given:
        return given.strip().lower()
    if invoice is not None:
        return invoice["currency"]
    if customer is not None and customer["currency"]:
        return customer["currency"]
    return "usd"


def plan_applications(
    store: Store,
    requested: list[Record],
    customer_id: int | None,
    currency: str,
    amount: int | float,
    current: dict[int, Record],
) -> list[tuple[Record, int | float, int | None]]:
    """Check where a payment goes: (invoice, amount, kept application id) for each element.

    `current` are the payment's own applications (by invoice), whose amounts count as available again.
    """
    plan: list[tuple[Record, int | float, int | None]] = []
    seen: set[int] = set()
    total = 0.0
    for index, raw in enumerate(requested):
        where = f"applied_to[{index}]"
        if raw.get("type") != "invoice":
            raise invalid(f"{where}: only applications of type `invoice` are supported.", "applied_to")
        if "invoice" not in raw:
            raise invalid(f"{where}: Missing `invoice` parameter", "applied_to")
        invoice_id = int(raw["invoice"])
        invoice = store.get("invoices", invoice_id)
        if invoice is None:
            raise invalid(f"{where}: No such invoice: {invoice_id}", "applied_to")
        if invoice_id in seen:
            raise invalid(
                f"Each document can only be applied once per payment. Detected duplicate (invoice:{invoice_id})",
                "applied_to",
            )
        seen.add(invoice_id)
        if customer_id is not None and invoice["customer"] != customer_id:
            raise invalid(f"{where}: invoice {invoice_id} belongs to another customer.", "applied_to")
        if invoice["currency"] != currency:
            raise invalid(
                f"{where}: invoice {invoice_id} is in {invoice['currency']}, the payment in {currency}.", "applied_to"
            )
        if invoice["_voided"]:
            raise invalid(f"{where}: invoice {invoice_id} is voided.", "applied_to")
        if invoice["draft"]:
            raise invalid(f"{where}: invoice {invoice_id} is a draft and cannot be paid.", "applied_to")
        previous = current.get(invoice_id)
        available = money(invoice["balance"] + (previous["amount"] if previous else 0))
        if available <= 0:
            raise invalid(f"{where}: invoice {invoice_id} is already paid.", "applied_to")
        applied = checked_money(raw["amount"], f"{where}.amount")
        if applied > available:
            raise invalid(
                f"{where}: the amount applied ({applied}) is more than the balance of invoice {invoice_id} "
                f"({available}).",
                "applied_to",
            )
        total += applied
        plan.append((invoice, applied, previous["id"] if previous else None))
    if money(total) > amount:
        raise invalid(
            f"Total amount applied ({money(total)}) cannot exceed the payment amount ({amount})", "applied_to"
        )
    return plan


# -- lists --------------------------------------------------------------------


def parse_sort(raw: str | None, rules: ListRules) -> list[tuple[str, bool]]:
    """`name asc,id desc` as [(field, descending)]."""
    if raw is None:
        return []
    order: list[tuple[str, bool]] = []
    for part in raw.split(","):
        words = part.split()
        if not words:
            continue
        field = words[0]
        if field not in rules.sortable:
            allowed = ", ".join(sorted(rules.sortable))
            raise invalid(f"Invalid sort field: {field} (sortable: {allowed})", "sort")
        order.append((field, len(words) > 1 and words[1].lower() == "desc"))
    return order


def matches_query(record: Record, query: dict[str, Any], rules: ListRules, now: int) -> bool:
    if "updated_after" in query and not record["updated_at"] > query["updated_after"]:
        return False
    metadata = record.get("metadata", {})
    for key, wanted in query.get("metadata", {}).items():
        if metadata.get(key) != wanted:
            return False
    for field, wanted in query.get("filter", {}).items():
        value = field_value(record, field, now)
        if field in rules.booleans:
            wanted = wanted is True or str(wanted).lower() in ("true", "1")
        elif field == "currency":
            wanted = str(wanted).lower()
        if value != wanted or isinstance(value, bool) != isinstance(wanted, bool):
            return False
    return True


def field_value(record: Record, field: str, now: int) -> Any:
    if field == "status" and record.get("object") == "invoice":
        return status_of(record, now)
    return record.get(field)


def sort_key(record: Record, field: str, now: int) -> tuple[int, Any]:
    value = field_value(record, field, now)
    return (0, 0) if value is None else (1, value)


def link_header(call: Call, page: int, per_page: int, last: int) -> str:
    """Links to the list's pages, keeping the other query parameters, percent-encoded (no raw `,` or `;`)."""
    kept: list[tuple[str, str]] = []
    for name, value in call.query.items():
        if name in ("page", "per_page"):
            continue
        if isinstance(value, dict):
            kept.extend((f"{name}[{key}]", query_text(item)) for key, item in value.items())
        else:
            kept.append((name, query_text(value)))
    base = call.base_url + call.operation.path

    def url(number: int) -> str:
        params = [*kept, ("page", str(number))]
        if per_page != DEFAULT_PER_PAGE:
            params.append(("per_page", str(per_page)))
        return f"{base}?{urlencode(params)}"

    links = [("self", page), ("first", 1)]
    if page > 1:
        links.append(("previous", page - 1))
    if page < last:
        links.append(("next", page + 1))
    links.append(("last", last))
    return ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in links)


def query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- values -------------------------------------------------------------------


def unix(call: Call) -> int:
    return int(call.clock_now.timestamp())


def integer(value: Any) -> Any:
    """An integer-valued JSON number (`5` or `5.0`) as an int; None stays None."""
    return None if value is None else int(value)


def money(value: float) -> int | float:
    """Rounded to cents; whole amounts as ints (45, not 45.0)."""
    rounded = round(value, 2)
    if isinstance(rounded, float) and rounded.is_integer():
        return int(rounded)
    return rounded + 0  # -0.0 -> 0.0


def checked_money(value: Any, field: str) -> int | float:
    if not abs(value) <= MAX_MONEY:
        raise invalid(f"{field} is invalid: must be a finite number no larger than {MAX_MONEY}", field)
    return money(value)


def next_sequence(store: Store, name: str) -> int:
    value = store.sequences.get(name, 0) + 1
    store.sequences[name] = value
    return value


def number_taken(model: str, number: str) -> ApiError:
    return invalid(f"The given {model} number has already been taken: {number}", "number")


def completed_by_without_complete() -> ApiError:
    return invalid(
        "completed_by_user_id can only be set on a complete task; send complete: true with it.",
        "completed_by_user_id",
    )


def check_customer_fields(body: Record) -> None:
    if body.get("autopay") is True:
        raise invalid("AutoPay cannot be enabled: this account has no payment method that supports it.", "autopay")


def customer_fields(body: Record) -> Record:
    fields: Record = {}
    for field in ("name", *CUSTOMER_DEFAULTS):
        if field not in body:
            continue
        value = body[field]
        if isinstance(value, str) and field in UPPER_FIELDS:
            value = value.strip().upper()
        elif isinstance(value, str) and field in LOWER_FIELDS:
            value = value.strip().lower()
        elif field == "credit_limit" and value is not None:
            value = checked_money(value, field)
        fields[field] = value
    return fields

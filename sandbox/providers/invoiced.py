"""Invoiced (accounts-receivable automation): tasks, customers, invoices and payments.

Wire facts (see docs/research/invoiced.md): HTTP Basic auth with the API key as
the user name and an empty password; errors `{"type", "message", "param"}`
with `type` invalid_request (4xx), rate_limit_error (429) or api_error (5xx);
integer ids; Unix-second timestamps; lists are bare arrays paged by
`page`/`per_page` with `Link` and `X-Total-Count` headers; `Idempotency-Key`
on POST and PATCH. The official Python SDK (`invoiced` 3.x) must work against
it unchanged.

The four resources are declared in the spec's `x-sandbox` block and served by
the resource layer; this module keeps the business rules as hooks: customer
and invoice numbers, task completion, invoice totals and balances, and the
payment applications that change invoices.

Invoices keep a few internal fields (prefixed `_`) beside the ones the API
shows: whether they were sent, viewed or voided, and the amount paid. Their
`status` depends on the clock (`past_due`), so it is computed when shown.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from sandbox import events
from sandbox.auth import basic_username, bearer_token
from sandbox.errors import ApiError, ErrorKind
from sandbox.events import WebhookStyle
from sandbox.idempotency import HEADER, idempotent
from sandbox.messages import as_json
from sandbox.provider import Call, Provider, Reply, handles, hook
from sandbox.store import Record, Store

COLLECTIONS = ("customers", "invoices", "payments", "tasks")
NUMBERED = {"customers": "CUST", "invoices": "INV"}  # collection -> number prefix
IDEMPOTENCY_SECONDS = 24 * 3600
# Money, quantities and amounts are refused beyond this size (and when not finite).
MAX_MONEY = 1_000_000_000_000
DAY = 86400
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Basic realm="Invoiced"'}
MISSING_KEY = "Missing API key! HINT: You can pass in your API key as the username parameter using HTTP Basic Auth."
# Statuses of fixture invoices that mean the invoice was issued to the customer.
SENT_STATUSES = {"sent", "viewed", "past_due", "paid"}
UPPER_FIELDS = {"country"}
LOWER_FIELDS = {"language", "currency"}


def invalid(message: str, field: str | None = None) -> ApiError:
    return ApiError(ErrorKind.INVALID, message, field=field)


def reused_key(key: str, operation: str) -> ApiError:
    return invalid(
        f"The idempotency key {as_json(key)} was already used for a different request ({operation}); "
        "use a new key for a new request.",
        HEADER,
    )


# -- events and webhooks: GET /events, and the events the resources' changes emit ------------

# Event type of a change, by collection: created, updated, deleted.
EVENT_OBJECTS = {"customers": "customer", "invoices": "invoice", "payments": "payment", "tasks": "task"}
WEBHOOK_EVENT_TYPES = tuple(
    f"{kind}.{action}"
    for kind, actions in (
        ("customer", ("created", "updated", "deleted")),
        ("invoice", ("created", "updated", "deleted", "paid")),
        ("payment", ("created", "updated", "deleted")),
        ("task", ("created", "updated", "deleted", "completed")),
    )
    for action in actions
)
# The user of Invoiced's own sample events (an event made through the API).
API_USER = {
    "id": -2,
    "first_name": None,
    "last_name": None,
    "email": None,
    "registered": True,
    "two_factor_enabled": False,
    "created_at": None,
    "updated_at": None,
}


def sign_webhook(subscription: Record, delivery: Record, body: bytes, timestamp: int) -> dict[str, str]:
    """`X-Invoiced-Signature`: the hex HMAC-SHA256 of the body keyed with the webhook secret."""
    signature = hmac.new(subscription["secret"].encode("utf-8"), body, hashlib.sha256).hexdigest()
    return {"X-Invoiced-Signature": signature}


def verify_webhook(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("x-invoiced-signature", ""))


INVOICED_WEBHOOKS = WebhookStyle(
    event_types=WEBHOOK_EVENT_TYPES,
    sign=sign_webhook,
    signature_header="X-Invoiced-Signature",
    verify=verify_webhook,
    retry_delays=(3600.0,) * 48,  # "every 1 hour for up to 48 times (2 days)"
    timeout_seconds=30.0,
    disable_after_final_failure=True,
    headers={"User-Agent": "Invoiced/1.0"},
)


class InvoicedEvents:
    """Invoiced's event log and the events its resources' changes emit (mixed into `Invoiced`)."""

    webhooks = INVOICED_WEBHOOKS

    @handles("listEvents")
    def list_events(self, call: Call) -> Reply:
        related = call.query.get("related_to")
        found = [events.payload_of(event) for event in reversed(events.events(call.records))]
        if related is not None:
            found = [event for event in found if related in related_objects(event)]
        size, start = call.resources._page_window(call)
        page = found[start : start + size]
        return call.resources._paged(call, call.resources.resource("tasks"), page, len(found), "page-links")

    @handles("retrieveEvent")
    def retrieve_event(self, call: Call) -> Any:
        event = call.records.get(events.EVENTS, call.path["id"])
        if event is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Event was not found: {call.path['id']}")
        return events.payload_of(event)

    @hook("customers", "written")
    def customer_written(self, call: Call, old: Record | None, new: Record | None) -> None:
        announce(call, "customers", old, new)

    @hook("invoices", "written")
    def invoice_written(self, call: Call, old: Record | None, new: Record | None) -> None:
        announce(call, "invoices", old, new, became={"paid": "paid"})

    @hook("payments", "written")
    def payment_written(self, call: Call, old: Record | None, new: Record | None) -> None:
        announce(call, "payments", old, new, became={"voided": "deleted"})

    @hook("tasks", "written")
    def task_written(self, call: Call, old: Record | None, new: Record | None) -> None:
        announce(call, "tasks", old, new, became={"complete": "completed"})


def announce(
    call: Call, collection: str, old: Record | None, new: Record | None, became: dict[str, str] | None = None
) -> None:
    """Emit the event of a record created, changed or deleted (`became`: a flag turning true names the action)."""
    kind = EVENT_OBJECTS[collection]
    present = call.resources.present
    shown = present(call, collection, new if new is not None else old)
    data: Record = {"object": shown}
    if old is None:
        action = "created"
    elif new is None:
        action = "deleted"
    else:
        before = present(call, collection, old)
        previous = {  # unchanged fields hold the very same value objects: `is` settles most of them
            key: before.get(key)
            for key, value in shown.items()
            if before.get(key) is not value and key != "updated_at" and before.get(key) != value
        }
        if not previous:
            return  # only updated_at moved: nothing happened to tell
        data["previous"] = previous
        flags = [action for flag, action in (became or {}).items() if new.get(flag) is True and not old.get(flag)]
        action = flags[0] if flags else "updated"
    event_id = events.next_event_id(call.records)
    payload = {
        "id": event_id,
        "object": "event",
        "type": f"{kind}.{action}",
        "timestamp": unix(call),
        "data": data,
        "user": API_USER,
    }
    events.emit(call, payload["type"], payload, event_id=event_id, subject=f"{kind},{shown['id']}")


def related_objects(event: Record) -> set[str]:
    """`<type>,<id>` of the event's object and of the customer it belongs to."""
    shown = event["data"]["object"]
    kind = event["type"].split(".", 1)[0]
    related = {f"{kind},{shown['id']}"}
    owner = shown.get("customer") if kind != "task" else shown.get("customer_id")
    if isinstance(owner, int):
        related.add(f"customer,{owner}")
    return related


class Invoiced(InvoicedEvents, Provider):
    name = "invoiced"
    fixture_schemas = {"customers": "Customer", "invoices": "Invoice", "payments": "Payment", "tasks": "Task"}
    idempotency = idempotent(reused_key, ttl_seconds=IDEMPOTENCY_SECONDS)

    # -- wire format ----------------------------------------------------------

    def credential(self, headers: dict[str, str]) -> str:
        """The API key (HTTP Basic user name) or an OAuth access token (`Bearer`): either names the tenant."""
        value = headers.get("authorization", "").strip()
        if not value:
            raise ApiError(ErrorKind.UNAUTHORIZED, MISSING_KEY, headers=WWW_AUTHENTICATE)
        try:
            if value.partition(" ")[0].lower() == "bearer":
                token = bearer_token(headers)
                assert token is not None  # required: a malformed one raised
                return token
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
            invoice["subtotal"] = money(sum(item["amount"] for item in invoice["items"]))
            invoice["total"] = money(invoice["subtotal"] - discounted(invoice))
            invoice["_closed"] = bool(invoice.get("closed")) and status != "paid"
        for payment in fixtures.get("payments", []):
            if payment["voided"]:
                payment["applied_to"] = []
        super().seed(store, fixtures)
        self.recount(store)

    def recount(self, store: Store) -> None:
        """Recompute what payments say about invoices, and every sequence, from the records."""
        paid: dict[str, int | float] = {}
        for payment in list(store.collection("payments").values()):
            for application in payment["applied_to"]:
                key = str(application["invoice"])
                paid[key] = money(paid.get(key, 0) + application["amount"])
            applied = sum(application["amount"] for application in payment["applied_to"])
            store.update("payments", payment["id"], {"balance": money(payment["amount"] - applied)})
        for key, invoice in list(store.collection("invoices").items()):
            changes = {"_amount_paid": paid.get(key, 0)}
            store.update("invoices", key, {**changes, **figures({**invoice, **changes})})
        highest = {name: [int(key) for key in store.collection(name) if key.isdigit()] for name in COLLECTIONS}
        invoices = store.collection("invoices").values()
        highest["line_items"] = [item["id"] for invoice in invoices for item in invoice["items"]]
        for field in ADJUSTMENT_OBJECTS:
            highest[field] = [entry["id"] for invoice in invoices for entry in invoice.get(field) or ()]
        highest["payment_applications"] = [
            application["id"] for p in store.collection("payments").values() for application in p["applied_to"]
        ]
        for name, prefix in NUMBERED.items():
            pattern = re.compile(re.escape(prefix) + r"-(\d{1,9})")
            used = (pattern.fullmatch(record["number"]) for record in store.collection(name).values())
            highest[f"{name}_number"] = [int(match.group(1)) for match in used if match]
        for name, values in highest.items():
            store.set_sequence(name, max([store.sequences.get(name, 0), *values]))

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        """Amounts out of range and over-applied payments (the spec's references and keys are checked besides)."""
        invoices = {str(r["id"]) for r in fixtures.get("invoices", [])}
        invoices |= set(store.collection("invoices")) if store is not None else set()
        problems: list[str] = []
        for index, invoice in enumerate(fixtures.get("invoices", [])):
            for position, item in enumerate(invoice["items"]):
                for field in ("quantity", "unit_cost"):
                    if not abs(item[field]) <= MAX_MONEY:
                        problems.append(
                            f"invoices[{index}] (id={invoice['id']!r}): field 'items[{position}].{field}': "
                            f"larger than {MAX_MONEY}"
                        )
        for index, payment in enumerate(fixtures.get("payments", [])):
            where = f"payments[{index}] (id={payment['id']!r})"
            if not abs(payment["amount"]) <= MAX_MONEY:
                problems.append(f"{where}: field 'amount': larger than {MAX_MONEY}")
                continue
            applied = 0.0
            for position, application in enumerate(payment["applied_to"]):
                if str(application["invoice"]) not in invoices:
                    field = f"applied_to[{position}].invoice"
                    problems.append(f"{where}: field '{field}': no invoice {application['invoice']!r}")
                applied += min(application["amount"], MAX_MONEY + 1)
            if not payment["voided"] and money(applied) > payment["amount"]:
                problems.append(f"{where}: field 'applied_to': applies {money(applied)}, more than amount")
        return problems

    # -- tasks ------------------------------------------------------------------

    @hook("tasks", "write")
    def task_rules(self, call: Call, old: Record | None, draft: Record | None) -> None:
        """Completing a task stamps who and when; reopening it clears both."""
        if draft is None:
            return
        for field in ("customer_id", "user_id", "due_date", "completed_by_user_id"):
            draft[field] = integer(draft[field])
        if not draft["complete"] and call.body.get("completed_by_user_id") is not None:
            raise invalid(
                "completed_by_user_id can only be set on a complete task; send complete: true with it.",
                "completed_by_user_id",
            )
        if not draft["complete"]:
            draft["completed_date"] = draft["completed_by_user_id"] = None
        elif old is None or not old["complete"]:
            draft["completed_date"] = unix(call)
            draft["completed_by_user_id"] = integer(call.body.get("completed_by_user_id", draft["user_id"]))

    # -- customers ------------------------------------------------------------

    @hook("customers", "write")
    def customer_rules(self, call: Call, old: Record | None, draft: Record | None) -> None:
        if draft is None:
            self.delete_customer(call.records, old or {})
            return
        body = call.body
        if body.get("autopay") is True:
            raise autopay_refused()
        for field, value in body.items():
            if isinstance(value, str) and field in UPPER_FIELDS:
                draft[field] = value.strip().upper()
            elif isinstance(value, str) and field in LOWER_FIELDS:
                draft[field] = value.strip().lower()
        if body.get("credit_limit") is not None:
            draft["credit_limit"] = checked_money(body["credit_limit"], "credit_limit")
        if "disabled_payment_methods" in body:  # write-only: Invoiced's customer object does not show it
            draft["_disabled_payment_methods"] = list(body["disabled_payment_methods"])
        if old is not None and draft.get("parent_customer") is not None:
            refuse_parent_cycle(call.records, old["id"], draft["parent_customer"])
        number(call, "customers", draft)

    @staticmethod
    def delete_customer(store: Store, customer: Record) -> None:
        """A customer goes with its tasks, unless it has payments or invoices."""
        customer_id = customer["id"]
        if any(payment["customer"] == customer_id for payment in store.collection("payments").values()):
            raise invalid("Customers with transactions cannot be deleted")
        if any(invoice["customer"] == customer_id for invoice in store.collection("invoices").values()):
            raise invalid("Customers with invoices cannot be deleted; delete their invoices first.")
        for task in [task for task in store.collection("tasks").values() if task["customer_id"] == customer_id]:
            store.remove("tasks", task["id"])
        for child in [c for c in store.collection("customers").values() if c.get("parent_customer") == customer_id]:
            store.update("customers", child["id"], {"parent_customer": None})

    @handles("retrieveCustomerBalance")
    def customer_balance(self, call: Call) -> Any:
        store, now = call.records, unix(call)
        customer = call.resources.find(call, "customers")
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

    @hook("invoices", "present")
    def show_invoice(self, call: Call, invoice: Record) -> Record:
        shown = {key: value for key, value in invoice.items() if not key.startswith("_")}
        shown["status"] = status_of(invoice, unix(call))
        return shown

    @hook("invoices", "write")
    def invoice_rules(self, call: Call, old: Record | None, draft: Record | None) -> None:
        # Deleting or voiding (the state machine already refused voiding twice) needs no payment applied.
        removing = old is not None and (draft is None or (draft["_voided"] and not old["_voided"]))
        if removing and old["_amount_paid"] > 0:
            raise invalid("This invoice cannot be voided because it has a payment applied.", "voided")
        if draft is None:
            return
        if (call.body or {}).get("autopay") is True:
            raise autopay_refused()
        if old is None:
            self.new_invoice(call, draft)
        elif not removing:
            self.changed_invoice(call, old, draft)
        draft.update(figures(draft))
        draft["status"] = status_of(draft, unix(call))

    def new_invoice(self, call: Call, draft: Record) -> None:
        store, body, now = call.records, call.body, unix(call)
        customer = store.get("customers", integer(draft["customer"]))
        items = build_items(body.get("items", []), {}, now)
        adjustments = build_adjustments(body, {"discounts": [], "taxes": []})
        total = invoice_total(items, adjustments)
        number(call, "invoices", draft)
        draft["customer"] = customer["id"]
        draft["currency"] = (body.get("currency") or customer["currency"] or "usd").strip().lower()
        draft["date"] = now if draft["date"] is None else int(draft["date"])
        draft["payment_terms"] = body.get("payment_terms", customer["payment_terms"])
        if "due_date" not in body:
            draft["due_date"] = due_from_terms(draft["payment_terms"], draft["date"])
        draft["due_date"] = integer(draft["due_date"])
        draft["items"] = number_items(store, items)
        draft.update(number_adjustments(store, adjustments), subtotal=subtotal_of(items), total=total)
        draft.update(_sent=body.get("sent", False), _viewed=False, _voided=False, _amount_paid=0)
        write_only_invoice_fields(body, draft)

    def changed_invoice(self, call: Call, old: Record, draft: Record) -> None:
        store, body = call.records, call.body
        if old["_voided"]:
            raise invalid("Your changes cannot be saved because this document is voided.", "voided")
        reopening = body.get("closed") is False
        if old["closed"] and (not reopening or old["paid"]):
            remedy = "Please re-open the document to make any changes."  # Invoiced's own words
            if reopening:
                remedy = "A paid document cannot be re-opened."
            raise invalid(f"Your changes cannot be saved because this document is closed. {remedy}", "closed")
        if body.get("draft") is True and not old["draft"]:
            raise invalid("Cannot save as a draft because the document has already been issued.", "draft")
        items = old["items"]
        if "items" in body:
            items = build_items(body["items"], {item["id"]: item for item in old["items"]}, unix(call))
        adjustments = build_adjustments(body, old)
        total = invoice_total(items, adjustments)
        if total < old["_amount_paid"]:
            raise invalid(
                f"The invoice total ({total}) cannot be less than the amount already paid ({old['_amount_paid']}).",
                "items",
            )
        draft["currency"] = draft["currency"].strip().lower()
        if draft["currency"] != old["currency"] and old["_amount_paid"] > 0:
            raise invalid("The currency cannot be changed while a payment is applied to this invoice.", "currency")
        number(call, "invoices", draft)
        draft["date"] = int(draft["date"])
        draft["due_date"] = integer(draft["due_date"])
        due_date = due_from_terms(draft["payment_terms"], draft["date"])
        if "due_date" not in body and ("payment_terms" in body or "date" in body) and due_date is not None:
            draft["due_date"] = due_date
        draft["_sent"] = body.get("sent", old["_sent"])
        if "items" in body:
            draft["items"] = number_items(store, items)
        draft.update(number_adjustments(store, adjustments), subtotal=subtotal_of(items), total=total)
        write_only_invoice_fields(body, draft)

    # -- payments -------------------------------------------------------------

    @hook("payments", "write")
    def payment_rules(self, call: Call, old: Record | None, draft: Record | None) -> None:
        if old is None:
            self.new_payment(call, draft)
        elif draft["voided"] and not old["voided"]:  # DELETE voids it (the state machine refused voiding twice)
            self.release(call, old)
            draft.update(applied_to=[], balance=draft["amount"])
        elif old["voided"]:
            raise invalid("The payment is voided and cannot be edited.", "voided")
        else:
            self.changed_payment(call, old, draft)

    def new_payment(self, call: Call, draft: Record) -> None:
        store, body = call.records, call.body
        amount = checked_money(body["amount"], "amount")
        requested = body.get("applied_to", [])
        first = first_invoice(store, requested)
        customer_id = integer(draft["customer"])
        if customer_id is None and first is not None:
            customer_id = first["customer"]
        customer = None if customer_id is None else store.get("customers", customer_id)
        currency = payment_currency(body.get("currency"), first, customer)
        plan = plan_applications(store, requested, customer_id, currency, amount, {})
        draft.update(customer=customer_id, currency=currency, amount=amount)
        draft["date"] = unix(call) if draft["date"] is None else int(draft["date"])
        self.apply(call, draft, plan)

    def changed_payment(self, call: Call, old: Record, draft: Record) -> None:
        store, body = call.records, call.body
        amount = checked_money(draft["amount"], "amount")
        customer_id = integer(draft["customer"])
        if "applied_to" in body:
            requested = body["applied_to"]
            first = first_invoice(store, requested)
            if customer_id is None and first is not None:
                customer_id = first["customer"]
        elif customer_id != old["customer"]:
            requested = []
        else:
            requested = old["applied_to"]
            if money(sum(application["amount"] for application in requested)) > amount:
                raise invalid("The amount cannot cause the balance to go below 0.", "amount")
        currency = draft["currency"].strip().lower()
        current = {application["invoice"]: application for application in old["applied_to"]}
        plan = plan_applications(store, requested, customer_id, currency, amount, current)
        self.release(call, old)
        draft.update(customer=customer_id, currency=currency, amount=amount, date=int(draft["date"]))
        self.apply(call, draft, plan)

    # -- payments applied to invoices -----------------------------------------

    def apply(self, call: Call, payment: Record, plan: list[tuple[int, int | float, int | None]]) -> None:
        applications = []
        for invoice_id, amount, application_id in plan:
            if application_id is None:
                application_id = call.records.next_id("payment_applications")
            applications.append({"id": application_id, "type": "invoice", "invoice": invoice_id, "amount": amount})
            self.pay_invoice(call, invoice_id, amount)
        payment["applied_to"] = applications
        payment["balance"] = money(payment["amount"] - sum(amount for _, amount, _ in plan))

    def release(self, call: Call, payment: Record) -> None:
        for application in payment["applied_to"]:
            self.pay_invoice(call, application["invoice"], -application["amount"])

    @staticmethod
    def pay_invoice(call: Call, invoice_id: int, amount: int | float) -> None:
        """Add `amount` (negative: take it back) to what was paid on an invoice, and settle its figures."""
        invoice = call.records.get("invoices", invoice_id)
        if invoice is None:
            return
        changes: Record = {"_amount_paid": money(max(0, invoice["_amount_paid"] + amount))}
        changes.update(figures({**invoice, **changes}))
        changes["status"] = status_of({**invoice, **changes}, unix(call))
        call.resources.save(call, "invoices", invoice, changes)


# -- invoices -----------------------------------------------------------------


def number(call: Call, collection: str, draft: Record) -> None:
    """A new record without a number gets the next free `PREFIX-0001` (a taken one is refused as the spec's key)."""
    if draft["number"] is not None:
        return
    store = call.records
    taken = call.resources.key_index(store, call.resources.resource(collection), "number")
    sequence = f"{collection}_number"
    counter = store.sequences.get(sequence, 0) + 1
    while f"{NUMBERED[collection]}-{counter:04d}" in taken:
        counter += 1
    store.set_sequence(sequence, counter)
    draft["number"] = f"{NUMBERED[collection]}-{counter:04d}"


def autopay_refused() -> ApiError:
    """Customers and invoices refuse `autopay: true` alike (the sandbox models no payment method for AutoPay)."""
    return invalid("AutoPay cannot be enabled: this account has no payment method that supports it.", "autopay")


def refuse_parent_cycle(store: Store, customer_id: int, parent_id: int) -> None:
    """A customer may not be its own parent, nor an ancestor of its parent (the spec's decision)."""
    seen: set[int] = set()
    ancestor: int | None = parent_id
    while ancestor is not None and ancestor not in seen:
        if ancestor == customer_id:
            raise invalid("A customer cannot be its own parent customer, directly or through its parents.",
                          "parent_customer")  # fmt: skip
        seen.add(ancestor)
        parent = store.get("customers", ancestor)
        ancestor = None if parent is None else parent.get("parent_customer")


def build_items(requested: list[Record], existing: dict[int, Record], now: int) -> list[Record]:
    """Line items from a request (new ones without an id yet); nothing is stored.

    A kept item that the request leaves as it was keeps its `updated_at`; a new or changed one is `now`.
    """
    items: list[Record] = []
    kept: set[int] = set()
    for index, raw in enumerate(requested):
        base: Mapping[str, Any] = {}
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
        item = {
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
        unchanged = base and all(base.get(key) == value for key, value in item.items())
        item["updated_at"] = base["updated_at"] if unchanged else now
        items.append(item)
    return items


def number_items(store: Store, items: list[Record]) -> list[Record]:
    return with_new_ids(store, "line_items", items)


def with_new_ids(store: Store, sequence: str, entries: list[Record]) -> list[Record]:
    """Entries without an id get the next ones of `sequence` (line items, discounts, taxes)."""
    for entry in entries:
        if entry["id"] is None:
            entry["id"] = store.next_id(sequence)
    return entries


def subtotal_of(items: list[Record]) -> int | float:
    return checked_money(sum(item["amount"] for item in items), "items")


def invoice_total(items: list[Record], adjustments: Mapping[str, list[Record]]) -> int | float:
    """The subtotal, less the discounts, plus the taxes (Invoiced's order; rates and coupons are not modelled)."""
    total = checked_money(subtotal_of(items) - discounted(adjustments), "items")
    if total < 0:
        field = "discounts" if adjustments["discounts"] else "items"
        raise invalid(f"The invoice total cannot be negative (it would be {total}).", field)
    return total


ADJUSTMENT_OBJECTS = {"discounts": "discount", "taxes": "tax"}


def discounted(adjustments: Mapping[str, Any]) -> int | float:
    """What an invoice's discounts take off its subtotal, less what its taxes add."""
    discounts = sum(entry["amount"] for entry in adjustments.get("discounts") or ())
    return discounts - sum(entry["amount"] for entry in adjustments.get("taxes") or ())


def build_adjustments(body: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, list[Record]]:
    """An invoice's discounts and taxes: as the body writes them, else as they are (new ones without an id)."""
    built: dict[str, list[Record]] = {}
    for field, kind in ADJUSTMENT_OBJECTS.items():
        if field not in body:
            built[field] = list(current[field])
            continue
        existing = {entry["id"]: entry for entry in current[field]}
        built[field] = []
        for index, raw in enumerate(body[field]):
            if "id" in raw and raw["id"] not in existing:
                raise invalid(f"{field}[{index}].id: {raw['id']} is not a {kind} of this invoice.", field)
            if kind == "tax" and "expires" in raw:
                raise invalid(f"{field}[{index}].expires: only a discount expires.", field)
            entry = {"id": raw.get("id"), "object": kind, "amount": checked_money(raw["amount"], f"{field}[{index}]")}
            if kind == "discount":
                entry.update(coupon=None, expires=integer(raw.get("expires")))
            else:
                entry["tax_rate"] = None
            built[field].append(entry)
    return built


def number_adjustments(store: Store, adjustments: dict[str, list[Record]]) -> dict[str, list[Record]]:
    return {field: with_new_ids(store, field, entries) for field, entries in adjustments.items()}


def write_only_invoice_fields(body: Mapping[str, Any], draft: Record) -> None:
    """What a write may set that the invoice object does not show (or shows computed)."""
    if "closed" in body:
        draft["_closed"] = body["closed"]
    if "disabled_payment_methods" in body:
        draft["_disabled_payment_methods"] = list(body["disabled_payment_methods"])
    ship_to = draft.get("ship_to")
    if isinstance(ship_to, dict) and isinstance(ship_to.get("country"), str):
        draft["ship_to"] = {**ship_to, "country": ship_to["country"].strip().upper()}


def figures(invoice: Mapping[str, Any]) -> Record:
    """Balance, paid and closed, from the stored facts (total, amount paid, draft, voided)."""
    voided = invoice["_voided"]
    balance = 0 if voided else money(invoice["total"] - invoice["_amount_paid"])
    paid = not invoice["draft"] and not voided and balance <= 0
    return {"balance": balance, "paid": paid, "closed": paid or invoice.get("_closed", False)}


def status_of(invoice: Mapping[str, Any], now: int) -> str:
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


_NET = re.compile(r"\s*net\s*(\d{1,6})\s*", re.IGNORECASE)


def due_from_terms(terms: str | None, date: int) -> int | None:
    """`NET <n>` is n days after the date, `Due on Receipt` the date itself; other terms set no due date."""
    if terms is None:
        return None
    net = _NET.fullmatch(terms)
    if net:
        return date + int(net.group(1)) * DAY
    return date if terms.strip().lower() == "due on receipt" else None


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
) -> list[tuple[int, int | float, int | None]]:
    """Check where a payment goes: (invoice id, amount, kept application id) for each element.

    `current` are the payment's own applications (by invoice), whose amounts count as available again.
    """
    plan: list[tuple[int, int | float, int | None]] = []
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
        plan.append((invoice_id, applied, previous["id"] if previous else None))
    if money(total) > amount:
        raise invalid(
            f"Total amount applied ({money(total)}) cannot exceed the payment amount ({amount})", "applied_to"
        )
    return plan


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

"""Payt (Dutch credit management): its Customer API v1, records inside administrations.

Wire facts: Bearer tokens with `<resource>:<read|write>` scopes, errors
`{"code", "message"}` with 422 for malformed requests, cursor pagination by
id, `fields` sparse field selection, ISO 8601 UTC timestamps, money as
two-decimal strings, and no nulls (a field without a value is left out).

Lists and retrieves are declared in the spec's `x-sandbox` block. This module
keeps what no table says: the bulk upserts (per-record errors keyed by the
caller's own key), block/resume, payments and what follows them
(`payt_ledger`), payment plans, messages, mandates, sign-up and task
completion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sandbox.clock import iso8601, parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, Reply, handles, hook
from sandbox.providers import payt_ledger as ledger
from sandbox.providers.payt_ledger import ZERO, amount, by_field, in_administration, money, today_of
from sandbox.resources.listing import id_order
from sandbox.store import Record, Store, appended

COMPLETION_FIELDS = ("completed_at", "completed_status", "completed_status_message")
BulkResult = tuple[int, dict[str, list[str]]]


class Refused(Exception):
    """One record of a bulk request is refused: its reasons, nothing of it applied.

    A record that names nothing is reported under `not_found` with its key, as Payt's responses page shows
    (`{"not_found": ["<invoice_number>"]}`); other refusals under the record's own key, with the reasons.
    """

    def __init__(self, *reasons: str) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)
        self.not_found = False

    @classmethod
    def missing(cls, key: str) -> Refused:
        refused = cls(key)
        refused.not_found = True
        return refused


class Payt(Provider):
    name = "payt"
    fixture_schemas = {"tokens": "Token", "payment_conditions": "PaymentCondition"}
    error_statuses = {ErrorKind.INVALID: 422, ErrorKind.PRECONDITION: 422, ErrorKind.CONFLICT: 422}

    def error_body(self, error: ApiError, status: int) -> Any:
        return {"code": self.error_code(error), "message": error.message}

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None:
        """Fill what Payt requires and a fixture may leave out (see FixtureTask and FixtureAdministration)."""
        for task in fixtures.get("tasks") or []:
            if "expiry_date" not in task:
                task["expiry_date"] = (parse_iso8601(task["created_at"]) + timedelta(days=30)).date().isoformat()
        for administration in fixtures.get("administrations") or []:
            for field, default in administration_defaults(administration).items():
                administration.setdefault(field, default)
        super().seed(store, fixtures)

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        """The demo world must add up: open amounts follow payments, credit cases sum their invoices."""
        problems = []
        payments: dict[str, list[Record]] = {}
        for payment in fixtures.get("payments") or []:
            payments.setdefault(str(payment.get("invoice_id")), []).append(payment)
        for index, invoice in enumerate(fixtures.get("invoices") or []):
            expected, _ = ledger.open_amounts(invoice, payments.get(str(invoice.get("id")), []))
            if amount(invoice.get("open_amount")) != expected:
                problems.append(
                    f"invoices[{index}] (id={invoice.get('id')!r}): field 'open_amount': "
                    f"{invoice.get('open_amount')} is not total_amount minus its payments ({money(expected)})"
                )
        for index, case in enumerate(fixtures.get("credit_cases") or []):
            members = [i for i in fixtures.get("invoices") or [] if i.get("active_credit_case_id") == case.get("id")]
            expected = sum((amount(i.get("open_amount")) for i in members), ZERO)
            if members and amount(case.get("open_amount")) != expected:
                problems.append(
                    f"credit_cases[{index}] (id={case.get('id')!r}): field 'open_amount': "
                    f"{case.get('open_amount')} is not the sum of its invoices' open amounts ({money(expected)})"
                )
        return problems

    # -- administrations, companies, sign-up ------------------------------------------------

    @handles("getV1Administrations")
    def list_administrations(self, call: Call) -> Any:
        allowed = (call.grant or {}).get("administrations")
        records = [
            a for key, a in call.records.collection("administrations").items() if allowed is None or key in allowed
        ]
        return cursor_page(call, records, lambda record: present(call, "administrations", record))

    @handles("getV1AdministrationsAdministrationId")
    def get_administration(self, call: Call) -> Any:
        key = call.path["administration_id"]
        allowed = (call.grant or {}).get("administrations")
        if allowed is not None and key not in allowed:
            raise ApiError(ErrorKind.FORBIDDEN, f"Missing permission: administration {key}")
        record = call.records.get("administrations", key)
        if record is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Administration {key} not found.")
        return present(call, "administrations", record)

    @handles("postV1Administrations")
    def create_administration(self, call: Call) -> Reply:
        refuse_limited_token(call)
        record = new_administration(call, call.body["administration"])
        return Reply(present(call, "administrations", record, selection=False), status=201)

    @handles("postV1SignUp")
    def sign_up(self, call: Call) -> Reply:
        refuse_limited_token(call)
        body = call.body
        administration = new_administration(call, body["administration"])
        store = call.records
        company_id = f"cmp_{store.next_id('companies')}"
        trial_ends = (call.clock_now + timedelta(days=30)).date().isoformat()
        company = {
            "id": company_id,
            "name": body["administration"]["name"],
            "status": "implementation",
            "trial_ends_on": trial_ends,
            "trial": True,
        }
        store.put("companies", company, key=company_id)
        user = body["user"]
        user_id = f"usr_{store.next_id('users')}"
        code = hashlib.sha256(f"{call.credential}:{user_id}".encode()).hexdigest()[:32]
        answer = {
            "administration": present(call, "administrations", administration, selection=False),
            "company": company,
            "user": {
                "id": user_id,
                "name": f"{user['first_name']} {user['last_name']}",
                "email_address": user["email_address"],
            },
            "access_grant": {
                "code": code,
                "expires_in": 600,
                "created_at": str(int(call.clock_now.timestamp())),
                "grant_type": "authorization_code",
            },
        }
        return Reply(answer, status=201)

    # -- contacts, debtors, vat rates, payment conditions ---------------------------------

    @handles("postV1Contacts")
    def upsert_contacts(self, call: Call) -> Reply:
        admin = scope(call)
        store = call.records
        by_identifier = by_field(in_administration(store, "contacts", admin), "contact_identifier")

        def apply(item: dict[str, Any]) -> None:
            existing = None
            if "id" in item:
                existing = store.get("contacts", item["id"])
                if existing is None or existing["administration_id"] != admin:
                    raise Refused.missing(item["id"])
            elif "contact_identifier" in item:
                existing = by_identifier.get(item["contact_identifier"])
            else:
                raise Refused("id or contact_identifier is required.")
            holder = by_identifier.get(item.get("contact_identifier", ""))
            if holder is not None and existing is not None and holder["id"] != existing["id"]:
                raise Refused(f"contact_identifier {item['contact_identifier']} is taken.")
            fields = {key: value for key, value in item.items() if key in CONTACT_FIELDS}
            record = save_record(call, "contacts", existing, admin, fields, {"validation_errors": {}})
            if record.get("contact_identifier") is not None:
                by_identifier[record["contact_identifier"]] = record

        return bulk(call, call.body["contacts"], lambda item: item.get("contact_identifier") or item.get("id"), apply)

    @handles("postV1Debtors")
    def upsert_debtors(self, call: Call) -> Reply:
        admin = scope(call)
        store = call.records
        debtors = in_administration(store, "debtors", admin)
        by_identifier, by_number = by_field(debtors, "debtor_identifier"), by_field(debtors, "debtor_number")
        contacts = by_field(in_administration(store, "contacts", admin), "contact_identifier")

        def apply(item: dict[str, Any]) -> None:
            existing = by_identifier.get(item["debtor_identifier"])
            holder = by_number.get(item["debtor_number"])
            reasons = []
            if holder is not None and (existing is None or holder["id"] != existing["id"]):
                reasons.append(f"debtor_number {item['debtor_number']} is taken by debtor {holder['id']}.")
            contact = item.get("contact_identifier")
            if contact is not None and contact not in contacts:
                reasons.append(f"contact_identifier {contact} does not name a contact.")
            if reasons:
                raise Refused(*reasons)
            fields = debtor_fields(item, existing)
            record = save_record(call, "debtors", existing, admin, fields, {})
            if existing is not None and existing["debtor_number"] != record["debtor_number"]:
                by_number.pop(existing["debtor_number"], None)
            by_identifier[record["debtor_identifier"]] = by_number[record["debtor_number"]] = record
            link_contact(call, admin, existing, record)
            if existing is not None and existing["debtor_number"] != record["debtor_number"]:
                renumber_debtor(call, record)

        return bulk(call, call.body["debtors"], lambda item: item["debtor_identifier"], apply)

    @handles("getV1DebtorsId")
    def get_debtor(self, call: Call) -> Any:
        record = find_by(call, "debtors", call.query.get("identifier_type") or "id", "Debtor")
        return present(call, "debtors", with_book_open(call, record))

    @handles("postV1VatRates")
    def upsert_vat_rates(self, call: Call) -> Reply:
        admin = scope(call)
        store = call.records
        by_code = by_field(in_administration(store, "vat_rates", admin), "code")

        def apply(item: dict[str, Any]) -> None:
            existing = by_code.get(item["code"])
            if existing is None and not ("rate" in item and "name" in item):
                raise Refused("rate and name are required to create a vat rate.")
            fields = {key: item[key] for key in ("code", "name", "rate", "category") if key in item}
            if "rate" in fields:
                fields["rate"] = float(fields["rate"])
            record = save_record(call, "vat_rates", existing, admin, fields, {"category": "regular"}, stamp=False)
            by_code[record["code"]] = record

        return bulk(call, call.body["vat_rates"], lambda item: item["code"], apply)

    @handles("postV1PaymentConditions")
    def create_payment_conditions(self, call: Call) -> Reply:
        admin = scope(call)

        def apply(item: dict[str, Any]) -> None:
            key = f"{admin}:{item['code']}"
            condition = {"id": key, "administration_id": admin, "code": item["code"], "name": item["name"]}
            call.records.put("payment_conditions", condition, key=key)

        return bulk(call, call.body["payment_conditions"], lambda item: item["code"], apply)

    # -- files and orders -------------------------------------------------------------------

    @handles("postV1Files")
    def create_files(self, call: Call) -> Reply:
        admin = scope(call)
        expires = ledger_stamp(call, timedelta(hours=1))
        slots = []
        for item in call.body["files"]:
            key = f"{admin}:{item['checksum']}"
            token = hashlib.sha256(key.encode()).hexdigest()[:24]
            slot = {
                "checksum": item["checksum"],
                "url": f"https://storage.paytsoftware.com/uploads/{token}",
                "expires_at": expires,
            }
            call.records.put("files", {"id": key, "administration_id": admin, **slot}, key=key)
            slots.append(slot)
        return Reply(slots[0], status=201)

    @handles("postV1Orders")
    def create_order(self, call: Call) -> Reply:
        admin = scope(call)
        order_id = str(call.records.next_id("orders"))
        call.records.put(
            "orders",
            {"id": order_id, "administration_id": admin, "created_at": call.resources.timestamp(call)},
            key=order_id,
        )
        return Reply(
            {"deeplink_url": f"https://app.paytsoftware.com/administrations/{admin}/orders/{order_id}"}, status=201
        )

    # -- invoices and payments ----------------------------------------------------------------

    @handles("getV1InvoicesId")
    def get_invoice(self, call: Call) -> Any:
        return present(
            call, "invoices", find_by(call, "invoices", call.query.get("identifier_type") or "id", "Invoice")
        )

    @handles("postV1Invoices")
    def upsert_invoices(self, call: Call) -> Reply:
        return self.write_invoices(call, create=True)

    @handles("patchV1Invoices")
    def update_invoices(self, call: Call) -> Reply:
        return self.write_invoices(call, create=False)

    def write_invoices(self, call: Call, create: bool) -> Reply:
        admin = scope(call)
        context = InvoiceContext(call, admin)

        def apply(item: dict[str, Any]) -> None:
            existing = context.invoices.get(item["invoice_number"])
            if existing is None and not create:
                raise Refused.missing(item["invoice_number"])
            context.write(item, existing)

        return bulk(call, call.body["invoices"], lambda item: item["invoice_number"], apply)

    @handles("patchV1InvoicesBlock")
    def block_invoices(self, call: Call) -> Reply:
        def block(invoice: Record) -> dict[str, Any]:
            if invoice.get("paused_at") is not None:
                raise Refused(f"Invoice {invoice['invoice_number']} is already blocked.")
            if invoice.get("_paid"):
                raise Refused(f"Invoice {invoice['invoice_number']} is paid and cannot be blocked.")
            return {"paused_at": call.resources.timestamp(call), "paused_by_user": False, "_blocked": True}

        return select_invoices(call, block)

    @handles("patchV1InvoicesResume")
    def resume_invoices(self, call: Call) -> Reply:
        def resume(invoice: Record) -> dict[str, Any]:
            if not invoice.get("_blocked"):
                raise Refused(f"Invoice {invoice['invoice_number']} is not blocked through the API.")
            return {"paused_at": None, "paused_by_user": None, "_blocked": None}

        return select_invoices(call, resume)

    # -- messages ---------------------------------------------------------------------------

    @handles("postV1Messages")
    def send_message(self, call: Call) -> Any:
        admin = scope(call)
        body = call.body
        named = [key for key in TARGETS if key in body]
        if len(named) != 1:
            raise ApiError(ErrorKind.INVALID, f"Give exactly one of {', '.join(TARGETS)}.", field="message")
        key = named[0]
        collection, field, label = TARGETS[key]
        target = by_field(in_administration(call.records, collection, admin), field).get(body[key])
        if target is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"{label} {body[key]} not found in administration {admin}.")
        links = {"debtor_id": target["id"]} if collection == "debtors" else {"debtor_id": target["debtor_id"]}
        if collection == "invoices":
            links["invoice_id"] = target["id"]
            if target.get("active_credit_case_id") is not None:
                links["credit_case_id"] = target["active_credit_case_id"]
        elif collection == "credit_cases":
            links["credit_case_id"] = target["id"]
        stamp = call.resources.timestamp(call)
        message = {
            "sender_type": "creditor",
            "subject": body["message"]["subject"],
            "administration_id": admin,
            **links,
            "id": call.resources.new_id(call.records, call.resources.resource("messages")),
            "content": body["message"]["body"],
            "sent_at": stamp,
            "updated_at": stamp,
        }
        stored = call.records.insert("messages", message)
        return present(call, "messages", stored)

    @handles("patchV1Messages")
    def update_messages(self, call: Call) -> Reply:
        admin = scope(call)

        def apply(item: dict[str, Any]) -> None:
            message = call.records.get("messages", item["id"])
            if message is None or message["administration_id"] != admin:
                raise Refused.missing(item["id"])
            if item["read"] and message.get("read_at") is None:
                ledger.replace(
                    call.records, "messages", message, stamped(call, {"read_at": call.resources.timestamp(call)})
                )
            elif not item["read"] and message.get("read_at") is not None:
                ledger.replace(call.records, "messages", message, stamped(call, {}), ("read_at", "read_by_user"))

        return bulk(call, call.body["messages"], lambda item: item["id"], apply, status=200)

    # -- payment plans ------------------------------------------------------------------------

    @handles("postV1PaymentPlans")
    def create_payment_plan(self, call: Call) -> Reply:
        admin = scope(call)
        store = call.records
        body = call.body
        invoices = in_administration(store, "invoices", admin)
        chosen: dict[str, Record] = {}
        for key, field in (("invoice_numbers", "invoice_number"), ("invoice_identifiers", "invoice_identifier")):
            known = by_field(invoices, field)
            for value in body.get(key) or ():
                if value not in known:
                    raise ApiError(ErrorKind.INVALID, f"{key}: invoice {value} not found.", field=key)
                chosen[known[value]["id"]] = known[value]
        cases = by_field(in_administration(store, "credit_cases", admin), "credit_case_number")
        for value in body.get("credit_case_numbers") or ():
            if value not in cases:
                raise ApiError(
                    ErrorKind.INVALID,
                    f"credit_case_numbers: credit case {value} not found.",
                    field="credit_case_numbers",
                )
            for invoice in invoices:
                if invoice.get("active_credit_case_id") == cases[value]["id"]:
                    chosen[invoice["id"]] = invoice
        if not chosen:
            raise ApiError(
                ErrorKind.INVALID,
                "Name the plan's invoices: invoice_numbers, invoice_identifiers or credit_case_numbers.",
                field="invoice_numbers",
            )
        debtors = {invoice["debtor_id"] for invoice in chosen.values()}
        if len(debtors) != 1:
            raise ApiError(
                ErrorKind.INVALID, "A payment plan's invoices must all belong to one debtor.", field="invoice_numbers"
            )
        busy = sorted(i["invoice_number"] for i in chosen.values() if i.get("active_payment_plan_id") is not None)
        if busy:
            raise ApiError(
                ErrorKind.INVALID, f"Invoice {busy[0]} already has an active payment plan.", field="invoice_numbers"
            )
        stamp = call.resources.timestamp(call)
        debtor = store.get("debtors", debtors.pop())
        assert debtor is not None
        plan_id = call.resources.new_id(store, call.resources.resource("payment_plans"))
        terms = [
            {
                "id": f"{plan_id}-{n}",
                "total_amount": money(amount(t["amount"])),
                "amount_due": money(amount(t["amount"])),
                "due_date": t["due_date"],
                "payment_date": "",
            }
            for n, t in enumerate(sorted(body["terms"], key=lambda t: t["due_date"]), start=1)
        ]
        plan = {
            "payment_terms": terms,
            "active": True,
            "auto_activated": False,
            "administration_id": admin,
            "debtor_id": debtor["id"],
            "id": plan_id,
            "approved_at": stamp,
            "created_at": stamp,
            "updated_at": stamp,
            "_state": "active",
            "_debtor_number": debtor["debtor_number"],
            "_debtor_identifier": debtor["debtor_identifier"],
            "_invoice_ids": sorted(chosen),
        }
        store.insert("payment_plans", plan)
        start_plan(call, plan_id)
        return Reply(present(call, "payment_plans", store.get("payment_plans", plan_id) or plan), status=201)

    @hook("payment_plans", "write")
    def plan_moves(self, call: Call, old: Record | None, draft: Record) -> None:
        """Approve starts the plan on its invoices; reject and deactivate stamp it and let the invoices go."""
        if old is None:
            return
        stamp = call.resources.timestamp(call)
        operation = call.operation.operation_id
        if operation == "patchV1PaymentPlansIdApprove":
            draft["approved_at"] = stamp
        elif operation == "patchV1PaymentPlansIdReject":
            draft["rejected_at"] = stamp
        elif operation == "patchV1PaymentPlansIdDeactivate":
            draft["deactivated_at"] = stamp
            for invoice_id in old.get("_invoice_ids") or ():
                invoice = call.records.get("invoices", invoice_id)
                if invoice is not None and invoice.get("active_payment_plan_id") == old["id"]:
                    ledger.replace(
                        call.records,
                        "invoices",
                        invoice,
                        {"updated_at": stamp},
                        ("active_payment_plan_id", "payment_plan_id"),
                    )

    @handles("patchV1PaymentPlansIdApprove")
    def approve_plan(self, call: Call) -> Any:
        call.resources.handle(call)
        plan = call.resources.find(call)
        start_plan(call, str(plan["id"]))
        return present(call, "payment_plans", call.records.get("payment_plans", str(plan["id"])) or plan)

    # -- PSP mandates ---------------------------------------------------------------------------

    @handles("postV1PspMandates")
    def create_psp_mandates(self, call: Call) -> Any:
        admin = scope(call)
        store = call.records
        debtors = in_administration(store, "debtors", admin)
        by_number = by_field(debtors, "debtor_number")
        mandates = in_administration(store, "psp_mandates", admin)
        references = by_field(mandates, "mandate_reference")
        created = []
        for index, item in enumerate(call.body["psp_mandates"]):
            where = f"psp_mandates[{index}]"
            debtor = None
            if "debtor_id" in item:
                debtor = store.get("debtors", item["debtor_id"])
                debtor = debtor if debtor is not None and debtor["administration_id"] == admin else None
            elif "debtor_code" in item:
                debtor = by_number.get(item["debtor_code"])
            if debtor is None:
                raise ApiError(ErrorKind.INVALID, f"{where}: debtor_id or debtor_code must name a debtor.", field=where)
            reference = item.get("mandate_reference")
            if reference is not None and reference in references:
                raise ApiError(ErrorKind.INVALID, f"{where}: mandate_reference {reference} is taken.", field=where)
            mandate_id = call.resources.new_id(store, call.resources.resource("psp_mandates"))
            mandate = {
                "administration_id": admin,
                "bank_account_name": item["bank_account_name"],
                "bank_account_number": item["bank_account_number"],
                "debtor_id": debtor["id"],
                "id": mandate_id,
                "mandate_identifier": item.get("mandate_identifier") or f"mdt_{mandate_id}",
                "provider": item["provider_code"],
                "debtor_number": debtor["debtor_number"],
                "updated_at": call.resources.timestamp(call),
            }
            if reference is not None:
                mandate["mandate_reference"] = references.setdefault(reference, mandate)["mandate_reference"]
            created.append(store.insert("psp_mandates", mandate))
        return present(call, "psp_mandates", created[0])

    @handles("deleteV1PspMandates")
    def revoke_psp_mandates(self, call: Call) -> Any:
        admin = scope(call)
        wanted = {key: set(call.query.get(key) or ()) for key in MANDATE_SELECTORS}
        if not any(wanted.values()):
            raise ApiError(
                ErrorKind.INVALID, f"Name the mandates: {', '.join(MANDATE_SELECTORS)}.", field="psp_mandate_ids"
            )
        stamp = call.resources.timestamp(call)
        count = 0
        for mandate in in_administration(call.records, "psp_mandates", admin):
            if any(mandate.get(field) in wanted[key] for key, field in MANDATE_SELECTORS.items()):
                deleted = {
                    key: mandate[key]
                    for key in ("administration_id", "id", "debtor_id", "mandate_identifier", "provider")
                }
                call.records.put("deleted_psp_mandates", {**deleted, "deleted_at": stamp}, key=mandate["id"])
                call.records.remove("psp_mandates", mandate["id"])
                count += 1
        return {"success": True, "count": count, "errors": {}}

    # -- tasks --------------------------------------------------------------------------------

    @handles("patchV1TasksIdMarkCompleted")
    def mark_completed(self, call: Call) -> Any:
        tasks = call.resources
        selection = tasks.selection(call)
        task = tasks.find(call)
        if task.get("completed_at") is not None:
            raise ApiError(
                ErrorKind.CONFLICT,
                f"Task {task['id']} is already completed (at {task['completed_at']}); unmark it first.",
                code="already_completed",
            )
        changes = {
            "completed_at": tasks.timestamp(call),
            "completed_status": call.body.get("completed_status", "succeeded"),
        }
        if "completed_status_message" in call.body:
            changes["completed_status_message"] = call.body["completed_status_message"]
        if "comment" in call.body:
            changes["comments"] = with_comment(call, task, call.body["comment"])
        if call.body.get("resume_dossiers") and task.get("invoice_id") is not None:
            resume_invoice(call, str(task["invoice_id"]))
        return tasks.present(call, "tasks", tasks.save(call, "tasks", task, changes), selection)

    @handles("patchV1TasksIdUnmarkCompleted")
    def unmark_completed(self, call: Call) -> Any:
        """A no-op on an open task: only a real change moves `updated_at`."""
        tasks = call.resources
        selection = tasks.selection(call)
        task = tasks.find(call)
        if any(field in task for field in COMPLETION_FIELDS):
            task = ledger.replace(call.records, "tasks", task, stamped(call, {}), COMPLETION_FIELDS)
        return tasks.present(call, "tasks", task, selection)

    @handles("postV1TasksIdComment")
    def comment(self, call: Call) -> Reply:
        tasks = call.resources
        task = tasks.find(call)
        tasks.save(call, "tasks", task, {"comments": with_comment(call, task, call.body["comment"])})
        return Reply({"success": True, "count": 1, "errors": {}}, status=201)


# -- helpers ------------------------------------------------------------------------------------

TARGETS = {
    "debtor_number": ("debtors", "debtor_number", "Debtor"),
    "debtor_identifier": ("debtors", "debtor_identifier", "Debtor"),
    "invoice_number": ("invoices", "invoice_number", "Invoice"),
    "invoice_identifier": ("invoices", "invoice_identifier", "Invoice"),
    "credit_case_number": ("credit_cases", "credit_case_number", "Credit case"),
}
MANDATE_SELECTORS = {
    "psp_mandate_ids": "id",
    "mandate_identifiers": "mandate_identifier",
    "mandate_references": "mandate_reference",
    "debtor_numbers": "debtor_number",
}
IDENTIFIER_TYPES = {
    "debtors": ("debtor_number", "debtor_identifier"),
    "invoices": ("invoice_number", "invoice_identifier"),
}


def scope(call: Call) -> str:
    admin = call.resources.scope_value(call)
    assert admin is not None  # every operation calling this requires administration_id
    return admin


def present(call: Call, resource: str, record: Record, selection: bool = True) -> Any:
    chosen = call.resources.selection(call, resource) if selection else None
    return call.resources.present(call, resource, record, chosen)


def without(record: Record, fields: tuple[str, ...]) -> Record:
    return {key: value for key, value in record.items() if key not in fields and not key.startswith("_")}


def stamped(call: Call, changes: dict[str, Any]) -> dict[str, Any]:
    return {**changes, "updated_at": call.resources.timestamp(call)}


def ledger_stamp(call: Call, later: timedelta) -> str:
    return iso8601(call.clock_now + later)


def refuse_limited_token(call: Call) -> None:
    if (call.grant or {}).get("administrations") is not None:
        raise ApiError(
            ErrorKind.FORBIDDEN, "Missing permission: a token limited to some administrations cannot add one"
        )


ADMINISTRATION_TEXT_FIELDS = (
    "email_address",
    "contact_name",
    "commercial_registration_number",
    "city",
    "house_number",
    "street_name",
    "postal_code",
)


def administration_defaults(administration: Record) -> dict[str, Any]:
    return {
        "status": "active",
        **dict.fromkeys(ADMINISTRATION_TEXT_FIELDS, ""),
        "country_code": "NL",
        "internal_name": administration["name"],
        "timezone": "Europe/Amsterdam",
        "currency_code": "EUR",
        "administration_url": f"https://app.paytsoftware.com/administrations/{administration['id']}",
    }


def new_administration(call: Call, fields: dict[str, Any]) -> Record:
    store = call.records
    admin_id = f"adm_{store.next_id('administrations') + 9000}"
    record = {
        "id": admin_id,
        "name": fields["name"],
        "status": "active",
        "email_address": fields["email_address"],
        "contact_name": fields["contact_name"],
        "commercial_registration_number": fields["commercial_registration_number"],
        "country_code": fields["country_code"],
        "city": fields["city"],
        "house_number": fields["house_number"],
        "internal_name": fields["name"],
        "street_name": fields["street_name"],
        "postal_code": fields["postal_code"],
        "timezone": fields.get("timezone", "Europe/Amsterdam"),
        "currency_code": fields.get("currency_code", "EUR"),
        "administration_url": f"https://app.paytsoftware.com/administrations/{admin_id}",
    }
    for optional in ("bank_account_name", "bank_account_number", "bank_account_bic", "vat_number"):
        if optional in fields:
            record[optional] = fields[optional]
    return store.put("administrations", record, key=admin_id)


def cursor_page(call: Call, records: list[Record], shown: Callable[[Record], Any]) -> Any:
    """Payt's cursor paging over records already in list order (for lists the declarations cannot say)."""
    records = sorted(records, key=lambda record: id_order(str(record["id"])))
    cursor = call.query.get("cursor")
    if cursor is not None:
        ids = [str(record["id"]) for record in records]
        if cursor not in ids:
            raise ApiError(ErrorKind.INVALID, f"cursor is invalid: {cursor} names no record.", field="cursor")
        records = records[ids.index(cursor) + 1 :]
    size = call.query.get("per_page", 100)
    body: dict[str, Any] = {"data": [shown(record) for record in records[:size]]}
    if len(records) > size:
        body["pagination"] = {"cursor": str(records[size - 1]["id"])}
    return body


def find_by(call: Call, collection: str, identifier_type: str, label: str) -> Record:
    """A debtor or invoice by internal id or by one of the caller's keys (`identifier_type`)."""
    admin = scope(call)
    key = call.path["id"]
    if identifier_type == "id":
        return call.resources.find(call, collection)
    if identifier_type not in IDENTIFIER_TYPES[collection]:
        raise ApiError(ErrorKind.INVALID, f"identifier_type is invalid: {identifier_type}.", field="identifier_type")
    record = by_field(in_administration(call.records, collection, admin), identifier_type).get(key)
    if record is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"{label} {key} not found in administration {admin}.")
    return record


def bulk(
    call: Call,
    items: list[dict[str, Any]],
    key_of: Callable[[dict[str, Any]], Any],
    apply: Callable[[dict[str, Any]], None],
    status: int | None = None,
) -> Reply:
    """Apply each record on its own: a refused one is reported under its key and leaves nothing behind."""
    count, errors = 0, {}
    for index, item in enumerate(items):
        try:
            with call.records.transaction():
                apply(item)
        except Refused as refused:
            key = "not_found" if refused.not_found else str(key_of(item) or index)
            errors.setdefault(key, []).extend(refused.reasons)
            continue
        count += 1
    # Payt's responses page: `success` says the request was handled; refused records are only in `errors`.
    body = {"success": True, "count": count, "errors": errors}
    return Reply(body, status=status or call.resources.success_status(call))


def save_record(
    call: Call,
    collection: str,
    existing: Record | None,
    admin: str,
    fields: dict[str, Any],
    defaults: dict[str, Any],
    stamp: bool = True,
) -> Record:
    store = call.records
    if existing is None:
        record = {
            "id": call.resources.new_id(store, call.resources.resource(collection)),
            "administration_id": admin,
            **defaults,
            **fields,
        }
        if stamp:
            record["updated_at"] = call.resources.timestamp(call)
        return store.insert(collection, record)
    changes = {key: value for key, value in fields.items() if existing.get(key) != value}
    if not changes:
        return existing
    if stamp:
        changes["updated_at"] = call.resources.timestamp(call)
    return store.update(collection, str(existing["id"]), changes)


CONTACT_FIELDS = (
    "contact_identifier",
    "birth_date",
    "call_phone_number",
    "default_email_address",
    "firstname",
    "gender",
    "infix",
    "invoice_email_address",
    "invoice_cc_email_address",
    "invoice_bcc_email_address",
    "lastname",
    "middlename",
    "postal_address_street_1",
    "postal_address_street_2",
    "postal_address_postal_code",
    "postal_address_city",
    "postal_address_country_code",
    "postal_address_region",
    "prefix",
    "reminder_email_address",
    "reminder_cc_email_address",
    "reminder_bcc_email_address",
    "sms_phone_number",
)
DEBTOR_COPIED = (
    "debtor_number",
    "name",
    "debtor_identifier",
    "coc_number",
    "language_code",
    "peppol_identifier",
    "relation_manager",
    "remark",
    "vat_number",
    "peppol_enabled",
)


def debtor_fields(item: dict[str, Any], existing: Record | None) -> dict[str, Any]:
    fields = {key: item[key] for key in DEBTOR_COPIED if key in item}
    address = dict((existing or {}).get("postal_address") or {"city": "", "country_code": "NL"})
    if "country_code" in item:
        address["country_code"] = item["country_code"]
    fields["postal_address"] = address
    if "labels" in item:
        fields["labels"] = [{"name": name} for name in item["labels"]]
    if "contact_identifier" in item:
        fields["_contact_identifier"] = item["contact_identifier"]
    return fields


def link_contact(call: Call, admin: str, old: Record | None, debtor: Record) -> None:
    """A contact lists the numbers of the debtors that name it."""
    for contact in in_administration(call.records, "contacts", admin):
        numbers = [
            d["debtor_number"]
            for d in in_administration(call.records, "debtors", admin)
            if d.get("_contact_identifier") == contact.get("contact_identifier")
        ]
        if sorted(contact.get("debtor_numbers") or []) != sorted(numbers):
            call.records.update("contacts", str(contact["id"]), stamped(call, {"debtor_numbers": sorted(numbers)}))


def renumber_debtor(call: Call, debtor: Record) -> None:
    """The records that carry a copy of a debtor's number follow its new one."""
    for collection, field in (
        ("invoices", "debtor_number"),
        ("payment_plans", "_debtor_number"),
        ("psp_mandates", "debtor_number"),
    ):
        for record in list(call.records.collection(collection).values()):
            if record.get("debtor_id") == debtor["id"] and field in record:
                call.records.update(collection, str(record["id"]), stamped(call, {field: debtor["debtor_number"]}))


def with_book_open(call: Call, debtor: Record) -> Record:
    invoices = [i for i in call.records.collection("invoices").values() if i.get("debtor_id") == debtor["id"]]
    return {**debtor, "book_open_amount": money(sum((amount(i["book_open_amount"]) for i in invoices), ZERO))}


def select_invoices(call: Call, change: Callable[[Record], dict[str, Any]]) -> Reply:
    """Block or resume the invoices a body names by number and identifier; each refusal is reported apart."""
    admin = scope(call)
    body = call.body
    if not body.get("invoice_numbers") and not body.get("invoice_identifiers"):
        raise ApiError(
            ErrorKind.INVALID, "invoice_numbers or invoice_identifiers is required.", field="invoice_numbers"
        )
    invoices = in_administration(call.records, "invoices", admin)
    named = [
        (value, by_field(invoices, field))
        for key, field in (("invoice_numbers", "invoice_number"), ("invoice_identifiers", "invoice_identifier"))
        for value in body.get(key) or ()
    ]

    def apply(pair: tuple[str, dict[str, Record]]) -> None:
        value, known = pair
        invoice = known.get(value)
        if invoice is None:
            raise Refused.missing(value)
        current = call.records.get("invoices", str(invoice["id"]))
        assert current is not None
        changes = change(current)
        dropped = [key for key, new in changes.items() if new is None]
        kept = {key: new for key, new in changes.items() if new is not None}
        ledger.replace(call.records, "invoices", current, stamped(call, kept), dropped)

    return bulk(call, named, lambda pair: pair[0], apply, status=200)  # type: ignore[arg-type]


def resume_invoice(call: Call, invoice_id: str) -> None:
    invoice = call.records.get("invoices", invoice_id)
    if invoice is not None and invoice.get("_blocked"):
        ledger.replace(
            call.records, "invoices", invoice, stamped(call, {}), ("paused_at", "paused_by_user", "_blocked")
        )


def start_plan(call: Call, plan_id: str) -> None:
    """An approved plan becomes its invoices' active plan; its terms are paid from what they receive next."""
    store = call.records
    plan = store.get("payment_plans", plan_id)
    if plan is None:
        return
    stamp = call.resources.timestamp(call)
    for invoice_id in plan.get("_invoice_ids") or ():
        invoice = store.get("invoices", invoice_id)
        if invoice is not None and invoice.get("active_payment_plan_id") != plan_id:
            # payment_plan_id is Payt's deprecated name for the same link; both are kept in step.
            changes = {"active_payment_plan_id": plan_id, "payment_plan_id": plan_id, "updated_at": stamp}
            store.update("invoices", invoice_id, changes)
    store.update("payment_plans", plan_id, {"_baseline": money(ledger.plan_open(store, plan))})


def with_comment(call: Call, task: Record, content: str) -> list[Any]:
    """The task's comments and a new one, numbered from the tenant's `comments` sequence."""
    comment_id = str(call.records.next_id("comments"))
    comment = {"id": comment_id, "content": content, "created_at": call.resources.timestamp(call)}
    return appended(task.get("comments", ()), comment)


class InvoiceContext:
    """What an invoice upsert checks references against, looked up once per request, per administration."""

    def __init__(self, call: Call, admin: str) -> None:
        store = call.records
        self.call, self.admin, self.store = call, admin, store
        self.invoices = by_field(in_administration(store, "invoices", admin), "invoice_number")
        debtors = in_administration(store, "debtors", admin)
        self.debtors_by_number = by_field(debtors, "debtor_number")
        self.debtors_by_identifier = by_field(debtors, "debtor_identifier")
        self.contacts = by_field(in_administration(store, "contacts", admin), "contact_identifier")
        self.vat_rates = by_field(in_administration(store, "vat_rates", admin), "code")
        self.conditions = by_field(in_administration(store, "payment_conditions", admin), "code")
        self.files = by_field(in_administration(store, "files", admin), "checksum")
        self.stamp = call.resources.timestamp(call)
        self.today = today_of(call.clock_now)

    def debtor(self, item: dict[str, Any], existing: Record | None) -> Record:
        if "debtor_number" in item:
            found = self.debtors_by_number.get(item["debtor_number"])
            if found is None:
                raise Refused(f"Debtor {item['debtor_number']} not found.")
            return found
        if "debtor_identifier" in item:
            found = self.debtors_by_identifier.get(item["debtor_identifier"])
            if found is None:
                raise Refused(f"Debtor {item['debtor_identifier']} not found.")
            return found
        if existing is None:
            raise Refused("debtor_number or debtor_identifier is required.")
        debtor = self.store.get("debtors", existing["debtor_id"])
        assert debtor is not None
        return debtor

    def references(self, item: dict[str, Any]) -> list[str]:
        reasons = []
        if "payment_condition" in item and item["payment_condition"] not in self.conditions:
            reasons.append(f"payment_condition {item['payment_condition']} does not name a payment condition.")
        if "contact_identifier" in item and item["contact_identifier"] not in self.contacts:
            reasons.append(f"contact_identifier {item['contact_identifier']} does not name a contact.")
        for document in ("document", "ubl_document"):
            checksum = (item.get(document) or {}).get("checksum")
            if checksum is not None and not item[document].get("destroy") and checksum not in self.files:
                reasons.append(f"{document}.checksum does not name an uploaded file.")
        for line in item.get("invoice_lines") or ():
            if line["vat_rate_code"] not in self.vat_rates:
                reasons.append(f"vat_rate_code {line['vat_rate_code']} does not name a vat rate.")
            if "total_excl_tax_amount" not in line and "total_incl_tax_amount" not in line:
                reasons.append("an invoice line needs total_excl_tax_amount or total_incl_tax_amount.")
        holder = self.invoices_by_identifier().get(item.get("invoice_identifier", ""))
        if holder is not None and holder["invoice_number"] != item["invoice_number"]:
            reasons.append(
                f"invoice_identifier {item['invoice_identifier']} is taken by invoice {holder['invoice_number']}."
            )
        return reasons

    def invoices_by_identifier(self) -> dict[str, Record]:
        return by_field(self.invoices.values(), "invoice_identifier")

    def write(self, item: dict[str, Any], existing: Record | None) -> None:
        debtor = self.debtor(item, existing)
        reasons = self.references(item)
        if reasons:
            raise Refused(*reasons)
        record = self.fields(item, existing, debtor)
        if existing is not None and all(
            record.get(k) == existing.get(k) for k in {*record, *existing} - {"updated_at"}
        ):
            record["updated_at"] = existing["updated_at"]  # only a real change moves updated_at
        payments = self.payments(item, existing, record)
        stored = (self.store.insert if existing is None else self.store.put)("invoices", record)
        for payment in payments:
            self.store.put("payments", payment, key=payment["id"])
        stored = ledger.settle_invoice(self.store, stored, self.stamp, self.today)
        if amount(stored["open_amount"]) < ZERO:
            raise Refused("The payments exceed the invoice total.")
        self.invoices[stored["invoice_number"]] = stored

    def fields(self, item: dict[str, Any], existing: Record | None, debtor: Record) -> dict[str, Any]:
        record: dict[str, Any] = (
            dict(existing)
            if existing is not None
            else {
                "id": self.call.resources.new_id(self.store, self.call.resources.resource("invoices")),
                "administration_id": self.admin,
                "payment_method": "unknown",
                "administration_costs_total": "0.00",
                "administration_costs_open": "0.00",
            }
        )
        record.update(
            {
                "debtor_id": debtor["id"],
                "debtor_number": debtor["debtor_number"],
                "_debtor_identifier": debtor["debtor_identifier"],
                "updated_at": self.stamp,
            }
        )
        for key in (
            "currency_code",
            "invoice_number",
            "invoice_date",
            "invoice_identifier",
            "order_number",
            "peppol_identifier",
            "description",
            "category",
            "due_date",
            "payment_method",
            "sent_at",
        ):
            if key in item:
                record[key] = item[key]
        for key, stored in (("amount_total", "total_amount"), ("book_amount_total", "book_total_amount")):
            if key in item:
                record[stored] = money(amount(item[key]))
        record.setdefault("book_total_amount", record.get("total_amount"))
        for key, stored in (("payment_condition", "_payment_condition"), ("contact_identifier", "_contact_identifier")):
            if key in item:
                record[stored] = item[key]
        if "labels" in item:
            record["labels"] = [{"name": name} for name in item["labels"]]
        document = item.get("document")
        if document is not None:
            if document.get("destroy"):
                record.pop("_document", None)
                record.pop("document_url", None)
            elif "checksum" in document:
                record["_document"] = document["checksum"]
                record["document_url"] = self.files[document["checksum"]]["url"]
        if "invoice_lines" in item:
            record["invoice_lines"] = [
                invoice_line(line, n, self.vat_rates) for n, line in enumerate(item["invoice_lines"])
            ]
        record.setdefault("open_amount", record["total_amount"])
        record.setdefault("book_open_amount", record["book_total_amount"])
        return record

    def payments(self, item: dict[str, Any], existing: Record | None, invoice: dict[str, Any]) -> list[Record]:
        """The invoice's payments after this upsert (new or changed ones); deleted ones are logged."""
        current = ledger.payments_of(self.store, str(invoice["id"])) if existing is not None else []
        if "payments" in item:
            given = item["payments"]
            origins = [p["origin_identifier"] for p in given]
            if len(set(origins)) != len(origins):
                raise Refused("payments: each origin_identifier may appear once.")
            kept = {p["_origin_identifier"]: p for p in current}
            for payment in current:
                if payment["_origin_identifier"] not in origins:
                    self.delete_payment(payment)
            new = [self.payment(p, invoice, kept.get(p["origin_identifier"])) for p in given]
            if "amount_open" in item:
                expected = amount(invoice["total_amount"]) - ledger.principal(new)
                if amount(item["amount_open"]) != expected:
                    raise Refused(
                        f"amount_open {money(amount(item['amount_open']))} is not amount_total minus the "
                        f"payments ({money(expected)})."
                    )
            return new
        if "amount_open" not in item:
            return []
        open_now = amount(invoice["total_amount"]) - ledger.principal(current)
        difference = open_now - amount(item["amount_open"])
        if difference == ZERO:
            return []
        origin = f"payt-{self.store.next_id('origins')}"
        kind = "payment" if difference > ZERO else "reversal"
        return [
            self.payment(
                {"amount": str(difference), "origin_identifier": origin, "transaction_type": kind}, invoice, None
            )
        ]

    def payment(self, given: dict[str, Any], invoice: dict[str, Any], existing: Record | None) -> Record:
        value = amount(given["amount"])
        book = amount(given["book_amount"]) if "book_amount" in given else ledger.book_share(invoice, value)
        record: dict[str, Any] = {
            "administration_id": self.admin,
            "id": existing["id"]
            if existing
            else self.call.resources.new_id(self.store, self.call.resources.resource("payments")),
            "cost_type": given.get("cost_type", "principal"),
            "invoice_id": invoice["id"],
            "total_amount": money(value),
            "total_book_amount": money(book),
            "payment_date": given.get("payment_date") or self.today,
            "updated_at": self.stamp,
            "_origin_identifier": given["origin_identifier"],
            "_invoice_number": invoice["invoice_number"],
        }
        for key in ("description", "payment_method", "reversal_code"):
            if key in given:
                record[key] = given[key]
        if given.get("transaction_type"):
            record["transaction_type"] = given["transaction_type"]
        if invoice.get("invoice_identifier") is not None:
            record["_invoice_identifier"] = invoice["invoice_identifier"]
        case_id = invoice.get("active_credit_case_id")
        case = self.store.get("credit_cases", case_id) if case_id is not None else None
        if case is not None:
            record["_credit_case_id"], record["_credit_case_number"] = case["id"], case["credit_case_number"]
        if existing is not None and all(existing.get(k) == v for k, v in record.items() if k != "updated_at"):
            return existing
        return record

    def delete_payment(self, payment: Record) -> None:
        deleted = {
            "id": payment["id"],
            "administration_id": self.admin,
            "origin_identifier": payment["_origin_identifier"],
            "invoice_id": payment["invoice_id"],
            "deleted_at": self.stamp,
        }
        self.store.put("deleted_payments", deleted, key=payment["id"])
        self.store.remove("payments", payment["id"])


def invoice_line(line: dict[str, Any], position: int, vat_rates: dict[str, Record]) -> dict[str, Any]:
    """An invoice line with what Payt computes filled in: the vat percentage from its rate, the missing total."""
    rate = (
        amount(line["vat_percentage"]) if "vat_percentage" in line else amount(vat_rates[line["vat_rate_code"]]["rate"])
    )
    if "total_excl_tax_amount" in line:
        excl = amount(line["total_excl_tax_amount"])
        vat = amount(line["vat_amount"]) if "vat_amount" in line else excl * rate / 100
        incl = amount(line["total_incl_tax_amount"]) if "total_incl_tax_amount" in line else excl + vat
    else:
        incl = amount(line["total_incl_tax_amount"])
        vat = amount(line["vat_amount"]) if "vat_amount" in line else incl - incl / (1 + rate / 100)
        excl = incl - vat
    quantity = amount(line.get("product_quantity", "1")) or amount("1")
    price = amount(line["product_price"]) if "product_price" in line else excl / quantity
    return {
        "description": line["description"],
        "product_unit": line.get("product_unit", "piece"),
        "vat_percentage": str(rate.normalize()) if rate else "0",
        "vat_rate_code": line["vat_rate_code"],
        "product_quantity": str(quantity.normalize()),
        "line_order": line.get("line_order", position),
        "product_price": money(price),
        "total_excl_tax_amount": money(excl),
        "total_incl_tax_amount": money(incl),
        "vat_amount": money(vat),
    }

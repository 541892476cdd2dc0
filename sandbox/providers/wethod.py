"""Wethod (agency project management): invoices with a draft/sent/paid lifecycle, read-only projects.

Wire facts: Bearer tokens whose fixture grant lists `permissions` such as
`invoices.edit_sent`; every call names a company (`Wethod-Company`, a slug) and
an API version (`Wethod-Version`, a date); errors `{"key", "message"}`, with
`failures: [{field, message}]` on 400 `invalid_data`; actions not allowed in an
invoice's state are 412 `precondition_failure`; lists are bare arrays paged by
`offset`/`limit` with operator-prefixed filters (`gte:2024-01-01`, `in:1,2`);
timestamps are UTC with milliseconds; 5,000 requests per hour per token,
reported in `x-ratelimit-*` headers.

Invoices and projects, their company scope, filters, paging and the invoice
state machine are declared in the spec's `x-sandbox` block; this module keeps
the envelope and the rules no table says (archived projects, payment dates).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, hook
from sandbox.ratelimit import RateLimit, RateStatus
from sandbox.store import Record, Store

INVALID_DATA_MESSAGE = "You provided invalid data. Check 'failures' for details."


class Wethod(Provider):
    name = "wethod"
    fixture_schemas = {"companies": "Company", "tokens": "Token"}
    rate_limit = RateLimit(5000, 3600)
    grant_field = "permissions"


    def error_body(self, error: ApiError, status: int) -> Any:
        if error.kind is ErrorKind.INVALID:
            failures = [
                {"field": detail.get("field") or error.field or "body", "message": detail["message"]}
                for detail in error.details
            ] or [{"field": error.field or "body", "message": error.message}]
            return {"key": "invalid_data", "message": INVALID_DATA_MESSAGE, "failures": failures}
        return {"key": self.error_code(error), "message": error.message}

    def rate_limit_headers(self, status: RateStatus) -> dict[str, str]:
        headers = {"x-ratelimit-limit": str(status.limit), "x-ratelimit-remaining": str(status.remaining)}
        if not status.allowed:
            headers["x-ratelimit-retry-after"] = str(status.reset_in)
        return headers

    def fixture_key(self, collection: str, record: Record) -> object:
        return record["slug"] if collection == "companies" else super().fixture_key(collection, record)

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        companies = {company["slug"] for company in fixtures.get("companies", [])}
        if store is not None:
            companies |= set(store.collection("companies"))
        problems = [
            f"invoices[{index}] (id={invoice['id']!r}): field 'payment_date': must be set exactly when status is 'paid'"
            for index, invoice in enumerate(fixtures.get("invoices", []))
            if (invoice.get("payment_date") is not None) != (invoice["status"] == "paid")
        ]
        for index, token in enumerate(fixtures.get("tokens", [])):
            problems.extend(
                f"tokens[{index}] (token={token['token']!r}): field 'companies': no company {slug!r}"
                for slug in token.get("companies", [])
                if slug not in companies
            )
        return problems

    @hook("invoices", "write")
    def invoice_rules(self, call: Call, old: Record | None, draft: Record | None) -> None:
        """Invoices of archived projects are frozen (412); set-paid dates the payment today unless told."""
        if old is not None:
            refuse_archived(old, project_of(call, old))
        if draft is None:
            return
        if old is None or draft["project_id"] != old["project_id"]:
            target = call.resources.find(call, "projects", draft["project_id"])
            if target["is_archived"]:
                verb = "created on" if old is None else "moved to"
                raise ApiError(
                    ErrorKind.PRECONDITION,
                    f"Project {target['id']} is archived: invoices can only be {verb} projects that are not archived.",
                )
        if call.operation.operation_id == "setInvoicePaid":
            draft["payment_date"] = (call.body or {}).get("payment_date") or today(call)


def today(call: Call) -> str:
    return call.clock_now.astimezone(UTC).date().isoformat()


def project_of(call: Call, invoice: Record) -> Record:
    resources = call.resources
    assert resources is not None
    project = resources.lookup(call, resources.resource("projects"), invoice["project_id"], invoice["company"])
    if project is None:  # fixtures guarantee the reference; a restored snapshot might not
        raise ApiError(
            ErrorKind.PRECONDITION,
            f"Invoice {invoice['id']} names project {invoice['project_id']}, which does not exist; "
            "set project_id to an existing project first.",
        )
    return project


def refuse_archived(invoice: Record, project: Record) -> None:
    if project["is_archived"]:
        raise ApiError(
            ErrorKind.PRECONDITION,
            f"Invoice {invoice['id']} belongs to project {project['id']}, which is archived: "
            "invoices of archived projects cannot be changed.",
        )

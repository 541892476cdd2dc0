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

from collections.abc import Callable
from datetime import UTC
from typing import Any

from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, hook
from sandbox.ratelimit import RateLimit, RateStatus
from sandbox.spec import Operation
from sandbox.store import Record, Store

INVALID_DATA_MESSAGE = "You provided invalid data. Check 'failures' for details."
# Permissions that cover the projects where the token's user is PM or Account; `<name>_other` covers the rest.
OWN_OR_OTHER = frozenset({"invoices.view", "invoices.create", "invoices.edit", "invoices.delete", "pipeline.view"})


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

    def authorize(self, credential: str, store: Store, operation: Operation) -> None:
        """An operation needs each of its permissions, or for the PM/Account ones their `_other` variant.

        Which of the two a record needs is checked once the record is known (`before`, `visible`).
        """
        permissions = granted(store.get("tokens", credential), self.grant_field)
        if permissions is None:
            return
        for needed in operation.scopes:
            if needed not in permissions and not (needed in OWN_OR_OTHER and f"{needed}_other" in permissions):
                raise ApiError(ErrorKind.FORBIDDEN, f"Missing permission: {needed}")

    def before(self, call: Call) -> None:
        """The project a call touches decides between a permission and its `_other` variant (403 naming it)."""
        permissions = granted(call.grant, self.grant_field)
        needed = next((scope for scope in call.operation.scopes if scope in OWN_OR_OTHER), None)
        if permissions is None or needed is None:
            return
        for project in touched_projects(call):
            if project is not None:
                check_project_permission(call, permissions, needed, project)

    @hook("invoices", "visible")
    def visible_invoices(self, call: Call) -> Callable[[Record], bool] | None:
        """Invoices of the projects the token may see (its user's own with `invoices.view`, others with `_other`)."""
        seen = visible_project_ids(call, self.grant_field, "invoices.view")
        return None if seen is None else lambda invoice: invoice["project_id"] in seen

    @hook("projects", "visible")
    def visible_projects(self, call: Call) -> Callable[[Record], bool] | None:
        seen = visible_project_ids(call, self.grant_field, "pipeline.view")
        return None if seen is None else lambda project: project["id"] in seen

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


def granted(grant: Record | None, grant_field: str) -> frozenset[str] | None:
    """The permissions a token's fixture grant lists, or None when it may do everything."""
    if grant is None or grant_field not in grant:
        return None
    return frozenset(grant[grant_field])


def is_own(project: Record, user_id: int | None) -> bool:
    """Whether the token's user is the project's PM or Account."""
    return user_id is not None and user_id in (project.get("pm_id"), project.get("account_id"))


def check_project_permission(call: Call, permissions: frozenset[str], needed: str, project: Record) -> None:
    user_id = (call.grant or {}).get("user_id")
    if is_own(project, user_id):
        if needed not in permissions:
            raise ApiError(
                ErrorKind.FORBIDDEN,
                f"Missing permission: {needed} (you are PM or Account of project {project['id']})",
            )
    elif f"{needed}_other" not in permissions:
        raise ApiError(
            ErrorKind.FORBIDDEN,
            f"Missing permission: {needed}_other (you are neither PM nor Account of project {project['id']})",
        )


def touched_projects(call: Call) -> list[Record | None]:
    """The projects a call reads or writes: the named record's, and the one a body's project_id names."""
    resources = call.resources
    operation = call.operation.operation_id
    found: list[Record | None] = []
    if "id" in call.path:
        resource = resources.declaration.operations[operation][0]
        record = resources.find(call, resource)
        found.append(record if resource.name == "projects" else project_or_none(call, record["project_id"]))
    body = call.body if isinstance(call.body, dict) else {}
    if body.get("project_id") is not None:
        found.append(project_or_none(call, body["project_id"]))  # an unknown one is the handler's 400
    return found


def project_or_none(call: Call, project_id: Any) -> Record | None:
    resources = call.resources
    return resources.lookup(call, resources.resource("projects"), project_id, resources.scope_value(call))


def visible_project_ids(call: Call, grant_field: str, permission: str) -> frozenset[int] | None:
    """The ids of the projects whose records the call may list, or None when it may list every one."""
    permissions = granted(call.grant, grant_field)
    own, other = permission in (permissions or ()), f"{permission}_other" in (permissions or ())
    if permissions is None or (own and other):
        return None
    user_id = (call.grant or {}).get("user_id")
    projects = call.records.collection("projects").values()
    return frozenset(project["id"] for project in projects if (own if is_own(project, user_id) else other))


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

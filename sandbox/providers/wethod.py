"""Wethod (agency project management): invoices with a draft/sent/paid lifecycle, read-only projects.

Wire facts: Bearer tokens whose fixture grant lists `permissions` such as
`invoices.edit_sent`; every call names a company (`Wethod-Company`, a slug) and
an API version (`Wethod-Version`, a date); errors `{"key", "message"}`, with
`failures: [{field, message}]` on 400 `invalid_data`; actions not allowed in an
invoice's state are 412 `precondition_failure`; lists are bare arrays paged by
`offset`/`limit` with operator-prefixed filters (`gte:2024-01-01`, `in:1,2`);
timestamps are UTC with milliseconds; 5,000 requests per hour per token,
reported in `x-ratelimit-*` headers.

Records carry the slug of their company in an internal `company` field that
never goes on the wire; ids are unique across the companies of a tenant.
"""

from __future__ import annotations

import bisect
import operator
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.clock import parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, Reply, handles
from sandbox.ratelimit import RateLimit, RateStatus
from sandbox.store import Record, Store

ERROR_KEYS = {
    ErrorKind.UNAUTHORIZED: "unauthorized",
    ErrorKind.FORBIDDEN: "forbidden",
    ErrorKind.NOT_FOUND: "not_found",
    ErrorKind.METHOD_NOT_ALLOWED: "method_not_allowed",
    ErrorKind.PAYLOAD_TOO_LARGE: "payload_too_large",
    ErrorKind.INVALID: "invalid_data",
    ErrorKind.PRECONDITION: "precondition_failure",
    ErrorKind.CONFLICT: "precondition_failure",
    ErrorKind.RATE_LIMITED: "too_many_requests",
    ErrorKind.INTERNAL: "internal_error",
    ErrorKind.UNAVAILABLE: "service_unavailable",
}
INVALID_DATA_MESSAGE = "You provided invalid data. Check 'failures' for details."

# Fields only the sandbox sees (never sent on the wire).
INTERNAL_FIELDS = frozenset({"company"})
# Invoice fields that clients may write (create and PATCH), in wire order.
WRITABLE_FIELDS = (
    "invoice_number",
    "purchase_order",
    "value",
    "exchange_rate",
    "issue_date",
    "notes",
    "project_id",
    "budget_area_uid",
    "vat_rate_id",
    "payment_term_id",
)
INVOICE_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "invoice_number",
    "purchase_order",
    "value",
    "exchange_rate",
    "issue_date",
    "payment_date",
    "notes",
    "project_id",
    "budget_area_uid",
    "vat_rate_id",
    "payment_term_id",
)
# Fields a fixture record may leave out (they default to null).
INVOICE_NULLABLE = (
    "invoice_number",
    "purchase_order",
    "exchange_rate",
    "payment_date",
    "notes",
    "budget_area_uid",
    "vat_rate_id",
    "payment_term_id",
)
PROJECT_NULLABLE = (
    "job_order",
    "purchase_order",
    "archived_on",
    "due_date",
    "signed_on",
    "project_type_id",
    "account_id",
    "customer_id",
    "reason_why_id",
    "business_unit_id",
    "billing_group_id",
)

# Writable fields the spec types as integers.
INTEGER_FIELDS = frozenset({"project_id", "vat_rate_id", "payment_term_id"})

EDIT_SENT = "invoices.edit_sent"
DEFAULT_LIMIT = 100

Key = int | str

# -- filters -----------------------------------------------------------------

OPERATORS = frozenset({"eq", "notEq", "gt", "gte", "lt", "lte", "in", "notIn", "bt"})
LIST_OPERATORS = frozenset({"in", "notIn", "bt"})
NEGATED_OPERATORS = frozenset({"notEq", "notIn"})
FILTER_GRAMMAR = (
    "use VALUE, eq:VALUE, notEq:VALUE, gt:VALUE, gte:VALUE, lt:VALUE, lte:VALUE, "
    "in:VALUE,VALUE,..., notIn:VALUE,VALUE,... or bt:FROM,TO"
)
_DIGITS = re.compile(r"[0-9]{1,4000}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def instant_key(text: str) -> int:
    """A date-time as microseconds since the epoch, so instants in any zone compare correctly."""
    return (parse_iso8601(text) - _EPOCH) // _MICROSECOND


def integer_operand(text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"{short(text)!r} is not an integer id (digits only, at most 4000)")
    return int(text)


def date_operand(text: str) -> str:
    if not _DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date") from None
    return text  # YYYY-MM-DD strings sort like the dates they name


def date_time_operand(text: str) -> int:
    if not _DATE_TIME.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a date-time with a zone such as 2024-01-01T20:00:00Z or 2024-01-01T20:00:00%2B02:00"
        )
    try:
        return instant_key(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a real date-time") from None


# The filterable fields of each collection, and how their operands (and the
# records' own values) become comparable keys.
OPERAND_PARSERS = {"integer": integer_operand, "date": date_operand, "date-time": date_time_operand}
INVOICE_FILTERS = {"project_id": "integer", "issue_date": "date", "payment_date": "date", "updated_at": "date-time"}
PROJECT_FILTERS = {"updated_at": "date-time"}


def record_key(record: Record, field: str, kind: str) -> Key | None:
    value = record.get(field)
    if value is None:
        return None
    return instant_key(value) if kind == "date-time" else value


@dataclass(frozen=True)
class Filter:
    field: str
    operator: str
    operands: tuple[Key, ...]

    @property
    def negated(self) -> bool:
        return self.operator in NEGATED_OPERATORS

    def matches(self, key: Key | None) -> bool:
        """Whether a record whose field has this key (None: null) passes the filter."""
        op = self.operator
        if op == "notEq":
            return key != self.operands[0]
        if op == "notIn":
            return key not in self.operands
        if key is None:
            return False
        if op == "eq":
            return key == self.operands[0]
        if op == "in":
            return key in self.operands
        if op == "bt":
            return self.operands[0] <= key <= self.operands[1]  # type: ignore[operator]
        return COMPARISONS[op](key, self.operands[0])


COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def predicate(condition: Filter) -> Callable[[Key | None], bool]:
    """`condition.matches`, with the comparison operators resolved once instead of for every record."""
    compare = COMPARISONS.get(condition.operator)
    if compare is None:
        return condition.matches
    bound = condition.operands[0]
    return lambda key: key is not None and compare(key, bound)


def parse_filter(field: str, raw: str, kind: str) -> Filter:
    """`gte:2024-01-01` as a Filter; a bare value means `eq:`. Raises ValueError saying what is wrong."""
    head, separator, rest = raw.partition(":")
    op, text = (head, rest) if separator and head in OPERATORS else ("eq", raw)
    parts = text.split(",") if op in LIST_OPERATORS else [text]
    if op == "bt" and len(parts) != 2:
        raise ValueError(f"bt: takes exactly two values, FROM,TO (got {len(parts)})")
    if any(part == "" for part in parts):
        raise ValueError(f"{op}: is missing a value")
    parse = OPERAND_PARSERS[kind]
    return Filter(field, op, tuple(parse(part) for part in parts))


def parse_filters(query: dict[str, Any], fields: dict[str, str]) -> list[Filter]:
    """The list filters of a query; one 400 naming every malformed one."""
    filters: list[Filter] = []
    failures: list[dict[str, str]] = []
    for field, kind in fields.items():
        raw = query.get(field)
        if raw is None:
            continue
        try:
            filters.append(parse_filter(field, str(raw), kind))
        except ValueError as exc:
            failures.append({"field": field, "message": f"{field} filter {raw!r} is invalid: {exc}; {FILTER_GRAMMAR}."})
    if failures:
        raise ApiError(ErrorKind.INVALID, failures[0]["message"], field=failures[0]["field"], details=failures)
    return filters


# -- indexes -----------------------------------------------------------------


class FieldIndex:
    """One field of one company's records: keys and ids in (key, id) order, and each id's key.

    `keys` and `ids` are parallel lists, so the ids whose key lies in a range
    are one slice (a C-level copy), whatever the size of the range. Records
    whose field is null are in `nulls`.
    """

    def __init__(self, pairs: list[tuple[Key | None, int]] | None = None) -> None:
        ordered = sorted((key, record_id) for key, record_id in pairs or [] if key is not None)
        self.keys: list[Key] = [key for key, _ in ordered]
        self.ids: list[int] = [record_id for _, record_id in ordered]
        self.key_of: dict[int, Key] = {record_id: key for key, record_id in ordered}
        self.nulls: set[int] = {record_id for key, record_id in pairs or [] if key is None}

    def _position(self, key: Key, record_id: int) -> int:
        low = bisect.bisect_left(self.keys, key)
        high = bisect.bisect_right(self.keys, key, low)
        return bisect.bisect_left(self.ids, record_id, low, high)

    def add(self, record_id: int, key: Key | None) -> None:
        if key is None:
            self.nulls.add(record_id)
            return
        position = self._position(key, record_id)
        self.keys.insert(position, key)
        self.ids.insert(position, record_id)
        self.key_of[record_id] = key

    def remove(self, record_id: int) -> None:
        key = self.key_of.pop(record_id, None)
        if key is None:
            self.nulls.discard(record_id)
            return
        position = self._position(key, record_id)
        del self.keys[position]
        del self.ids[position]

    def matching(self, condition: Filter) -> tuple[list[tuple[int, int]], bool]:
        """Where the records that pass the filter are: ranges of positions, and whether the nulls pass."""
        keys = self.keys
        op, operands, size = condition.operator, condition.operands, len(keys)
        if op in ("eq", "notEq", "in", "notIn"):
            ranges = [
                (bisect.bisect_left(keys, value), bisect.bisect_right(keys, value))
                for value in sorted(set(operands))  # type: ignore[type-var]
            ]
            if op in NEGATED_OPERATORS:
                return complement(ranges, size), True
            return ranges, False
        if op == "bt":
            low, high = operands
            if low > high:  # type: ignore[operator]
                return [], False
            return [(bisect.bisect_left(keys, low), bisect.bisect_right(keys, high))], False
        if op == "gt":
            return [(bisect.bisect_right(keys, operands[0]), size)], False
        if op == "gte":
            return [(bisect.bisect_left(keys, operands[0]), size)], False
        if op == "lt":
            return [(0, bisect.bisect_left(keys, operands[0]))], False
        return [(0, bisect.bisect_right(keys, operands[0]))], False  # lte


def complement(ranges: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The positions of 0..size outside sorted, disjoint ranges."""
    gaps: list[tuple[int, int]] = []
    start = 0
    for low, high in ranges:
        if low > start:
            gaps.append((start, low))
        start = max(start, high)
    if start < size:
        gaps.append((start, size))
    return gaps


class CompanyIndex:
    """The records of one company: their ids in order, and a FieldIndex per filterable field."""

    def __init__(self, records: Iterable[Record], fields: dict[str, str]) -> None:
        self.field_kinds = fields
        chosen = list(records)
        self.ids: list[int] = sorted(record["id"] for record in chosen)
        self.fields = {
            field: FieldIndex([(record_key(record, field, kind), record["id"]) for record in chosen])
            for field, kind in fields.items()
        }

    def add(self, record: Record) -> None:
        bisect.insort(self.ids, record["id"])
        for field, kind in self.field_kinds.items():
            self.fields[field].add(record["id"], record_key(record, field, kind))

    def remove(self, record: Record) -> None:
        position = bisect.bisect_left(self.ids, record["id"])
        if position < len(self.ids) and self.ids[position] == record["id"]:
            del self.ids[position]
        for index in self.fields.values():
            index.remove(record["id"])

    def update(self, record: Record) -> None:
        for field, kind in self.field_kinds.items():
            index = self.fields[field]
            key = record_key(record, field, kind)
            if index.key_of.get(record["id"]) != key:
                index.remove(record["id"])
                index.add(record["id"], key)

    def select(self, filters: list[Filter], offset: int, limit: int) -> list[int]:
        """Ids (ascending) of the page of records that pass every filter."""
        want = offset + limit
        if not filters:
            return self.ids[offset:want]
        total = len(self.ids)
        # The narrowest filter, counted with binary searches, drives the query.
        driver = filters[0]
        driver_ranges: list[tuple[int, int]] = []
        driver_nulls = False
        driver_count = total + 1
        for condition in filters:
            index = self.fields[condition.field]
            ranges, nulls = index.matching(condition)
            count = sum(max(0, high - low) for low, high in ranges) + (len(index.nulls) if nulls else 0)
            if count < driver_count:
                driver, driver_ranges, driver_nulls, driver_count = condition, ranges, nulls, count
        if driver_count == 0:
            return []
        # If matches are spread out, walking the ids in order finds `want` of them in
        # about `expected` steps. When that is much cheaper than sorting the driver's
        # matches, try it within a budget (matches may be bunched late in the id order).
        expected = want * total // driver_count
        if expected * 8 < driver_count:
            found = self._take(self.ids, filters, offset, want, budget=4 * expected + 64)
            if found is not None:
                return found
        # Otherwise sort the driver's matches (slices of ids; nearly sorted when keys follow ids).
        index = self.fields[driver.field]
        chosen: list[int] = list(index.nulls) if driver_nulls else []
        for low, high in driver_ranges:
            chosen += index.ids[low:high]
        chosen.sort()
        others = [condition for condition in filters if condition is not driver]
        if not others:
            return chosen[offset:want]
        return self._take(chosen, others, offset, want, budget=None) or []

    def _take(
        self, ids: list[int], filters: list[Filter], offset: int, want: int, budget: int | None
    ) -> list[int] | None:
        """Ids passing every filter, up to `want`, from `offset`; None if `budget` ids were looked at first."""
        checks = [(self.fields[condition.field].key_of.get, predicate(condition)) for condition in filters]
        found: list[int] = []
        if len(checks) == 1:  # the common case, without all() over a generator for every id (3x faster)
            key_of, passes = checks[0]
            for seen, record_id in enumerate(ids):
                if seen == budget:
                    return None
                if passes(key_of(record_id)):
                    found.append(record_id)
                    if len(found) >= want:
                        break
            return found[offset:]
        for seen, record_id in enumerate(ids):
            if seen == budget:
                return None
            if all(passes(key_of(record_id)) for key_of, passes in checks):
                found.append(record_id)
                if len(found) >= want:
                    break
        return found[offset:]


class CollectionIndex:
    """Every company's CompanyIndex for one collection of one store, valid for one store version."""

    def __init__(self, store: Store, collection: str, fields: dict[str, str]) -> None:
        self.version = store.version
        self.fields = fields
        by_company: dict[str, list[Record]] = {}
        for record in store.collection(collection).values():
            by_company.setdefault(record["company"], []).append(record)
        self.companies = {company: CompanyIndex(records, fields) for company, records in by_company.items()}

    def company(self, slug: str) -> CompanyIndex:
        found = self.companies.get(slug)
        if found is None:
            found = self.companies[slug] = CompanyIndex([], self.fields)
        return found


# -- the provider --------------------------------------------------------------


class Wethod(Provider):
    name = "wethod"
    fixture_schemas = {
        "companies": "Company",
        "projects": "FixtureProject",
        "invoices": "FixtureInvoice",
        "tokens": "Token",
    }
    rate_limit = RateLimit(5000, 3600)
    grant_field = "permissions"

    def __init__(self) -> None:
        self._indexes: weakref.WeakKeyDictionary[Store, dict[str, CollectionIndex]] = weakref.WeakKeyDictionary()

    def error_body(self, error: ApiError, status: int) -> Any:
        if error.kind is ErrorKind.INVALID:
            failures = [
                {"field": detail.get("field") or error.field or "body", "message": detail["message"]}
                for detail in error.details
            ] or [{"field": error.field or "body", "message": error.message}]
            return {"key": "invalid_data", "message": INVALID_DATA_MESSAGE, "failures": failures}
        return {"key": ERROR_KEYS.get(error.kind, "internal_error"), "message": error.message}

    def rate_limit_headers(self, status: RateStatus) -> dict[str, str]:
        headers = {"x-ratelimit-limit": str(status.limit), "x-ratelimit-remaining": str(status.remaining)}
        if not status.allowed:
            headers["x-ratelimit-retry-after"] = str(status.reset_in)
        return headers

    def fixture_key(self, collection: str, record: Record) -> object:
        if collection == "companies":
            return record["slug"]
        return super().fixture_key(collection, record)

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None:
        for invoice in fixtures.get("invoices", []):
            for field in INVOICE_NULLABLE:
                invoice.setdefault(field, None)
        for project in fixtures.get("projects", []):
            for field in PROJECT_NULLABLE:
                project.setdefault(field, None)
        super().seed(store, fixtures)
        # Records may have been replaced under the same id: rebuild indexes on next use.
        self._indexes.pop(store, None)

    def fixture_references(self, fixtures: dict[str, list[Record]], store: Store | None) -> list[str]:
        companies = {company["slug"] for company in fixtures.get("companies", [])}
        projects = {project["id"]: project["company"] for project in fixtures.get("projects", [])}
        if store is not None:
            companies |= set(store.collection("companies"))
            for project in store.collection("projects").values():
                projects.setdefault(project["id"], project["company"])
        problems: list[str] = []
        for collection in ("projects", "invoices"):
            for index, record in enumerate(fixtures.get(collection, [])):
                where = f"{collection}[{index}] (id={record['id']!r})"
                if record["company"] not in companies:
                    problems.append(f"{where}: field 'company': no company {record['company']!r}")
                if collection == "invoices":
                    owner = projects.get(record["project_id"])
                    if owner != record["company"]:
                        problems.append(
                            f"{where}: field 'project_id': no project {record['project_id']!r} "
                            f"in company {record['company']!r}"
                        )
                    if (record.get("payment_date") is not None) != (record["status"] == "paid"):
                        problems.append(f"{where}: field 'payment_date': must be set exactly when status is 'paid'")
        for index, token in enumerate(fixtures.get("tokens", [])):
            for slug in token.get("companies", []):
                if slug not in companies:
                    problems.append(
                        f"tokens[{index}] (token={token['token']!r}): field 'companies': no company {slug!r}"
                    )
        return problems

    def before(self, call: Call) -> None:
        """Every call acts on one company, which must exist and be open to the token (403 otherwise)."""
        slug = call.headers["Wethod-Company"]
        store = call.records
        grant = call.grant or {}
        allowed = grant.get("companies")
        reachable = [known for known in store.collection("companies") if allowed is None or known in allowed]
        if store.get("companies", slug) is None:
            raise ApiError(
                ErrorKind.FORBIDDEN,
                f"Unknown company '{slug}'. Companies this token can use: {', '.join(reachable) or 'none'}.",
            )
        if allowed is not None and slug not in allowed:
            raise ApiError(
                ErrorKind.FORBIDDEN,
                f"This token cannot access company '{slug}'. Companies it can use: {', '.join(reachable) or 'none'}.",
            )

    # -- invoices -------------------------------------------------------------

    @handles("listInvoices")
    def list_invoices(self, call: Call) -> Any:
        filters = parse_filters(call.query, INVOICE_FILTERS)
        store = call.records
        page = self.index(store, "invoices").company(company_of(call)).select(filters, *page_of(call))
        invoices = store.collection("invoices")
        return [wire(invoices[str(invoice_id)]) for invoice_id in page]

    @handles("createInvoice")
    def create_invoice(self, call: Call) -> Reply:
        body = clean_body(call.body)
        store = call.records
        company = company_of(call)
        project = project_reference(call, body["project_id"])
        if project["is_archived"]:
            raise ApiError(
                ErrorKind.PRECONDITION,
                f"Project {project['id']} is archived: invoices can only be created on projects that are not archived.",
            )
        index = self.index(store, "invoices")
        invoice_id = store.next_id("invoices")
        while store.get("invoices", invoice_id) is not None:
            invoice_id = store.next_id("invoices")
        now = timestamp(call)
        invoice: Record = {"company": company, "id": invoice_id, "created_at": now, "updated_at": now}
        for field in INVOICE_FIELDS[3:]:
            invoice[field] = body.get(field)
        invoice["status"] = "draft"
        store.put("invoices", invoice)
        index.company(company).add(invoice)
        index.version = store.version
        return Reply(wire(invoice), status=201)

    @handles("getInvoice")
    def get_invoice(self, call: Call) -> Any:
        return wire(invoice_of(call))

    @handles("updateInvoice")
    def update_invoice(self, call: Call) -> Any:
        body = clean_body(call.body)
        invoice = invoice_of(call)
        require_draft(call, invoice, "updated")
        current = project_of(call, invoice)
        target = project_reference(call, body["project_id"]) if "project_id" in body else current
        refuse_archived(invoice, current)
        if target["is_archived"]:
            raise ApiError(
                ErrorKind.PRECONDITION,
                f"Project {target['id']} is archived: invoices can only be moved to projects that are not archived.",
            )
        changes = {field: value for field, value in body.items() if not same(invoice.get(field), value)}
        if changes:
            invoice.update(changes)
            invoice["updated_at"] = timestamp(call)
            self.reindexed(call, invoice)
        return wire(invoice)

    @handles("deleteInvoice")
    def delete_invoice(self, call: Call) -> Reply:
        invoice = invoice_of(call)
        require_draft(call, invoice, "deleted")
        refuse_archived(invoice, project_of(call, invoice))
        store = call.records
        index = self.index(store, "invoices")
        store.remove("invoices", invoice["id"])
        index.company(invoice["company"]).remove(invoice)
        index.version = store.version
        return Reply(None, status=200)

    @handles("sendInvoice")
    def send_invoice(self, call: Call) -> Any:
        invoice = invoice_of(call)
        if invoice["status"] != "draft":
            raise precondition(invoice, "only draft invoices can be sent")
        refuse_archived(invoice, project_of(call, invoice))
        invoice["status"] = "sent"
        invoice["updated_at"] = timestamp(call)
        self.reindexed(call, invoice)
        return wire(invoice)

    @handles("setInvoicePaid")
    def set_paid(self, call: Call) -> Any:
        invoice = invoice_of(call)
        if invoice["status"] == "draft":
            raise precondition(invoice, "only sent (or paid) invoices can be set as paid; send it first")
        refuse_archived(invoice, project_of(call, invoice))
        payment_date = (call.body or {}).get("payment_date") or today(call)
        if invoice["status"] != "paid" or invoice["payment_date"] != payment_date:
            invoice["status"] = "paid"
            invoice["payment_date"] = payment_date
            invoice["updated_at"] = timestamp(call)
            self.reindexed(call, invoice)
        return wire(invoice)

    @handles("setInvoiceUnpaid")
    def set_unpaid(self, call: Call) -> Any:
        invoice = invoice_of(call)
        if invoice["status"] != "paid":
            raise precondition(invoice, "only paid invoices can be set as unpaid")
        refuse_archived(invoice, project_of(call, invoice))
        invoice["status"] = "sent"
        invoice["payment_date"] = None
        invoice["updated_at"] = timestamp(call)
        self.reindexed(call, invoice)
        return wire(invoice)

    # -- projects -------------------------------------------------------------

    @handles("listProjects")
    def list_projects(self, call: Call) -> Any:
        filters = parse_filters(call.query, PROJECT_FILTERS)
        store = call.records
        page = self.index(store, "projects").company(company_of(call)).select(filters, *page_of(call))
        projects = store.collection("projects")
        return [wire(projects[str(project_id)]) for project_id in page]

    @handles("getProject")
    def get_project(self, call: Call) -> Any:
        project = scoped(call, "projects", call.path["id"])
        if project is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"Project {short(call.path['id'])} not found.")
        return wire(project)

    # -- indexes --------------------------------------------------------------

    def index(self, store: Store, collection: str) -> CollectionIndex:
        """The store's index of a collection, rebuilt when records were added or removed behind our back."""
        indexes = self._indexes.get(store)
        if indexes is None:
            indexes = self._indexes[store] = {}
        found = indexes.get(collection)
        if found is None or found.version != store.version:
            fields = INVOICE_FILTERS if collection == "invoices" else PROJECT_FILTERS
            found = indexes[collection] = CollectionIndex(store, collection, fields)
        return found

    def reindexed(self, call: Call, invoice: Record) -> None:
        """Bring the invoice index up to date after an invoice changed in place."""
        self.index(call.records, "invoices").company(invoice["company"]).update(invoice)


# -- helpers -----------------------------------------------------------------


def company_of(call: Call) -> str:
    return call.headers["Wethod-Company"]


def page_of(call: Call) -> tuple[int, int]:
    return call.query.get("offset", 0), call.query.get("limit", DEFAULT_LIMIT)


def timestamp(call: Call) -> str:
    """Now on the tenant clock, as Wethod writes it: UTC with milliseconds."""
    t = call.clock_now.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


def today(call: Call) -> str:
    return call.clock_now.astimezone(UTC).date().isoformat()


def wire(record: Record) -> Record:
    return {field: value for field, value in record.items() if field not in INTERNAL_FIELDS}


def short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def scoped(call: Call, collection: str, record_id: object) -> Record | None:
    """A record of the call's company by id (path ids may have leading zeros), or None."""
    key = str(record_id).lstrip("0") or "0"
    record = call.records.get(collection, key)
    if record is None or record["company"] != company_of(call):
        return None
    return record


def invoice_of(call: Call) -> Record:
    invoice = scoped(call, "invoices", call.path["id"])
    if invoice is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"Invoice {short(call.path['id'])} not found.")
    return invoice


def project_of(call: Call, invoice: Record) -> Record:
    project = scoped(call, "projects", invoice["project_id"])
    if project is None:  # fixtures guarantee the reference; a restored snapshot might not
        raise ApiError(
            ErrorKind.PRECONDITION,
            f"Invoice {invoice['id']} names project {invoice['project_id']}, which does not exist; "
            "set project_id to an existing project first.",
        )
    return project


def project_reference(call: Call, project_id: int) -> Record:
    """The project a request body names: a project of the same company, or a 400 on project_id."""
    project = scoped(call, "projects", project_id)
    if project is None:
        raise ApiError(
            ErrorKind.INVALID,
            f"project_id {project_id} does not name a project of company '{company_of(call)}'.",
            field="project_id",
        )
    return project


def has_permission(call: Call, permission: str) -> bool:
    grant = call.grant
    return grant is None or "permissions" not in grant or permission in grant["permissions"]


def precondition(invoice: Record, requirement: str) -> ApiError:
    return ApiError(ErrorKind.PRECONDITION, f"Invoice {invoice['id']} is {invoice['status']}: {requirement}.")


def require_draft(call: Call, invoice: Record, verb: str) -> None:
    """PATCH and DELETE: a sent or paid invoice needs `invoices.edit_sent` (403), and even then is locked (412)."""
    if invoice["status"] == "draft":
        return
    if not has_permission(call, EDIT_SENT):
        raise ApiError(ErrorKind.FORBIDDEN, f"Missing permission: {EDIT_SENT}")
    raise precondition(invoice, f"only draft invoices can be {verb}")


def refuse_archived(invoice: Record, project: Record) -> None:
    if project["is_archived"]:
        raise ApiError(
            ErrorKind.PRECONDITION,
            f"Invoice {invoice['id']} belongs to project {project['id']}, which is archived: "
            "invoices of archived projects cannot be changed.",
        )


def clean_body(body: Record) -> Record:
    """The body of a create or update. JSON Schema counts 1.0 as an integer: integer fields store it as 1.

    (The engine already refuses NaN, infinities and lone surrogate escapes.)
    """
    return {
        field: int(value) if field in INTEGER_FIELDS and isinstance(value, float) else value
        for field, value in body.items()
    }


def same(old: Any, new: Any) -> bool:
    """Equal values of the same JSON type (so 1 and 1.0 are the same number, but not True and 1)."""
    return old == new and isinstance(old, bool) == isinstance(new, bool)

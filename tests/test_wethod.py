"""Wethod through HTTP: the invoice lifecycle and its 412s, permissions, companies, lists and filters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings
from sandbox.ratelimit import RateLimit

TOKEN = "demo_wethod_token"
VERSION = "2024-06-15"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# The demo company's invoices: id -> (status, project_id). Invoice 5 is on archived project 3.
DRAFT, SENT, PAID, ARCHIVED_PAID = 1, 2, 3, 5


def headers(token: str = TOKEN, company: str = "acme", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Wethod-Company": company, "Wethod-Version": VERSION, **extra}


def url(path: str) -> str:
    return f"/wethod/api{path}"


def create(client: TestClient, token: str = TOKEN, **fields: Any) -> dict[str, Any]:
    body = {"project_id": 1, "value": 1000, "issue_date": "2024-06-15", **fields}
    response = client.post(url("/invoices"), headers=headers(token), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def act(client: TestClient, invoice_id: int, action: str, token: str = TOKEN, **kwargs: Any) -> httpx.Response:
    return client.post(url(f"/invoices/{invoice_id}:{action}"), headers=headers(token), **kwargs)


def set_clock(client: TestClient, token: str, **change: Any) -> None:
    response = client.post(f"/__sandbox/tenants/{token}/clock", json=change)
    assert response.status_code == 200, response.text


def listed_ids(client: TestClient, query: str = "", token: str = TOKEN, company: str = "acme") -> list[int]:
    response = client.get(url(f"/invoices?{query}"), headers=headers(token, company))
    assert response.status_code == 200, response.text
    return [invoice["id"] for invoice in response.json()]


def failures(response: httpx.Response) -> list[str]:
    body = response.json()
    assert response.status_code == 400, response.text
    assert body["key"] == "invalid_data"
    return [failure["field"] for failure in body["failures"]]


@pytest.fixture(scope="module")
def shared_app() -> Starlette:
    """One app for the module (building one takes a while); tests start from fresh tenants."""
    return create_app(Settings(validate_responses=True))


@pytest.fixture
def client(shared_app: Starlette) -> Iterator[TestClient]:
    with TestClient(shared_app) as test_client:
        assert test_client.post("/__sandbox/reset").status_code == 200
        yield test_client


@pytest.fixture
def frozen(client: TestClient) -> TestClient:
    """The demo token's clock frozen at 2026-03-10T18:18:59.457Z."""
    set_clock(client, TOKEN, frozen=True, set="2026-03-10T18:18:59.457Z")
    return client


# -- the lifecycle --------------------------------------------------------------


def test_a_new_invoice_is_a_draft_with_every_field_present(frozen: TestClient) -> None:
    invoice = create(frozen, invoice_number="INV-1", exchange_rate=1.1)
    assert invoice["status"] == "draft"
    assert invoice["payment_date"] is None
    assert invoice["invoice_number"] == "INV-1"
    assert invoice["notes"] is None
    assert invoice["created_at"] == invoice["updated_at"] == "2026-03-10T18:18:59.457Z"
    assert "company" not in invoice
    assert list(invoice) == [
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
    ]
    assert invoice["id"] == 9  # above every fixture id
    assert frozen.get(url("/invoices/9"), headers=headers()).json() == invoice


def test_send_set_paid_set_unpaid(frozen: TestClient) -> None:
    invoice = create(frozen)
    set_clock(frozen, TOKEN, advance=60)
    sent = act(frozen, invoice["id"], "send")
    assert sent.status_code == 200
    assert sent.json()["status"] == "sent"
    assert sent.json()["updated_at"] == "2026-03-10T18:19:59.457Z"
    assert sent.json()["created_at"] == invoice["created_at"]

    paid = act(frozen, invoice["id"], "set-paid", json={"payment_date": "2026-03-01"})
    assert paid.status_code == 200
    assert (paid.json()["status"], paid.json()["payment_date"]) == ("paid", "2026-03-01")

    unpaid = act(frozen, invoice["id"], "set-unpaid")
    assert unpaid.status_code == 200
    assert (unpaid.json()["status"], unpaid.json()["payment_date"]) == ("sent", None)

    # No body, an empty body and a null date all mean today on the tenant's clock.
    set_clock(frozen, TOKEN, set="2026-04-01T23:59:59Z")
    for kwargs in ({}, {"json": {}}, {"json": {"payment_date": None}}):
        paid = act(frozen, invoice["id"], "set-paid", **kwargs)
        assert paid.status_code == 200, paid.text
        assert (paid.json()["status"], paid.json()["payment_date"]) == ("paid", "2026-04-01")
        assert act(frozen, invoice["id"], "set-unpaid").status_code == 200


def test_set_paid_on_a_paid_invoice_corrects_the_payment_date(frozen: TestClient) -> None:
    before = frozen.get(url(f"/invoices/{PAID}"), headers=headers()).json()
    same = act(frozen, PAID, "set-paid", json={"payment_date": before["payment_date"]})
    assert same.json() == before  # nothing changed, not even updated_at
    moved = act(frozen, PAID, "set-paid", json={"payment_date": "2024-07-20"})
    assert moved.status_code == 200
    assert (moved.json()["status"], moved.json()["payment_date"]) == ("paid", "2024-07-20")
    assert moved.json()["updated_at"] == "2026-03-10T18:18:59.457Z"


def test_patch_changes_only_what_it_names(frozen: TestClient) -> None:
    invoice = create(frozen, notes="first", purchase_order="PO-1")
    set_clock(frozen, TOKEN, advance=1.5)
    patched = frozen.patch(
        url(f"/invoices/{invoice['id']}"), headers=headers(), json={"notes": None, "value": 250.5, "project_id": 2}
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["notes"], body["value"], body["project_id"], body["purchase_order"]) == (None, 250.5, 2, "PO-1")
    assert body["updated_at"] == "2026-03-10T18:19:00.957Z"
    # A PATCH that changes nothing leaves updated_at alone.
    set_clock(frozen, TOKEN, advance=60)
    again = frozen.patch(url(f"/invoices/{invoice['id']}"), headers=headers(), json={"value": 250.5, "notes": None})
    assert again.json() == body


def test_delete_a_draft(client: TestClient) -> None:
    invoice = create(client)
    deleted = client.delete(url(f"/invoices/{invoice['id']}"), headers=headers())
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert client.get(url(f"/invoices/{invoice['id']}"), headers=headers()).status_code == 404
    assert invoice["id"] not in listed_ids(client)
    again = client.delete(url(f"/invoices/{invoice['id']}"), headers=headers())
    assert again.status_code == 404
    assert again.json() == {"key": "not_found", "message": f"Invoice {invoice['id']} not found."}


REFUSED = [
    # (invoice, method, path suffix, kwargs, words the message must contain)
    (DRAFT, "POST", ":set-unpaid", {}, ["is draft", "only paid invoices"]),
    (SENT, "POST", ":set-unpaid", {}, ["is sent", "only paid invoices"]),
    (DRAFT, "POST", ":set-paid", {"json": {"payment_date": "2024-08-01"}}, ["is draft", "only sent"]),
    (SENT, "POST", ":send", {}, ["is sent", "only draft invoices"]),
    (PAID, "POST", ":send", {}, ["is paid", "only draft invoices"]),
    # Invoices of archived projects cannot be changed at all.
    (ARCHIVED_PAID, "POST", ":set-unpaid", {}, ["archived"]),
    (ARCHIVED_PAID, "POST", ":set-paid", {}, ["archived"]),
]


@pytest.mark.parametrize(("invoice_id", "method", "suffix", "kwargs", "words"), REFUSED)
def test_a_refused_transition_is_a_412_that_changes_nothing(
    client: TestClient, invoice_id: int, method: str, suffix: str, kwargs: dict[str, Any], words: list[str]
) -> None:
    before = client.get(url(f"/invoices/{invoice_id}"), headers=headers()).content
    listing = client.get(url("/invoices"), headers=headers()).content
    response = client.request(method, url(f"/invoices/{invoice_id}{suffix}"), headers=headers(), **kwargs)
    assert response.status_code == 412
    body = response.json()
    assert body["key"] == "precondition_failure"
    assert set(body) == {"key", "message"}
    for word in words:
        assert word in body["message"]
    assert client.get(url(f"/invoices/{invoice_id}"), headers=headers()).content == before
    assert client.get(url("/invoices"), headers=headers()).content == listing


def test_archived_projects_take_no_new_invoices(client: TestClient) -> None:
    body = {"project_id": 3, "value": 1, "issue_date": "2024-01-01"}
    created = client.post(url("/invoices"), headers=headers(), json=body)
    assert created.status_code == 412
    assert "Project 3 is archived" in created.json()["message"]
    moved = client.patch(url(f"/invoices/{DRAFT}"), headers=headers(), json={"project_id": 3})
    assert moved.status_code == 412
    assert listed_ids(client) == [1, 2, 3, 4, 5]


# -- permissions ------------------------------------------------------------------


def test_set_paid_and_set_unpaid_need_edit_sent(client: TestClient) -> None:
    token = "demo_wethod_no_edit_sent"
    for invoice_id, action in ((SENT, "set-paid"), (PAID, "set-unpaid")):
        before = client.get(url(f"/invoices/{invoice_id}"), headers=headers(token)).content
        response = act(client, invoice_id, action, token)
        assert response.status_code == 403
        assert response.json() == {"key": "forbidden", "message": "Missing permission: invoices.edit_sent"}
        assert client.get(url(f"/invoices/{invoice_id}"), headers=headers(token)).content == before
    # Drafts are this token's to create, edit, send and delete.
    invoice = create(client, token)
    patched = client.patch(url(f"/invoices/{invoice['id']}"), headers=headers(token), json={"notes": "ok"})
    assert patched.status_code == 200
    assert act(client, invoice["id"], "send", token).status_code == 200


def test_touching_a_sent_invoice_needs_edit_sent_before_its_status_is_checked(client: TestClient) -> None:
    token = "demo_wethod_no_edit_sent"
    patch = client.patch(url(f"/invoices/{SENT}"), headers=headers(token), json={"notes": "x"})
    assert patch.status_code == 403
    assert patch.json()["message"] == "Missing permission: invoices.edit_sent"
    delete = client.delete(url(f"/invoices/{PAID}"), headers=headers(token))
    assert delete.json() == {"key": "forbidden", "message": "Missing permission: invoices.edit_sent"}
    # A draft needs no invoices.edit_sent; an unknown invoice is a 404 first.
    assert client.delete(url(f"/invoices/{DRAFT}"), headers=headers(token)).status_code == 200
    assert client.delete(url("/invoices/404"), headers=headers(token)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("POST", "/invoices", "invoices.create"),
        ("PATCH", f"/invoices/{DRAFT}", "invoices.edit"),
        ("DELETE", f"/invoices/{DRAFT}", "invoices.delete"),
        ("POST", f"/invoices/{DRAFT}:send", "invoices.send"),
        ("POST", f"/invoices/{SENT}:set-paid", "invoices.edit_sent"),
        ("POST", f"/invoices/{PAID}:set-unpaid", "invoices.edit_sent"),
    ],
)
def test_a_read_only_token_cannot_write(client: TestClient, method: str, path: str, permission: str) -> None:
    token = "demo_wethod_readonly"
    response = client.request(method, url(path), headers=headers(token), json={})
    assert response.status_code == 403
    assert response.json() == {"key": "forbidden", "message": f"Missing permission: {permission}"}
    assert client.get(url("/invoices"), headers=headers(token)).status_code == 200
    assert client.get(url("/projects"), headers=headers(token)).status_code == 200


def test_permissions_granted_through_loaded_fixtures(client: TestClient) -> None:
    token = "invoices-only"
    grant = {"wethod": {"tokens": [{"token": token, "permissions": ["invoices.view_other"]}]}}
    assert client.post(f"/__sandbox/tenants/{token}/fixtures", json=grant).status_code == 200
    assert client.get(url("/invoices"), headers=headers(token)).status_code == 200
    projects = client.get(url("/projects"), headers=headers(token))
    assert projects.json() == {"key": "forbidden", "message": "Missing permission: pipeline.view"}


# -- requests: auth, company, version --------------------------------------------------


def test_authorization_is_required(client: TestClient) -> None:
    for value in (None, "Basic abc", "Bearer", "Bearer two words"):
        sent = headers()
        del sent["Authorization"]
        if value is not None:
            sent["Authorization"] = value
        response = client.get(url("/invoices"), headers=sent)
        assert response.status_code == 401
        assert response.json()["key"] == "unauthorized"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Wethod-Company", None),
        ("Wethod-Company", "Acme Inc"),
        ("Wethod-Version", None),
        ("Wethod-Version", "latest"),
        ("Wethod-Version", "2024-02-30"),
        ("Wethod-Version", "2024-6-15"),
    ],
)
def test_company_and_version_headers_are_validated(client: TestClient, name: str, value: str | None) -> None:
    sent = headers()
    del sent[name]
    if value is not None:
        sent[name] = value
    response = client.get(url("/invoices"), headers=sent)
    assert failures(response) == [name]


def test_any_real_version_date_is_accepted(client: TestClient) -> None:
    for version in ("2020-01-01", "2024-02-29", "2099-12-31"):
        response = client.get(url("/invoices"), headers={**headers(), "Wethod-Version": version})
        assert response.status_code == 200


def test_data_is_scoped_by_company(client: TestClient) -> None:
    assert listed_ids(client, company="acme") == [1, 2, 3, 4, 5]
    assert listed_ids(client, company="globex") == [6, 7, 8]
    response = client.get(url("/invoices/6"), headers=headers(company="acme"))
    assert response.status_code == 404
    assert act(client, 6, "send").status_code == 404  # globex's draft, seen from acme
    assert client.get(url("/projects/4"), headers=headers(company="acme")).status_code == 404
    # project_id on create must be a project of the same company.
    body = {"project_id": 4, "value": 1, "issue_date": "2024-01-01"}
    assert failures(client.post(url("/invoices"), headers=headers(), json=body)) == ["project_id"]
    created = client.post(url("/invoices"), headers=headers(company="globex"), json=body)
    assert created.status_code == 201
    assert created.json()["id"] not in listed_ids(client, company="acme")


def test_unknown_and_forbidden_companies_are_403(client: TestClient) -> None:
    unknown = client.get(url("/invoices"), headers=headers(company="initech"))
    assert unknown.status_code == 403
    assert unknown.json() == {
        "key": "forbidden",
        "message": "Unknown company 'initech'. Companies this token can use: acme, globex.",
    }
    token = "demo_wethod_acme_only"
    assert client.get(url("/invoices"), headers=headers(token, "acme")).status_code == 200
    refused = client.post(url("/invoices/6:send"), headers=headers(token, "globex"))
    assert refused.status_code == 403
    assert refused.json()["message"] == "This token cannot access company 'globex'. Companies it can use: acme."
    assert listed_ids(client, token=TOKEN, company="globex") == [6, 7, 8]


def test_tokens_have_separate_worlds(client: TestClient) -> None:
    invoice = create(client, "someone-else")
    assert invoice["id"] not in listed_ids(client)
    assert invoice["id"] in listed_ids(client, token="someone-else")


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"value": 1, "issue_date": "2024-01-01"}, ["project_id"]),
        ({"project_id": 1, "issue_date": "2024-01-01"}, ["value"]),
        ({"project_id": 1, "value": 1}, ["issue_date"]),
        ({"project_id": 1, "value": 1, "issue_date": "2024-02-30"}, ["issue_date"]),
        ({"project_id": 1, "value": "1", "issue_date": "2024-01-01"}, ["value"]),
        ({"project_id": 0, "value": 1, "issue_date": "2024-01-01"}, ["project_id"]),
        ({"project_id": 99, "value": 1, "issue_date": "2024-01-01"}, ["project_id"]),
        ({"project_id": 1, "value": 1, "issue_date": "2024-01-01", "invoice_number": "x" * 256}, ["invoice_number"]),
    ],
)
def test_invalid_create_bodies_are_400_naming_the_field(
    client: TestClient, body: dict[str, Any], fields: list[str]
) -> None:
    response = client.post(url("/invoices"), headers=headers(), json=body)
    assert failures(response) == fields
    assert listed_ids(client) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("field", ["status", "payment_date", "id", "company"])
def test_status_and_payment_date_cannot_be_written(client: TestClient, field: str) -> None:
    body = {"project_id": 1, "value": 1, "issue_date": "2024-01-01", field: "paid"}
    assert client.post(url("/invoices"), headers=headers(), json=body).status_code == 400
    before = client.get(url(f"/invoices/{DRAFT}"), headers=headers()).content
    assert client.patch(url(f"/invoices/{DRAFT}"), headers=headers(), json={field: "paid"}).status_code == 400
    assert client.get(url(f"/invoices/{DRAFT}"), headers=headers()).content == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"project_id": 1, "value": NaN, "issue_date": "2024-01-01"}',
        b'{"project_id": 1, "value": Infinity, "issue_date": "2024-01-01"}',
        b'{"project_id": 1, "value": 1e999, "issue_date": "2024-01-01"}',
        b'{"project_id": 1, "value": 1, "issue_date": "2024-01-01", "exchange_rate": NaN}',
        b'{"project_id": 1, "value": 1, "issue_date": "2024-01-01", "notes": "lone \\ud800 surrogate"}',
        b"not json",
        b"[1, 2]",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_bodies_that_are_not_plain_json_objects_are_400(client: TestClient, raw: bytes) -> None:
    sent = {**headers(), "Content-Type": "application/json"}
    response = client.post(url("/invoices"), headers=sent, content=raw)
    assert response.status_code == 400
    assert response.json()["failures"]
    patched = client.patch(url(f"/invoices/{DRAFT}"), headers=sent, content=raw.replace(b'"project_id": 1, ', b""))
    assert patched.status_code == 400
    assert listed_ids(client) == [1, 2, 3, 4, 5]


def test_integer_valued_numbers_are_integers(client: TestClient) -> None:
    invoice = create(client, project_id=2.0, vat_rate_id=3.0, value=10.0)
    assert (invoice["project_id"], invoice["vat_rate_id"], invoice["value"]) == (2, 3, 10.0)
    assert isinstance(invoice["project_id"], int)
    assert listed_ids(client, "project_id=2") == [3, 4, invoice["id"]]


def test_non_nullable_fields_cannot_be_cleared(client: TestClient) -> None:
    for field in ("value", "issue_date", "project_id"):
        response = client.patch(url(f"/invoices/{DRAFT}"), headers=headers(), json={field: None})
        assert failures(response) == [field]


def test_path_ids(client: TestClient) -> None:
    assert failures(client.get(url("/invoices/abc"), headers=headers())) == ["id"]
    assert failures(client.post(url("/invoices/1x:send"), headers=headers())) == ["id"]
    assert client.get(url("/invoices/001"), headers=headers()).json()["id"] == 1
    assert client.get(url("/invoices/" + "9" * 5000), headers=headers()).status_code == 404
    assert client.put(url("/invoices/1"), headers=headers()).status_code == 405


# -- lists ------------------------------------------------------------------------------------


def test_offset_and_limit(client: TestClient) -> None:
    assert listed_ids(client, "limit=2") == [1, 2]
    assert listed_ids(client, "offset=2&limit=2") == [3, 4]
    assert listed_ids(client, "offset=4") == [5]
    assert listed_ids(client, "offset=50") == []
    cases = [("limit=0", "limit"), ("limit=101", "limit"), ("offset=-1", "offset"), ("limit=x", "limit")]
    cases += [("limit=" + "9" * 5000, "limit"), ("offset=" + "9" * 5000, "offset")]  # beyond Python's int()
    for query, field in cases:
        assert failures(client.get(url(f"/invoices?{query}"), headers=headers())) == [field]


def test_lists_are_capped_at_100(client: TestClient) -> None:
    records = [
        {"company": "acme", "id": 1000 + n, "created_at": "2024-01-01T00:00:00.000Z"}
        | {"updated_at": "2024-01-01T00:00:00.000Z", "status": "draft", "value": n, "issue_date": "2024-01-01"}
        | {"project_id": 1}
        for n in range(120)
    ]
    loaded = client.post(f"/__sandbox/tenants/{TOKEN}/fixtures", json={"wethod": {"invoices": records}})
    assert loaded.status_code == 200, loaded.text
    assert len(listed_ids(client)) == 100
    assert listed_ids(client, "offset=100&limit=100") == list(range(1095, 1120))
    assert create(client)["id"] == 1120


# Demo company acme: id, status, project, issue date, payment date, updated_at
#   1 draft p1 2024-07-31  -           2024-07-01T09:30:00.000Z
#   2 sent  p1 2024-05-31  -           2024-06-03T08:45:10.006Z
#   3 paid  p2 2024-06-15  2024-07-15  2024-07-16T07:59:30.442Z
#   4 sent  p2 2024-06-28  -           2024-06-28T12:31:47.655Z
#   5 paid  p3 2023-11-30  2023-12-28  2023-12-28T09:00:00.000Z
FILTERS = [
    ("project_id=1", [1, 2]),
    ("project_id=eq:2", [3, 4]),
    ("project_id=notEq:1", [3, 4, 5]),
    ("project_id=in:1,3", [1, 2, 5]),
    ("project_id=notIn:1,2", [5]),
    ("project_id=gt:1", [3, 4, 5]),
    ("project_id=gte:2", [3, 4, 5]),
    ("project_id=lt:2", [1, 2]),
    ("project_id=lte:2", [1, 2, 3, 4]),
    ("project_id=bt:2,3", [3, 4, 5]),
    ("project_id=bt:3,2", []),
    ("issue_date=2024-06-15", [3]),
    ("issue_date=gte:2024-06-01", [1, 3, 4]),
    ("issue_date=bt:2024-05-31,2024-06-15", [2, 3]),
    ("issue_date=lt:2024-01-01", [5]),
    ("payment_date=gte:2024-01-01", [3]),
    ("payment_date=notEq:2024-07-15", [1, 2, 4, 5]),
    ("payment_date=notIn:2023-12-28", [1, 2, 3, 4]),
    ("payment_date=in:2023-12-28,2024-07-15", [3, 5]),
    ("payment_date=lte:2099-01-01", [3, 5]),
    ("updated_at=gte:2024-06-28T12:31:47.655Z", [1, 3, 4]),
    ("updated_at=gt:2024-06-28T12:31:47.655Z", [1, 3]),
    ("updated_at=2024-06-03T10:45:10.006%2B02:00", [2]),
    ("updated_at=lt:2024-06-03T10:45:10.006%2B02:00", [5]),
    ("updated_at=lte:2024-06-03T10:45:10.006%2B02:00", [2, 5]),
    ("updated_at=bt:2024-01-01T00:00:00Z,2024-06-30T00:00:00Z", [2, 4]),
    ("project_id=2&issue_date=gte:2024-06-20", [4]),
    ("project_id=in:1,2&payment_date=notEq:2099-01-01&limit=2&offset=1", [2, 3]),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_filters(client: TestClient, query: str, expected: list[int]) -> None:
    assert listed_ids(client, query) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("project_id=one", "project_id"),
        ("project_id=eq:", "project_id"),
        ("project_id=bt:1", "project_id"),
        ("project_id=bt:1,2,3", "project_id"),
        ("project_id=in:", "project_id"),
        ("project_id=like:1", "project_id"),
        ("issue_date=gte:2024-02-30", "issue_date"),
        ("issue_date=bt:2024-01-01,2024-13-01", "issue_date"),
        ("payment_date=2024/01/01", "payment_date"),
        ("updated_at=2024-01-01", "updated_at"),
        ("updated_at=gte:2024-01-01T00:00:00", "updated_at"),
        ("updated_at=2024-01-01T20:00:00+02:00", "updated_at"),  # an unencoded + is a space
    ],
)
def test_a_malformed_filter_is_a_400_naming_it(client: TestClient, query: str, field: str) -> None:
    assert failures(client.get(url(f"/invoices?{query}"), headers=headers())) == [field]


def test_every_impossible_date_is_reported(client: TestClient) -> None:
    response = client.get(
        url("/invoices?issue_date=2024-02-30&payment_date=in:2024-01-01,2023-02-29"), headers=headers()
    )
    assert failures(response) == ["issue_date", "payment_date"]
    assert "2023-02-29" in response.json()["failures"][1]["message"]


def test_filters_follow_changes(frozen: TestClient) -> None:
    invoice = create(frozen, project_id=2, issue_date="2030-01-01")
    assert listed_ids(frozen, "issue_date=gte:2030-01-01") == [invoice["id"]]
    frozen.patch(url(f"/invoices/{invoice['id']}"), headers=headers(), json={"issue_date": "2031-01-01"})
    assert listed_ids(frozen, "issue_date=2030-01-01") == []
    act(frozen, invoice["id"], "send")
    act(frozen, invoice["id"], "set-paid", json={"payment_date": "2031-02-02"})
    assert listed_ids(frozen, "payment_date=2031-02-02") == [invoice["id"]]
    assert listed_ids(frozen, "updated_at=2026-03-10T18:18:59.457Z") == [invoice["id"]]
    act(frozen, invoice["id"], "set-unpaid")
    assert listed_ids(frozen, "payment_date=2031-02-02") == []
    second = create(frozen)
    frozen.delete(url(f"/invoices/{second['id']}"), headers=headers())
    assert second["id"] not in listed_ids(frozen, "project_id=1")


# -- projects -------------------------------------------------------------------------------


def test_projects(client: TestClient) -> None:
    listing = client.get(url("/projects"), headers=headers())
    assert listing.status_code == 200
    assert [project["id"] for project in listing.json()] == [1, 2, 3]
    assert all("company" not in project for project in listing.json())
    project = client.get(url("/projects/3"), headers=headers()).json()
    assert (project["name"], project["is_archived"]) == ("Legacy intranet maintenance", True)
    assert client.get(url("/projects/9"), headers=headers()).json()["key"] == "not_found"
    recent = client.get(url("/projects?updated_at=gte:2024-05-01T00:00:00Z&limit=1&offset=1"), headers=headers())
    assert [project["id"] for project in recent.json()] == [2]
    globex = client.get(url("/projects"), headers=headers(company="globex"))
    assert [project["id"] for project in globex.json()] == [4, 5]


# -- rate limit --------------------------------------------------------------------------------


@pytest.fixture
def limited() -> Iterator[TestClient]:
    app = create_app(Settings(validate_responses=True, rate_limits={"wethod": RateLimit(3, 3600)}))
    with TestClient(app) as client:
        yield client


def test_rate_limit_headers_and_429(limited: TestClient) -> None:
    set_clock(limited, TOKEN, frozen=True)
    remaining = [limited.get(url("/invoices"), headers=headers()).headers["x-ratelimit-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = limited.post(url(f"/invoices/{DRAFT}:send"), headers=headers())
    assert refused.status_code == 429
    assert refused.json()["key"] == "too_many_requests"
    assert refused.headers["x-ratelimit-limit"] == "3"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-retry-after"] == "3600"
    # The refused send changed nothing; another token has its own count.
    assert limited.get(url(f"/invoices/{DRAFT}"), headers=headers("other")).status_code == 200
    set_clock(limited, TOKEN, advance=1800)
    assert limited.get(url("/invoices"), headers=headers()).headers["x-ratelimit-retry-after"] == "1800"
    set_clock(limited, TOKEN, advance=1800)
    fresh = limited.post(url(f"/invoices/{DRAFT}:send"), headers=headers())
    assert fresh.status_code == 200
    assert fresh.headers["x-ratelimit-remaining"] == "2"
    assert "x-ratelimit-retry-after" not in fresh.headers


def test_the_default_limit_is_5000_an_hour(client: TestClient) -> None:
    response = client.get(url("/invoices"), headers=headers())
    assert response.headers["x-ratelimit-limit"] == "5000"
    assert response.headers["x-ratelimit-remaining"] == "4999"


# -- fixtures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ({"invoices": [{"project_id": 4}]}, "no project 4 in company 'acme'"),
        ({"invoices": [{"status": "paid"}]}, "payment_date': must be set exactly when status is 'paid'"),
        ({"invoices": [{"company": "initech"}]}, "no company 'initech'"),
        ({"invoices": [{"status": "void"}]}, "status"),
        ({"tokens": [{"token": "t", "companies": ["initech"]}]}, "no company 'initech'"),
        ({"tokens": [{"token": "t", "permissions": ["invoices.read"]}]}, "permissions"),
    ],
)
def test_fixtures_are_checked(client: TestClient, records: dict[str, list[dict[str, Any]]], problem: str) -> None:
    invoice = {
        "company": "acme",
        "id": 77,
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
        "status": "draft",
        "value": 1,
        "issue_date": "2024-01-01",
        "project_id": 1,
    }
    if "invoices" in records:
        records = {"invoices": [invoice | records["invoices"][0]]}
    response = client.post(f"/__sandbox/tenants/{TOKEN}/fixtures", json={"wethod": records})
    assert response.status_code == 400
    assert problem in response.text
    assert listed_ids(client) == [1, 2, 3, 4, 5]


def test_a_400_lists_every_failing_field(client: TestClient) -> None:
    response = client.post(
        url("/invoices"), headers=headers(), json={"project_id": "one", "value": "a lot", "issue_date": "someday"}
    )
    assert response.status_code == 400
    assert sorted(failures(response)) == ["issue_date", "project_id", "value"]

"""Payt's Customer API beyond tasks, through HTTP: upserts, payments, actions, references, deleted lists, scopes."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

TOKEN = "payt-api-test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = "adm_1001"
NOW = "2026-11-22T10:00:00Z"


@pytest.fixture(autouse=True)
def frozen(client: TestClient) -> None:
    client.post(f"/__sandbox/tenants/{TOKEN}/clock", json={"set": NOW, "frozen": True})


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(f"/payt/v1/{path}", params={"administration_id": ADMIN, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def invoice(client: TestClient, number: str) -> dict[str, Any]:
    return get(client, f"invoices/{number}", identifier_type="invoice_number")


def new_debtor(client: TestClient, number: str = "D-200") -> dict[str, Any]:
    body = {
        "administration_id": ADMIN,
        "debtors": [
            {
                "debtor_number": number,
                "debtor_identifier": f"erp-{number}",
                "name": "Drukkerij Inkt",
                "country_code": "BE",
            }
        ],
    }
    response = client.post("/payt/v1/debtors", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()


def upsert_invoice(client: TestClient, **fields: Any) -> dict[str, Any]:
    record = {
        "invoice_number": "2026-0200",
        "debtor_number": "D-200",
        "currency_code": "EUR",
        "invoice_date": "2026-11-01",
        "due_date": "2026-12-01",
        "amount_total": "121",
        "amount_open": "121",
        "book_amount_total": "121",
        "book_amount_open": "121",
        **fields,
    }
    response = client.post("/payt/v1/invoices", json={"administration_id": ADMIN, "invoices": [record]}, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_debtor_and_its_invoice_are_created_by_the_callers_own_keys(client: TestClient) -> None:
    assert new_debtor(client) == {"success": True, "count": 1, "errors": {}}
    debtor = get(client, "debtors/D-200", identifier_type="debtor_number")
    assert debtor["postal_address"] == {"city": "", "country_code": "BE"}
    assert debtor["updated_at"] == NOW
    assert upsert_invoice(client) == {"success": True, "count": 1, "errors": {}}
    created = invoice(client, "2026-0200")
    assert created["debtor_id"] == debtor["id"]
    assert (created["total_amount"], created["open_amount"], created["book_open_amount"]) == ("121.00",) * 3
    assert "credit_case_id" not in created and "payment_date" not in created  # no nulls: absent fields are left out
    # The same key again updates the record instead of creating another one.
    upsert_invoice(client, description="Printing, November")
    assert invoice(client, "2026-0200")["description"] == "Printing, November"
    assert len(get(client, "invoices", invoice_numbers="2026-0200")["data"]) == 1


def test_a_record_that_fails_is_reported_under_its_key_and_the_others_are_applied(client: TestClient) -> None:
    new_debtor(client)
    good = {
        "invoice_number": "2026-0201",
        "debtor_number": "D-200",
        "currency_code": "EUR",
        "invoice_date": "2026-11-01",
        "due_date": "2026-12-01",
        "amount_total": "10",
        "amount_open": "10",
        "book_amount_total": "10",
        "book_amount_open": "10",
    }
    bad = {**good, "invoice_number": "2026-0202", "debtor_number": "D-404", "payment_condition": "NOPE"}
    response = client.post(
        "/payt/v1/invoices", json={"administration_id": ADMIN, "invoices": [bad, good]}, headers=AUTH
    )
    assert response.status_code == 201
    assert response.json() == {
        "success": True,
        "count": 1,
        "errors": {"2026-0202": ["Debtor D-404 not found."]},
    }
    assert get(client, "invoices", invoice_numbers="2026-0202,2026-0201")["data"][0]["invoice_number"] == "2026-0201"
    assert len(get(client, "invoices", invoice_numbers="2026-0202")["data"]) == 0


def test_a_lower_open_amount_registers_a_payment_and_the_credit_case_follows(client: TestClient) -> None:
    before = get(client, "credit_cases/cc_301")
    assert before["open_amount"] == "1000.00"
    body = {"administration_id": ADMIN, "invoices": [{"invoice_number": "2026-0042", "amount_open": "400.00"}]}
    response = client.patch("/payt/v1/invoices", json=body, headers=AUTH)
    assert response.json() == {"success": True, "count": 1, "errors": {}}
    updated = invoice(client, "2026-0042")
    assert (updated["open_amount"], updated["book_open_amount"]) == ("400.00", "400.00")
    payments = get(client, "payments", invoice_numbers="2026-0042")["data"]
    assert [(p["total_amount"], p["transaction_type"], p["payment_date"]) for p in payments] == [
        ("210.00", "payment", "2026-11-10"),
        ("600.00", "payment", "2026-11-22"),
    ]
    assert get(client, "credit_cases/cc_301")["open_amount"] == "400.00"
    assert get(client, "payments", credit_case_ids="cc_301", ids=payments[1]["id"])["data"] == [payments[1]]


def test_payments_replace_the_invoices_payments_and_dropped_ones_are_listed_as_deleted(client: TestClient) -> None:
    payments = [
        {"origin_identifier": "BANK-1001", "amount": "210"},
        {"origin_identifier": "CREDIT-1", "amount": "1000", "transaction_type": "credit"},
    ]
    body = {"administration_id": ADMIN, "invoices": [{"invoice_number": "2026-0042", "payments": payments}]}
    assert client.patch("/payt/v1/invoices", json=body, headers=AUTH).json()["count"] == 1
    paid = invoice(client, "2026-0042")
    assert paid["open_amount"] == "0.00" and paid["payment_date"] == "2026-11-22"
    assert get(client, "invoices", paid="true", ids="inv_2026_0042")["data"][0]["id"] == "inv_2026_0042"
    body["invoices"][0]["payments"] = payments[1:]
    client.patch("/payt/v1/invoices", json=body, headers=AUTH)
    assert invoice(client, "2026-0042")["open_amount"] == "210.00"
    deleted = get(client, "payments/deleted", deleted_after="2026-11-01T00:00:00Z")["data"]
    assert deleted == [
        {
            "id": "1",
            "administration_id": ADMIN,
            "origin_identifier": "BANK-1001",
            "invoice_id": "inv_2026_0042",
            "deleted_at": NOW,
        }
    ]
    # 90 days later on the tenant clock the deletion has dropped out of the list.
    client.post(f"/__sandbox/tenants/{TOKEN}/clock", json={"advance": 91 * 86400})
    assert get(client, "payments/deleted", deleted_after="2026-11-01T00:00:00Z")["data"] == []


def test_payments_that_disagree_with_the_open_amount_or_exceed_the_total_are_refused(client: TestClient) -> None:
    body = {
        "administration_id": ADMIN,
        "invoices": [
            {
                "invoice_number": "2026-0042",
                "amount_open": "5.00",
                "payments": [{"origin_identifier": "X", "amount": "1"}],
            },
            {"invoice_number": "2026-0051", "amount_open": "-1.00"},
        ],
    }
    answer = client.patch("/payt/v1/invoices", json=body, headers=AUTH).json()
    assert answer["count"] == 0
    assert answer["errors"] == {
        "2026-0042": ["amount_open 5.00 is not amount_total minus the payments (1209.00)."],
        "2026-0051": ["The payments exceed the invoice total."],
    }
    assert invoice(client, "2026-0042")["open_amount"] == "1000.00"
    assert invoice(client, "2026-0051")["open_amount"] == "605.00"
    assert len(get(client, "payments", invoice_numbers="2026-0042,2026-0051")["data"]) == 1


def test_block_and_resume_move_the_invoice_and_refusals_change_nothing(client: TestClient) -> None:
    body = {"administration_id": ADMIN, "invoice_numbers": ["2026-0042", "2026-0070", "nope"]}
    answer = client.patch("/payt/v1/invoices/block", json=body, headers=AUTH).json()
    assert answer == {
        "success": True,
        "count": 1,
        "errors": {
            "2026-0070": ["Invoice 2026-0070 is paid and cannot be blocked."],
            "not_found": ["nope"],
        },
    }
    blocked = invoice(client, "2026-0042")
    assert blocked["paused_at"] == NOW and blocked["paused_by_user"] is False
    again = client.patch(
        "/payt/v1/invoices/block", json={"administration_id": ADMIN, "invoice_numbers": ["2026-0042"]}, headers=AUTH
    ).json()
    assert again["errors"] == {"2026-0042": ["Invoice 2026-0042 is already blocked."]}
    resumed = client.patch(
        "/payt/v1/invoices/resume",
        json={"administration_id": ADMIN, "invoice_identifiers": ["erp-inv-42"]},
        headers=AUTH,
    )
    assert resumed.json() == {"success": True, "count": 1, "errors": {}}
    assert "paused_at" not in invoice(client, "2026-0042")
    none = client.patch("/payt/v1/invoices/resume", json={"administration_id": ADMIN}, headers=AUTH)
    assert none.status_code == 422 and none.json()["code"] == "invalid_parameters"


def test_completing_a_task_with_resume_dossiers_resumes_its_blocked_invoice(client: TestClient) -> None:
    client.patch("/payt/v1/tasks/5003/unmark_completed", json={"administration_id": ADMIN}, headers=AUTH)
    assert "paused_at" in invoice(client, "2026-0060")
    done = client.patch(
        "/payt/v1/tasks/5003/mark_completed", json={"administration_id": ADMIN, "resume_dossiers": True}, headers=AUTH
    )
    assert done.status_code == 200
    assert "paused_at" not in invoice(client, "2026-0060")


def test_a_proposed_plan_is_approved_once_and_payments_pay_its_terms(client: TestClient) -> None:
    approved = client.patch("/payt/v1/payment_plans/2/approve", json={"administration_id": ADMIN}, headers=AUTH)
    assert approved.status_code == 200, approved.text
    plan = approved.json()
    assert plan["active"] is True and plan["approved_at"] == NOW
    assert invoice(client, "2026-0051")["active_payment_plan_id"] == "2"
    refused = client.patch("/payt/v1/payment_plans/2/reject", json={"administration_id": ADMIN}, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json() == {
        "code": "invalid_state",
        "message": "Payment plan 2 is active: only a proposed payment plan can be rejected.",
    }
    assert get(client, "payment_plans/2") == plan
    body = {"administration_id": ADMIN, "invoices": [{"invoice_number": "2026-0051", "amount_open": "300"}]}
    client.patch("/payt/v1/invoices", json=body, headers=AUTH)
    terms = get(client, "payment_plans/2")["payment_terms"]
    assert [(t["amount_due"], t["payment_date"]) for t in terms] == [
        ("0.00", "2026-11-22"),
        ("100.00", ""),
        ("200.00", ""),
    ]
    off = client.patch("/payt/v1/payment_plans/2/deactivate", json={"administration_id": ADMIN}, headers=AUTH).json()
    assert off["active"] is False and off["deactivated_at"] == NOW
    assert "active_payment_plan_id" not in invoice(client, "2026-0051")


def test_a_created_payment_plan_is_active_and_unknown_invoices_are_refused(client: TestClient) -> None:
    terms = [{"amount": 181.5, "due_date": "2026-12-15"}, {"amount": 181.5, "due_date": "2027-01-15"}]
    unknown = client.post(
        "/payt/v1/payment_plans",
        json={"administration_id": ADMIN, "invoice_numbers": ["nope"], "terms": terms},
        headers=AUTH,
    )
    assert unknown.status_code == 422 and "nope" in unknown.json()["message"]
    created = client.post(
        "/payt/v1/payment_plans",
        json={"administration_id": ADMIN, "credit_case_numbers": ["CC-2026-303"], "terms": terms},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["debtor_id"] == "deb_90" and plan["active"] is True
    assert [t["total_amount"] for t in plan["payment_terms"]] == ["181.50", "181.50"]
    assert invoice(client, "2026-0060")["active_payment_plan_id"] == plan["id"]


def test_references_that_name_nothing_are_refused_in_payts_envelope(client: TestClient) -> None:
    message = {"administration_id": ADMIN, "invoice_number": "nope", "message": {"subject": "Hi", "body": "Pay"}}
    response = client.post("/payt/v1/messages", json=message, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Invoice nope not found in administration adm_1001."}
    debtor = {"debtor_number": "D-300", "debtor_identifier": "erp-300", "name": "X", "contact_identifier": "CON-404"}
    answer = client.post(
        "/payt/v1/debtors", json={"administration_id": ADMIN, "debtors": [debtor]}, headers=AUTH
    ).json()
    assert answer["errors"] == {"erp-300": ["contact_identifier CON-404 does not name a contact."]}
    line = {"description": "Ink", "vat_rate_code": "NOPE", "total_excl_tax_amount": "10"}
    new_debtor(client)
    answer = upsert_invoice(client, invoice_lines=[line])
    assert answer["errors"] == {"2026-0200": ["vat_rate_code NOPE does not name a vat rate."]}


def test_a_sent_message_is_listed_and_marked_read(client: TestClient) -> None:
    message = {"administration_id": ADMIN, "invoice_number": "2026-0042", "message": {"subject": "Hi", "body": "Pay"}}
    sent = client.post("/payt/v1/messages", json=message, headers=AUTH).json()
    assert sent["sender_type"] == "creditor" and sent["credit_case_id"] == "cc_301" and "content" not in sent
    read = client.patch(
        "/payt/v1/messages",
        json={"administration_id": ADMIN, "messages": [{"id": sent["id"], "read": True}]},
        headers=AUTH,
    )
    assert read.json() == {"success": True, "count": 1, "errors": {}}
    shown = get(client, f"messages/{sent['id']}", fields='{"only": ["id", "read_at", "content"]}')
    assert shown == {"id": sent["id"], "read_at": NOW, "content": "Pay"}


def test_revoked_mandates_move_to_the_deleted_list(client: TestClient) -> None:
    mandate = {
        "bank_account_name": "Hotel",
        "bank_account_number": "NL01",
        "provider_code": "mollie",
        "debtor_code": "D-090",
    }
    created = client.post(
        "/payt/v1/psp_mandates", json={"administration_id": ADMIN, "psp_mandates": [mandate]}, headers=AUTH
    ).json()
    assert created["debtor_id"] == "deb_90" and "debtor_number" not in created
    revoked = client.delete(
        "/payt/v1/psp_mandates", params={"administration_id": ADMIN, "debtor_numbers": ["D-090"]}, headers=AUTH
    )
    assert revoked.json() == {"success": True, "count": 1, "errors": {}}
    assert [m["id"] for m in get(client, "psp_mandates")["data"]] == ["1"]
    deleted = get(client, "psp_mandates/deleted", deleted_after="2026-11-21T00:00:00Z")["data"]
    assert [(m["id"], m["provider"]) for m in deleted] == [(created["id"], "mollie")]


def test_vat_rates_contacts_and_conditions_upsert_by_their_codes(client: TestClient) -> None:
    rates = {"administration_id": ADMIN, "vat_rates": [{"code": "LOW", "rate": "9.5"}, {"code": "ZERO"}]}
    answer = client.post("/payt/v1/vat_rates", json=rates, headers=AUTH).json()
    assert answer == {
        "success": True,
        "count": 1,
        "errors": {"ZERO": ["rate and name are required to create a vat rate."]},
    }
    assert [r["rate"] for r in get(client, "vat_rates")["data"]] == [21, 9.5]
    contacts = {"administration_id": ADMIN, "contacts": [{"contact_identifier": "CON-9", "firstname": "Ida"}]}
    assert client.post("/payt/v1/contacts", json=contacts, headers=AUTH).json()["count"] == 1
    debtor = {
        "debtor_number": "D-077",
        "debtor_identifier": "erp-77",
        "name": "Bakkerij Jansen",
        "contact_identifier": "CON-9",
    }
    client.post("/payt/v1/debtors", json={"administration_id": ADMIN, "debtors": [debtor]}, headers=AUTH)
    assert get(client, "contacts", debtor_numbers="D-077")["data"][0]["contact_identifier"] == "CON-9"
    conditions = {"administration_id": ADMIN, "payment_conditions": [{"code": "14D", "name": "14 days"}]}
    assert client.post("/payt/v1/payment_conditions", json=conditions, headers=AUTH).status_code == 201
    new_debtor(client)
    assert upsert_invoice(client, payment_condition="14D")["count"] == 1


def test_lists_filter_and_sort_as_payt_documents(client: TestClient) -> None:
    ordered = get(client, "invoices", order="due_date_desc")["data"]
    assert [i["due_date"] for i in ordered] == sorted((i["due_date"] for i in ordered), reverse=True)
    assert [
        i["id"] for i in get(client, "invoices", book_amount_total_gte="500", book_amount_total_lte="605")["data"]
    ] == ["inv_2026_0051", "inv_2026_0075"]
    assert [i["id"] for i in get(client, "invoices", paid="false", debtor_identifiers="erp-77")["data"]] == [
        "inv_2026_0042"
    ]
    page = get(client, "debtors", per_page="2")
    assert page["pagination"] == {"cursor": page["data"][-1]["id"]}
    assert get(client, "order_lines", created_before="2026-09-01T00:00:00Z")["data"] == []


def test_administrations_sign_up_and_files(client: TestClient) -> None:
    fields = {
        "name": "Initech B.V.",
        "city": "Leiden",
        "commercial_registration_number": "1",
        "contact_name": "Bill",
        "country_code": "NL",
        "email_address": "bill@initech.example",
        "house_number": "1",
        "postal_code": "2311 AA",
        "street_name": "Breestraat",
    }
    signed = client.post(
        "/payt/v1/sign_up",
        json={
            "administration": {**fields, "phone_number": "+31"},
            "user": {"first_name": "Bill", "last_name": "L", "email_address": "b@x"},
            "connection": {"resource_label": "x", "resource_identifier": "y"},
        },
        headers=AUTH,
    )
    assert signed.status_code == 201, signed.text
    new_id = signed.json()["administration"]["id"]
    assert new_id in [a["id"] for a in client.get("/payt/v1/administrations", headers=AUTH).json()["data"]]
    assert client.get(f"/payt/v1/administrations/{new_id}", headers=AUTH).json()["name"] == "Initech B.V."
    limited = client.get("/payt/v1/administrations", headers={"Authorization": "Bearer demo_payt_acme_only"})
    assert limited.status_code == 403  # its scopes do not include administrations:read
    files = {
        "administration_id": ADMIN,
        "files": [{"byte_size": 10, "checksum": "abc", "content_type": "application/pdf"}],
    }
    slot = client.post("/payt/v1/files", json=files, headers=AUTH).json()
    assert slot["checksum"] == "abc" and slot["expires_at"] == "2026-11-22T11:00:00Z"
    new_debtor(client)
    assert upsert_invoice(client, document={"checksum": "abc", "filename": "f.pdf"})["count"] == 1
    assert upsert_invoice(client, invoice_number="2026-0203", document={"checksum": "zzz"})["count"] == 0


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", "/payt/v1/invoices", "invoices:write"),
        ("post", "/payt/v1/contacts", "contacts:write"),
        ("patch", "/payt/v1/payment_plans/2/approve", "payment_plans:write"),
        ("get", "/payt/v1/notes", "notes:read"),
    ],
)
def test_a_token_without_the_operations_scope_is_refused(
    client: TestClient, method: str, path: str, scope: str
) -> None:
    response = client.request(
        method,
        path,
        params={"administration_id": ADMIN},
        json={"administration_id": ADMIN},
        headers={"Authorization": "Bearer demo_payt_readonly"},
    )
    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "message": f"Missing permission: {scope}"}


def test_records_of_another_administration_are_not_found(client: TestClient) -> None:
    response = client.get("/payt/v1/invoices/inv_r_9913", params={"administration_id": ADMIN}, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "Invoice inv_r_9913 not found in administration adm_1001.",
    }


def test_updating_an_unknown_invoice_lists_it_under_not_found_and_applies_the_rest(client: TestClient) -> None:
    body = {
        "administration_id": ADMIN,
        "invoices": [
            {"invoice_number": "2099-0001", "description": "x"},
            {"invoice_number": "2026-0042", "description": "y"},
        ],
    }
    response = client.patch("/payt/v1/invoices", json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"success": True, "count": 1, "errors": {"not_found": ["2099-0001"]}}
    assert invoice(client, "2026-0042")["description"] == "y"


def test_a_request_missing_a_required_field_is_422_and_applies_nothing(client: TestClient) -> None:
    body = {"administration_id": ADMIN, "invoices": [{"invoice_number": "2026-0042", "description": "z"}, {}]}
    response = client.patch("/payt/v1/invoices", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_parameters"
    assert "description" not in invoice(client, "2026-0042")


def test_fixture_records_must_point_at_records_that_exist_and_add_up(client: TestClient) -> None:
    task = {
        "id": "7100",
        "administration_id": ADMIN,
        "subject": "x",
        "debtor_id": "deb_404",
        "created_at": NOW,
        "updated_at": NOW,
    }
    response = client.post(f"/__sandbox/tenants/{TOKEN}/fixtures", json={"payt": {"tasks": [task]}})
    assert response.status_code == 400
    assert "tasks[0] (id='7100'): field 'debtor_id': no debtor 'deb_404' in administration 'adm_1001'" in response.text
    bad = {
        "id": "inv_x",
        "administration_id": ADMIN,
        "debtor_id": "deb_77",
        "invoice_number": "X-1",
        "currency_code": "EUR",
        "payment_method": "none",
        "due_date": "2026-12-01",
        "invoice_date": "2026-11-01",
        "administration_costs_total": "0.00",
        "administration_costs_open": "0.00",
        "total_amount": "10.00",
        "open_amount": "4.00",
        "book_total_amount": "10.00",
        "book_open_amount": "10.00",
        "updated_at": NOW,
    }
    response = client.post(f"/__sandbox/tenants/{TOKEN}/fixtures", json={"payt": {"invoices": [bad]}})
    assert response.status_code == 400
    assert "open_amount" in response.text


def test_an_unchanged_upsert_leaves_updated_at_and_a_new_debtor_number_reaches_its_invoices(client: TestClient) -> None:
    new_debtor(client)
    upsert_invoice(client)
    first = invoice(client, "2026-0200")
    client.post(f"/__sandbox/tenants/{TOKEN}/clock", json={"advance": 3600})
    upsert_invoice(client)
    assert invoice(client, "2026-0200") == first
    renamed = {"debtor_number": "D-201", "debtor_identifier": "erp-D-200", "name": "Drukkerij Inkt"}
    client.post("/payt/v1/debtors", json={"administration_id": ADMIN, "debtors": [renamed]}, headers=AUTH)
    moved = invoice(client, "2026-0200")
    assert moved["debtor_number"] == "D-201" and moved["updated_at"] == "2026-11-22T11:00:00Z"
    assert [i["invoice_number"] for i in get(client, "invoices", debtor_numbers="D-201")["data"]] == ["2026-0200"]

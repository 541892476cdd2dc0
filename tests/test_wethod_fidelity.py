"""Wethod as its reference pages describe it: invoices.edit_sent, PM/Account and `_other`, its example values."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.test_wethod import ARCHIVED_PAID, DRAFT, PAID, SENT, create, headers, listed_ids, url

PM = "demo_wethod_pm"  # user 11: PM of acme's projects 1 and 3 (invoices 1, 2 and 5), not of project 2 (3 and 4)


def test_edit_sent_lets_a_sent_or_paid_invoice_be_updated_or_deleted(client: TestClient) -> None:
    patched = client.patch(url(f"/invoices/{SENT}"), headers=headers(), json={"notes": "Corrected PO"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["status"], patched.json()["notes"]) == ("sent", "Corrected PO")
    assert client.delete(url(f"/invoices/{PAID}"), headers=headers()).status_code == 200
    assert PAID not in listed_ids(client)

    without = "demo_wethod_no_edit_sent"
    before = client.get(url(f"/invoices/{SENT}"), headers=headers(without)).content
    for method in ("PATCH", "DELETE"):
        kwargs = {"json": {"notes": "x"}} if method == "PATCH" else {}
        refused = client.request(method, url(f"/invoices/{SENT}"), headers=headers(without), **kwargs)
        assert refused.status_code == 403  # the caller's right is missing, not a state of the invoice
        assert refused.json() == {"key": "forbidden", "message": "Missing permission: invoices.edit_sent"}
    assert client.get(url(f"/invoices/{SENT}"), headers=headers(without)).content == before
    # What no token may do in the invoice's state stays a 412.
    archived = client.patch(url(f"/invoices/{ARCHIVED_PAID}"), headers=headers(), json={"notes": "x"})
    assert (archived.status_code, archived.json()["key"]) == (412, "precondition_failure")


def test_plain_permissions_cover_the_projects_the_user_manages_and_other_ones_the_rest(client: TestClient) -> None:
    assert listed_ids(client, token=PM) == [1, 2, 5]
    projects = client.get(url("/projects"), headers=headers(PM))
    assert [project["id"] for project in projects.json()] == [1, 3]
    assert client.get(url(f"/invoices/{DRAFT}"), headers=headers(PM)).status_code == 200
    assert client.patch(url(f"/invoices/{DRAFT}"), headers=headers(PM), json={"notes": "mine"}).status_code == 200

    refusals = {
        "invoices.view_other": client.get(url("/invoices/3"), headers=headers(PM)),
        "invoices.edit_other": client.patch(url("/invoices/3"), headers=headers(PM), json={"notes": "not mine"}),
        "invoices.delete_other": client.delete(url("/invoices/4"), headers=headers(PM)),
        "invoices.create_other": client.post(
            url("/invoices"), headers=headers(PM), json={"project_id": 2, "value": 1, "issue_date": "2024-01-01"}
        ),
        "pipeline.view_other": client.get(url("/projects/2"), headers=headers(PM)),
    }
    for permission, response in refusals.items():
        assert response.status_code == 403, (permission, response.text)
        assert response.json()["message"].startswith(f"Missing permission: {permission} (you are neither PM")
    moved = client.patch(url(f"/invoices/{DRAFT}"), headers=headers(PM), json={"project_id": 2})
    assert moved.json()["message"].startswith("Missing permission: invoices.edit_other")

    others_only = "others-only"
    permissions = ["invoices.view_other", "invoices.edit_other", "invoices.edit_sent"]
    grant = {"token": others_only, "user_id": 11, "permissions": permissions}
    assert client.post(f"/__sandbox/tenants/{others_only}/fixtures", json={"wethod": {"tokens": [grant]}}).is_success
    assert listed_ids(client, token=others_only) == [3, 4]
    own = client.patch(url(f"/invoices/{DRAFT}"), headers=headers(others_only), json={"notes": "x"})
    assert own.status_code == 403
    assert own.json()["message"] == "Missing permission: invoices.edit (you are PM or Account of project 1)"
    assert client.patch(url("/invoices/4"), headers=headers(others_only), json={"notes": "x"}).status_code == 200


def test_wethods_own_example_values_are_accepted_as_its_constraints_allow(client: TestClient) -> None:
    example = create(client, exchange_rate=0, vat_rate_id=0, payment_term_id=0, purchase_order="string")
    assert (example["exchange_rate"], example["vat_rate_id"], example["payment_term_id"]) == (0, 0, 0)
    patched = client.patch(url(f"/invoices/{example['id']}"), headers=headers(), json={"vat_rate_id": 0})
    assert patched.status_code == 200
    # `id` and `project_id` are the fields Wethod documents as >= 1.
    refused = client.post(
        url("/invoices"), headers=headers(), json={"project_id": 0, "value": 1, "issue_date": "2024-01-01"}
    )
    assert refused.status_code == 400
    assert [failure["field"] for failure in refused.json()["failures"]] == ["project_id"]
    assert client.get(url("/invoices/0"), headers=headers()).status_code in (400, 404)


def test_a_missing_required_body_is_invalid_before_the_invoices_state_is_looked_at(client: TestClient) -> None:
    for token in ("demo_wethod_token", "demo_wethod_no_edit_sent"):
        response = client.patch(url(f"/invoices/{ARCHIVED_PAID}"), headers=headers(token))
        assert response.status_code == 400, response.text
        assert response.json()["failures"] == [{"field": "body", "message": "A request body is required."}]

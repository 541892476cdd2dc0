"""Debitura as its own document describes it: countries, nulls, error envelopes, the contract, task references."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.test_debitura import FJORDLINE, SIGN_CONTRACT_TASK, World, business_error, case_body


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


@pytest.fixture
def signed(world: World) -> World:
    world.sign_contract()
    return world


def debtor(**fields: Any) -> dict[str, Any]:
    return {"type": "Company", "name": "Debtor GmbH", **fields}


def test_a_debtor_country_is_its_code_or_its_official_english_name(signed: World) -> None:
    by_name = signed.post("/cases", case_body(debtor=debtor(countryAlpha2=None, country="germany")))
    assert by_name.status_code == 200, by_name.text
    assert (by_name.json()["debtor"]["countryAlpha2"], by_name.json()["debtor"]["country"]) == ("DE", "Germany")
    only_name = signed.post("/cases", case_body(debtor=debtor(country="Denmark"))).json()["debtor"]
    assert (only_name["countryAlpha2"], only_name["country"]) == ("DK", "Denmark")
    both = signed.post("/cases", case_body(debtor=debtor(countryAlpha2="se", country="Germany"))).json()["debtor"]
    assert (both["countryAlpha2"], both["country"]) == ("SE", "Sweden")  # the code wins

    before = signed.get("/cases").json()["page"]["totalResults"]
    unknown = signed.post("/cases", case_body(debtor=debtor(countryAlpha2=None, country="Atlantis")))
    assert (unknown.status_code, business_error(unknown)) == (400, "ValidationFailed")
    assert unknown.json()["message"].startswith('debtor.country is invalid: "Atlantis" is not the official English')
    neither = signed.post("/cases", case_body(debtor=debtor(countryAlpha2=None, country=None)))
    assert (neither.status_code, business_error(neither)) == (400, "ValidationFailed")
    assert neither.json()["message"].startswith("debtor.countryAlpha2 is missing")
    no_code = signed.post("/cases", case_body(debtor=debtor(countryAlpha2="XX")))
    assert (no_code.status_code, business_error(no_code)) == (400, "ValidationFailed")
    us_by_name = signed.post("/cases", case_body(debtor=debtor(country="United States")))
    assert us_by_name.status_code == 400
    assert "stateAlpha2" in us_by_name.json()["message"]
    assert signed.get("/cases").json()["page"]["totalResults"] == before


def test_every_field_debitura_lets_be_null_may_be_sent_as_null(signed: World) -> None:
    nullable = "contactPerson companyRegistrationNumber address zipCode city state stateAlpha2 email phone"
    nulls = dict.fromkeys(nullable.split())
    body = case_body(
        debtor=debtor(countryAlpha2="DE", country=None, **nulls),
        dueDate=None,
        comments=None,
        claimDescription=None,
        creditorReference=None,
        creditorDivisionId=None,
        amountToRecoverOver6Months=None,
        amountToRecoverOver12Months=None,
        amountToRecoverOver24Months=None,
        tag=None,
        collectionPartnerId=None,
        assignedUserEmail=None,
        returnUrl=None,
    )
    created = signed.post("/cases", body)
    assert created.status_code == 200, created.text
    assert (created.json()["creditorReference"], created.json()["debtor"]["city"]) == (None, None)
    # Nullable in Debitura's document, yet refused by its own rules: a null currency, a null target state.
    no_currency = signed.post("/cases", case_body(currencyCode=None))
    assert (no_currency.status_code, business_error(no_currency)) == (400, "ValidationFailed")
    assert no_currency.json()["message"].startswith("currencyCode is missing")
    nowhere = signed.post(f"/test/cases/{created.json()['id']}/advance", {"to": None})
    assert (nowhere.status_code, business_error(nowhere)) == (400, "ValidationFailed")
    targets = '["Active", "Closed:Paid", "Closed:NoPayment"]'
    assert nowhere.json()["message"] == f"to is invalid: null is not one of {targets}."


def test_error_bodies_have_only_the_members_debituras_schemas_allow(signed: World) -> None:
    field_error = signed.post("/cases", case_body(currencyCode="EURO"))
    assert field_error.status_code == 400
    assert set(field_error.json()) == {"error", "message", "businessErrors"}
    assert field_error.json()["businessErrors"] == [
        {"type": "ValidationFailed", "message": field_error.json()["message"], "solutionUrl": None}
    ]
    not_found = signed.get("/cases/00000000-0000-0000-0000-000000000000")
    assert set(not_found.json()) == {"error", "message", "businessErrors"}
    duplicate = signed.post("/cases", case_body(creditorReference="INV-2026-0412"))
    assert duplicate.status_code == 422
    assert set(duplicate.json()) == {"businessErrors", "signingHandoff"}
    assert duplicate.json()["signingHandoff"] is None


def test_an_unsigned_contract_refuses_cases_unless_pending_contracts_are_allowed(world: World) -> None:
    refused = world.post("/cases", case_body())
    assert refused.status_code == 422
    assert refused.json() == {
        "businessErrors": [
            {
                "type": "MissingDebtCollectionContract",
                "message": refused.json()["businessErrors"][0]["message"],
                "solutionUrl": "https://app.debitura.com/CreditorContracts",
            }
        ],
        "signingHandoff": {"combinedSigningUrl": "https://app.debitura.com/CreditorContracts"},
    }
    assert world.get("/cases").json()["page"]["totalResults"] == 7

    pending = world.post("/cases", case_body(allowPendingContracts=True))
    assert pending.status_code == 200, pending.text
    assert pending.json()["lifecycle"] == "Pending contract signing"
    assert pending.json()["signingHandoff"] == {"combinedSigningUrl": "https://app.debitura.com/CreditorContracts"}

    world.sign_contract()  # the SignContract task, resolved as the person following its solutionUrl would
    assert SIGN_CONTRACT_TASK not in {task["id"] for task in world.open_tasks()}
    signed_case = world.post("/cases", case_body())
    assert signed_case.status_code == 200, signed_case.text
    assert (signed_case.json()["lifecycle"], signed_case.json()["signingHandoff"]) == (
        "Pending Verification Internal",
        None,
    )


def test_a_tasks_case_reference_is_the_creditors_reference(signed: World) -> None:
    fjordline = signed.get(f"/cases/{FJORDLINE}").json()
    (task,) = signed.case_tasks(FJORDLINE)
    assert (task["caseReference"], fjordline["creditorReference"]) == ("INV-2026-0412", "INV-2026-0412")
    assert fjordline["reference"] != task["caseReference"]
    created = signed.post("/cases", case_body(creditorReference="PO-77/2026")).json()
    opened = signed.partner_message(created["id"], message="Who signed the order?").json()["task"]
    assert opened["caseReference"] == "PO-77/2026"
    assert all(
        task["caseReference"] is None for task in signed.open_tasks() if task["caseId"] is None
    )  # account-level tasks have no case

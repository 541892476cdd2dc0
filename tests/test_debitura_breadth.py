"""Debitura's divisions, payments, team, contracts, exclusive periods, validation, quote requests and coverage.

Each operation is driven over HTTP in a fresh tenant (clock frozen at START):
what one call changes the next one sees, a refused call changes nothing, and
another credential sees none of it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.test_debitura import (
    ANNA,
    FJORDLINE,
    KASTANIE,
    PENDING,
    SOLSIKKE,
    START,
    World,
    business_error,
    case_body,
)

CONTRACT_INTERIORS = "62889926-f3e4-582f-af56-f1360181ad79"  # Kastanie (More Info Required) is filed under it
OUTLET = "309cdb1f-ca5b-58dc-b0e7-5a8a908350a9"  # archived, no cases
PAUSED = "0295860c-4270-507a-ab63-1e9779c761c5"  # D9L4F2KU, 6,000 of 27,500 SEK paid
NO_PARTNER_YET = "bab44264-2a9f-5092-951d-f786eaa4f5c2"
FJORDLINE_LEAD = "3f44af9b-9858-57b9-a731-5f2fd45c7a76"
PAUSED_LEAD = "e9bdcfc6-f5c6-5dba-9098-735df107faee"
FJORDLINE_QUOTES = ["36f28e46-6c0a-50ff-8ba1-3a44eca3fb01", "9e97fd56-6d7b-5767-82d8-2f8041c90fac"]
DASH = "\u2013"  # the demo divisions' names have an en dash (as the case fixtures write them)
HOTELS = "Nordlys Design - Hotels"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
SOLSIKKE_PAYMENTS = ["8624e89b-243a-55d8-b221-25932d5cb9ff", "68f67391-9fd0-505d-850d-ca7311cc8f1a"]


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


@pytest.fixture
def other(client: TestClient) -> World:
    """A second credential: its own world."""
    return World(client)


@pytest.fixture
def signed(world: World) -> World:
    world.sign_contract()
    return world


def put(world: World, path: str, body: Any) -> Any:
    return world.client.put("/debitura/v1" + path, json=body, headers=world.headers)


def api_error(response: Any) -> str:
    """The error code of an `ApiErrorResponseDto` (checked to have exactly its members)."""
    body = response.json()
    assert set(body) == {"error", "message", "businessErrors"}, body
    assert body["businessErrors"][0]["type"] == body["error"]
    return str(body["error"])


def division_body(**overrides: Any) -> dict[str, Any]:
    return {"companyName": HOTELS, "city": "Odense", "countryCode": "dk", **overrides}


def division_names(world: World, **params: Any) -> list[str]:
    response = world.get("/divisions", **params)
    assert response.status_code == 200, response.text
    return [d["companyName"] for d in response.json()["divisions"]]


# -- divisions ---------------------------------------------------------------------


def test_the_division_list_leaves_archived_ones_out_unless_asked(world: World) -> None:
    assert division_names(world) == [f"Nordlys Design {DASH} Contract Interiors"]
    assert division_names(world, includeArchived="true") == [
        f"Nordlys Design {DASH} Contract Interiors",
        f"Nordlys Design {DASH} Outlet",
    ]
    second = world.get("/divisions", includeArchived="true", page=2, pageSize=1).json()
    assert second["page"] == {"totalResults": 2, "pageSize": 1, "currentPage": 2, "responseCount": 1, "totalPages": 2}
    assert [d["id"] for d in second["divisions"]] == [OUTLET]
    assert world.get("/divisions", page=3, pageSize=1, includeArchived="true").json()["divisions"] == []
    assert api_error(world.get("/divisions", pageSize=101)) == "ValidationFailed"


def test_a_created_division_is_what_the_next_calls_see_and_only_its_credential(world: World, other: World) -> None:
    created = world.post("/divisions", division_body(officeEmail="hotels@nordlys-design.example"))
    assert created.status_code == 201, created.text
    division = created.json()
    assert division["country"] == {"id": 59, "name": "Denmark", "alpha2": "DK"}
    assert (division["isArchived"], division["createdUtc"], division["updatedUtc"]) == (False, START, None)
    assert (division["registrationNumber"], division["officeEmail"]) == (None, "hotels@nordlys-design.example")
    assert world.get(f"/divisions/{division['id']}").json() == division
    assert world.get(f"/divisions/{division['id'].upper()}").json() == division
    assert HOTELS in division_names(world)
    assert api_error(other.get(f"/divisions/{division['id']}")) == "DivisionNotFound"
    assert HOTELS not in division_names(other)


def test_a_case_filed_under_a_new_division_shows_its_name(signed: World) -> None:
    division = signed.post("/divisions", division_body()).json()
    created = signed.post("/cases", case_body(creditorDivisionId=division["id"].upper()))
    assert created.status_code == 200, created.text
    shown = signed.get(f"/cases/{created.json()['id']}").json()["creditor"]["division"]
    assert shown == {"id": division["id"], "name": division["companyName"]}


def test_put_replaces_every_field_and_stamps_the_update(world: World) -> None:
    division = world.post("/divisions", division_body(officePhone="+45 1", zipCode="5000")).json()
    world.advance_clock(60)
    replaced = put(world, f"/divisions/{division['id']}", division_body(city="Vejle", countryCode="SE", zipCode="7100"))
    assert replaced.status_code == 200, replaced.text
    shown = replaced.json()
    assert (shown["city"], shown["zipCode"], shown["officePhone"]) == ("Vejle", "7100", None)
    assert shown["country"] == {"id": 197, "name": "Sweden", "alpha2": "SE"}
    assert (shown["createdUtc"], shown["updatedUtc"]) == (START, "2026-12-01T09:01:00Z")
    assert world.get(f"/divisions/{division['id']}").json() == shown


def test_refused_division_writes_change_nothing(world: World) -> None:
    before = world.get("/divisions", includeArchived="true").json()
    assert api_error(world.post("/divisions", division_body(countryCode="XX"))) == "ValidationFailed"
    assert api_error(world.post("/divisions", division_body(companyName=""))) == "ValidationFailed"
    missing_city = {key: value for key, value in division_body().items() if key != "city"}
    assert world.post("/divisions", missing_city).status_code == 400
    taken = world.post("/divisions", division_body(companyName=f"nordlys design {DASH} OUTLET"))
    assert taken.status_code == 422
    assert api_error(taken) == "DuplicateDivisionName"
    replaced = put(
        world, f"/divisions/{CONTRACT_INTERIORS}", division_body(companyName=f"Nordlys Design {DASH} Outlet")
    )
    assert replaced.status_code == 400
    assert api_error(replaced) == "DuplicateDivisionName"
    assert (
        api_error(put(world, f"/divisions/{CONTRACT_INTERIORS}", division_body(countryCode="ZZ"))) == "ValidationFailed"
    )
    assert api_error(put(world, f"/divisions/{UNKNOWN}", division_body())) == "DivisionNotFound"
    assert world.get("/divisions", includeArchived="true").json() == before


@pytest.mark.parametrize("form", ["/archive", ":archive"])
def test_archiving_is_for_good(world: World, form: str) -> None:
    division = world.post("/divisions", division_body()).json()
    world.advance_clock(5)
    archived = world.post(f"/divisions/{division['id']}{form}", None)
    assert archived.status_code == 200, archived.text
    assert (archived.json()["isArchived"], archived.json()["updatedUtc"]) == (True, "2026-12-01T09:00:05Z")
    assert HOTELS not in division_names(world)
    assert HOTELS in division_names(world, includeArchived="true")
    again = world.post(f"/divisions/{division['id']}{form}", None)
    assert again.status_code == 422
    assert api_error(again) == "DivisionAlreadyArchived"
    assert world.get(f"/divisions/{division['id']}").json() == archived.json()
    assert api_error(world.post(f"/divisions/{UNKNOWN}{form}", None)) == "DivisionNotFound"


def test_a_division_with_active_cases_cannot_be_deleted(world: World) -> None:
    refused = world.delete(f"/divisions/{CONTRACT_INTERIORS}")
    assert refused.status_code == 422
    assert api_error(refused) == "DivisionHasActiveCases"
    assert "H2C9V5LR" in refused.json()["message"]
    assert world.get(f"/divisions/{CONTRACT_INTERIORS}").status_code == 200
    closed = world.post(f"/test/cases/{KASTANIE}/advance", {"to": "Closed:NoPayment"})
    assert closed.status_code == 200, closed.text
    assert world.delete(f"/divisions/{CONTRACT_INTERIORS}").status_code == 204
    assert api_error(world.get(f"/divisions/{CONTRACT_INTERIORS}")) == "DivisionNotFound"
    assert world.delete(f"/divisions/{OUTLET}").status_code == 204
    assert world.delete(f"/divisions/{OUTLET}").status_code == 404
    assert division_names(world, includeArchived="true") == []


# -- payments ----------------------------------------------------------------------


def case_payments(world: World, case_id: str) -> list[dict[str, Any]]:
    response = world.get(f"/cases/{case_id}/payments")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_demo_payments_add_up_to_what_each_case_recovered(world: World) -> None:
    cases = world.get("/cases", PageSize=100).json()["cases"]
    for case in cases:
        paid = sum(payment["grossAmount"] for payment in case_payments(world, case["id"]))
        assert paid == pytest.approx(case["grossAmount"] - case["remainder"]), case["reference"]
    assert [p["id"] for p in case_payments(world, SOLSIKKE)] == list(reversed(SOLSIKKE_PAYMENTS))
    listed = world.get("/Payments").json()
    assert listed["page"]["totalResults"] == 3
    assert [p["date"] for p in listed["payments"]] == sorted((p["date"] for p in listed["payments"]), reverse=True)
    first = world.get("/Payments", PageSize=2).json()
    assert (first["page"]["totalPages"], first["page"]["responseCount"]) == (2, 2)
    assert api_error(world.get("/Payments", Page=0)) == "ValidationFailed"
    assert api_error(world.get(f"/cases/{UNKNOWN}/payments")) == "CaseNotFound"


def test_a_payment_shows_its_case_as_it_is_now(world: World) -> None:
    payment = world.get(f"/Payments/{SOLSIKKE_PAYMENTS[0]}").json()
    assert payment["invoice"] == {"status": "Closed", "reference": "M8T3J6QA", "invoiceId": SOLSIKKE}
    assert set(payment) == {
        "id",
        "dateCreated",
        "dateUpdated",
        "date",
        "grossAmount",
        "recipient",
        "method",
        "currency",
        "invoice",
    }
    assert api_error(world.get(f"/Payments/{UNKNOWN}")) == "PaymentNotFound"
    assert world.get("/Payments/not-a-uuid").status_code == 400


def test_a_test_case_paid_through_the_helpers_has_the_payment_its_event_reports(
    signed: World, other: World, webhook_receiver: Any
) -> None:
    hook = signed.post("/webhooks", {"url": webhook_receiver.url, "events": ["payment.created"]})
    assert hook.status_code == 201, hook.text
    case = signed.post("/cases", case_body(amountToRecover=800)).json()
    signed.advance_clock(3600)
    paid = signed.post(f"/test/cases/{case['id']}/advance", {"to": "Closed:Paid", "amount": 300})
    assert paid.status_code == 200, paid.text
    (event,) = signed.get("/webhooks/events", caseId=case["id"]).json()
    reported = json.loads(event["payload"])["data"]
    (payment,) = case_payments(signed, case["id"])
    assert payment["id"] == reported["paymentId"]
    assert (payment["grossAmount"], payment["date"], payment["currency"]) == (300, reported["paymentDate"], "EUR")
    assert payment["invoice"] == {"status": "Closed", "reference": case["reference"], "invoiceId": case["id"]}
    assert signed.get("/Payments").json()["payments"][0] == payment
    assert signed.get(f"/Payments/{payment['id']}").json() == payment
    assert api_error(other.get(f"/Payments/{payment['id']}")) == "PaymentNotFound"
    assert other.get("/Payments").json()["page"]["totalResults"] == 3

    assert signed.delete(f"/test/cases/{case['id']}").status_code == 204
    assert api_error(signed.get(f"/Payments/{payment['id']}")) == "PaymentNotFound"
    assert payment["id"] not in [p["id"] for p in signed.get("/Payments", PageSize=100).json()["payments"]]
    stored = signed.client.get(f"{signed.admin}/state").json()["providers"]["debitura"]["collections"]
    assert payment["id"] not in [p["id"] for p in stored["payments"]]  # gone with its case, not only hidden


def test_a_refused_advance_registers_no_payment(world: World) -> None:
    closed = world.post(f"/test/cases/{FJORDLINE}/advance", {"to": "Closed:NoPayment"})
    assert closed.status_code == 200, closed.text
    refused = world.post(f"/test/cases/{FJORDLINE}/advance", {"to": "Closed:Paid", "amount": 100})
    assert refused.status_code == 400
    assert case_payments(world, FJORDLINE) == []
    assert world.get("/Payments").json()["page"]["totalResults"] == 3


# -- the team ------------------------------------------------------------------------


def test_the_team_list_gives_the_ids_chats_accept(world: World) -> None:
    listed = world.get("/users").json()
    assert listed["page"] == {"totalResults": 2, "pageSize": 50, "currentPage": 1, "responseCount": 2, "totalPages": 1}
    assert [(u["name"], u["email"]) for u in listed["users"]] == [
        ("Anna Holm", ANNA),
        ("Mads Krogh", "mads.krogh@nordlys-design.example"),
    ]
    for user in listed["users"]:
        sent = world.post(f"/cases/{FJORDLINE}/chats", {"message": "Noted.", "userId": user["id"]})
        assert sent.status_code == 200, sent.text
    assert [u["name"] for u in world.get("/users", Page=2, PageSize=1).json()["users"]] == ["Mads Krogh"]
    assert api_error(world.get("/users", PageSize=0)) == "ValidationFailed"


# -- contracts -----------------------------------------------------------------------


def test_the_agreement_status_follows_the_sign_contract_task(world: World, other: World) -> None:
    unsigned = world.get("/contracts/debt-collection/status").json()
    assert unsigned == {
        "signed": False,
        "requiresResigning": True,
        "invalidationReason": "NewVersion",
        "termsUrl": None,
        "solutionUrl": "https://app.debitura.com/CreditorContracts",
    }
    assert business_error(world.post("/cases", case_body())) == "MissingDebtCollectionContract"
    case_status = world.get(f"/cases/{FJORDLINE}/contract-status").json()
    assert case_status["sdca"] == {"signed": False, "requiresResigning": True, "solutionUrl": unsigned["solutionUrl"]}

    world.sign_contract()
    signed = world.get("/contracts/debt-collection/status").json()
    assert (signed["signed"], signed["requiresResigning"], signed["invalidationReason"]) == (True, False, "None")
    assert signed["termsUrl"] is not None and signed["solutionUrl"] is None
    assert world.post("/cases", case_body()).status_code == 200
    assert world.get(f"/cases/{FJORDLINE}/contract-status").json()["sdca"] == {
        "signed": True,
        "requiresResigning": False,
        "solutionUrl": None,
    }
    assert other.get("/contracts/debt-collection/status").json() == unsigned


def test_a_cases_power_of_attorney_is_its_partners(world: World) -> None:
    with_partner = world.get(f"/cases/{FJORDLINE}/contract-status").json()
    assert with_partner["collectionPartnerName"] == "Lindqvist Inkasso A/S"
    assert with_partner["poa"] == {"signed": True, "requiresResigning": False, "solutionUrl": None}
    assert (with_partner["pricingAppendix"], with_partner["needsPoaSigning"]) == (None, False)
    without = world.get(f"/cases/{PENDING}/contract-status").json()
    assert (without["collectionPartnerName"], without["poa"], without["needsPoaSigning"]) == (None, None, False)
    assert api_error(world.get(f"/cases/{UNKNOWN}/contract-status")) == "CaseNotFound"
    assert world.get("/cases/nope/contract-status").status_code == 400


# -- a case's exclusive period and validation ----------------------------------------


def test_the_exclusive_period_counts_down_on_the_tenant_clock(world: World) -> None:
    period = world.get(f"/cases/{FJORDLINE}/exclusive-period").json()
    assert period == {
        "engagementStartDate": "2026-09-04T10:00:00Z",
        "currentEndDate": "2027-03-04T10:00:00Z",
        "daysRemaining": 93,
        "status": "Active",
        "extensions": [],
    }
    world.advance_clock(100 * 86400)
    later = world.get(f"/cases/{FJORDLINE}/exclusive-period").json()
    assert (later["daysRemaining"], later["status"]) == (-7, "Expired")
    assert world.get(f"/cases/{SOLSIKKE}/exclusive-period").json()["status"] == "Expired"
    missing = world.get(f"/cases/{KASTANIE}/exclusive-period")
    assert missing.status_code == 404
    assert api_error(missing) == "ExclusivePeriodNotFound"


def test_a_case_advanced_to_active_starts_its_period(world: World) -> None:
    assert world.get(f"/cases/{PENDING}/exclusive-period").status_code == 404
    assert world.post(f"/test/cases/{PENDING}/advance", {"to": "Active"}).status_code == 200
    period = world.get(f"/cases/{PENDING}/exclusive-period").json()
    assert (period["engagementStartDate"], period["currentEndDate"]) == (START, "2027-05-30T09:00:00Z")
    assert (period["daysRemaining"], period["status"]) == (180, "Active")


def test_validation_lists_what_the_partner_asked_until_the_reply_resolves_it(world: World) -> None:
    before = world.get(f"/cases/{KASTANIE}/validation").json()
    assert (before["needsInfo"], before["creditorRespondedAt"]) == (True, None)
    assert [item["resolutionArea"] for item in before["items"]] == ["CaseInformation"]
    assert before["items"][0]["description"]
    world.reply(KASTANIE, "Both documents are attached.")
    replied = world.get(f"/cases/{KASTANIE}/validation").json()
    assert (replied["needsInfo"], replied["creditorRespondedAt"], len(replied["items"])) == (True, START, 1)
    world.advance_clock(3)
    after = world.get(f"/cases/{KASTANIE}/validation").json()
    assert after == {"needsInfo": False, "creditorRespondedAt": START, "items": []}
    assert world.get(f"/cases/{FJORDLINE}/validation").json()["items"] == []


# -- quote requests and quotes ---------------------------------------------------------


def test_quote_requests_and_their_quotes(world: World) -> None:
    (lead,) = world.get(f"/cases/{FJORDLINE}/quote-requests").json()["quoteRequests"]
    assert (lead["quoteRequestId"], lead["caseId"], lead["currentQuotesCount"], lead["purpose"]) == (
        FJORDLINE_LEAD,
        FJORDLINE,
        2,
        "PhaseChange",
    )
    detail = world.get(f"/cases/{FJORDLINE}/quote-requests/{FJORDLINE_LEAD}").json()
    assert (detail["isMaxBidCountReached"], detail["maxQuotes"]) == (False, 3)
    assert "purpose" not in detail and detail["request"]
    quotes = world.get(f"/cases/{FJORDLINE}/quote-requests/{FJORDLINE_LEAD}/quotes").json()["quotes"]
    assert [q["quoteId"] for q in quotes] == FJORDLINE_QUOTES
    assert (quotes[0]["successFee"], quotes[1]["hourlyRate"]) == (25.0, 1850.0)
    full = world.get(f"/cases/{FJORDLINE}/quote-requests/{FJORDLINE_LEAD}/quotes/{FJORDLINE_QUOTES[1]}").json()
    assert full["pricing"]["hourlyEstimated"] == 12.0 and full["dateUpdated"] == "2026-11-15T10:00:00Z"
    (waiting,) = world.get(f"/cases/{PAUSED}/quote-requests").json()["quoteRequests"]
    assert waiting["currentQuotesCount"] == 0
    assert world.get(f"/cases/{PAUSED}/quote-requests/{PAUSED_LEAD}/quotes").json() == {"quotes": []}
    assert world.get(f"/cases/{PENDING}/quote-requests").json() == {"quoteRequests": []}


def test_quote_lookups_are_refused_outside_their_case(world: World) -> None:
    assert api_error(world.get(f"/cases/{UNKNOWN}/quote-requests")) == "CaseNotFound"
    assert api_error(world.get(f"/cases/{PAUSED}/quote-requests/{FJORDLINE_LEAD}")) == "QuoteRequestNotFound"
    elsewhere = f"/cases/{PAUSED}/quote-requests/{PAUSED_LEAD}/quotes/{FJORDLINE_QUOTES[0]}"
    assert api_error(world.get(elsewhere)) == "QuoteNotFound"
    assert api_error(world.get(f"/cases/{FJORDLINE}/quote-requests/{UNKNOWN}/quotes")) == "QuoteRequestNotFound"
    assert world.get(f"/cases/{FJORDLINE}/quote-requests/nope").status_code == 400


# -- coverage, eligibility and the preview -------------------------------------------------


def eligibility(world: World, country: str, state: str | None = None, debtor_type: str = "Company") -> Any:
    body = {
        "countryAlpha2": country,
        "stateAlpha2": state,
        "debtorType": debtor_type,
        "amount": 500,
        "currencyCode": "EUR",
    }
    return world.post("/coverage/check-eligibility", body)


def test_coverage_lists_every_jurisdiction_and_finds_one(world: World) -> None:
    coverage = world.get("/coverage").json()
    assert [j["jurisdictionId"] for j in coverage] == list(range(1, 9))
    assert world.get("/coverage/5").json() == coverage[4]
    assert api_error(world.get("/coverage/99")) == "JurisdictionNotFound"
    assert world.get("/coverage/x").status_code == 400
    for path in ("/coverage/search", "/coverage/:search"):
        assert world.get(path, q=" germany ").json()["jurisdictionId"] == 2
        assert world.get(path, q="se").json()["jurisdictionId"] == 4
        assert world.get(path, q="United States - California").json()["usStateAlpha2"] == "CA"
        assert api_error(world.get(path, q="Atlantis")) == "JurisdictionNotFound"
        assert world.get(path).status_code == 400
        assert world.get(path, q="  ").status_code == 400


def test_eligibility_and_case_creation_agree_in_every_jurisdiction(signed: World) -> None:
    for jurisdiction in signed.get("/coverage").json():
        country = jurisdiction["countryAlpha2"] or "FR"  # the rest of the world
        state = jurisdiction["usStateAlpha2"] or ("NY" if country == "US" else None)
        answer = eligibility(signed, country, state).json()
        assert answer["jurisdiction"]["id"] == jurisdiction["jurisdictionId"]
        assert answer["isEligible"] is bool(jurisdiction["partners"]), jurisdiction["jurisdiction"]
        created = signed.post(
            "/cases", case_body(debtor={"type": "Company", "name": "D", "countryAlpha2": country, "stateAlpha2": state})
        )
        if answer["isEligible"]:
            assert created.status_code == 200, created.text
            assert answer["partner"]["id"] == jurisdiction["partners"][0]["partnerId"]
            assert answer["powerOfAttorneyStatus"]["signed"] is True
        else:
            assert business_error(created) == "NoPartnerAvailable"
            assert (answer["partner"], answer["powerOfAttorneyStatus"]) == (None, None)
            assert answer["errorMessage"]


def test_eligibility_refuses_what_case_creation_refuses(world: World) -> None:
    assert api_error(eligibility(world, "US")) == "ValidationFailed"
    assert api_error(eligibility(world, "XX")) == "ValidationFailed"
    assert api_error(eligibility(world, "DK", debtor_type="Alien")) == "ValidationFailed"
    zero = {"countryAlpha2": "DK", "debtorType": "Private", "amount": 0, "currencyCode": "EUR"}
    assert world.post("/coverage/check-eligibility", zero).status_code == 400
    assert eligibility(world, "us", "ca").json()["jurisdiction"]["id"] == 5


def preview_body(**overrides: Any) -> dict[str, Any]:
    return {
        "amountToRecover": 1000,
        "currencyCode": "eur",
        "debtor": {"type": "Company", "countryAlpha2": "DE"},
        **overrides,
    }


def test_the_preview_names_the_contract_exactly_while_case_creation_needs_it(world: World) -> None:
    before = world.get("/cases", PageSize=100).json()["page"]["totalResults"]
    preview = world.post("/cases/preview", preview_body()).json()["result"]
    assert preview["isEligible"] is True
    assert [action["type"] for action in preview["requiredActions"]] == ["MissingDebtCollectionContract"]
    assert preview["signingHandoff"] == {"combinedSigningUrl": "https://app.debitura.com/CreditorContracts"}
    assert preview["partnerAssignment"]["partnerName"] == "Brandt Forderungsmanagement GmbH"
    assert preview["jurisdiction"] == {"id": 2, "name": "Germany", "countryAlpha2": "DE", "stateAlpha2": None}
    assert business_error(world.post("/cases", case_body())) == "MissingDebtCollectionContract"
    world.sign_contract()
    after = world.post("/cases/preview", preview_body()).json()["result"]
    assert (after["requiredActions"], after["signingHandoff"]) == ([], None)
    assert world.get("/cases", PageSize=100).json()["page"]["totalResults"] == before
    assert world.post("/cases", case_body()).status_code == 200


def test_the_preview_of_an_uncovered_debtor_is_ineligible(world: World) -> None:
    result = world.post("/cases/preview", preview_body(debtor={"type": "Private", "countryAlpha2": "AQ"})).json()[
        "result"
    ]
    assert (result["isEligible"], result["partnerAssignment"], result["pricingPreview"]) == (False, None, None)
    assert result["ineligibilityReason"]


def test_the_preview_prices_aged_claims(world: World) -> None:
    buckets = preview_body(
        amountToRecoverOver6Months=800, amountToRecoverOver12Months=500, amountToRecoverOver24Months=200
    )
    pricing = world.post("/cases/preview", buckets).json()["result"]["pricingPreview"]
    assert (pricing["baseSuccessFeePercentage"], pricing["ageSurchargePercentage"]) == (20.0, 7.0)
    assert (pricing["totalSuccessFeePercentage"], pricing["currencyCode"]) == (27.0, "EUR")
    old = world.post("/cases/preview", preview_body(dueDate="2024-06-01T00:00:00Z")).json()["result"]["pricingPreview"]
    assert old["ageSurchargePercentage"] == 20.0
    recent = world.post("/cases/preview", preview_body(dueDate="2025-10-01")).json()["result"]["pricingPreview"]
    assert recent["ageSurchargePercentage"] == 10.0
    assert (
        world.post("/cases/preview", preview_body()).json()["result"]["pricingPreview"]["ageSurchargePercentage"] == 0
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"amountToRecover": 0},
        {"currencyCode": "E1R"},
        {"debtor": {"type": "Alien", "countryAlpha2": "DE"}},
        {"debtor": {"type": "Company", "countryAlpha2": "XX"}},
        {"debtor": {"type": "Company", "countryAlpha2": "US"}},
        {"amountToRecoverOver24Months": 10},
        {"amountToRecoverOver12Months": 2000, "amountToRecoverOver24Months": 10},
        {"dueDate": "2027-01-01T00:00:00Z"},
        {"dueDate": "2024-01-01T00:00:00Z", "amountToRecoverOver12Months": 10, "amountToRecoverOver24Months": 5},
    ],
)
def test_the_preview_refuses_what_case_creation_refuses(signed: World, overrides: dict[str, Any]) -> None:
    assert api_error(signed.post("/cases/preview", preview_body(**overrides))) == "ValidationFailed"
    if "dueDate" not in overrides:  # POST /cases has its own due-date rules
        debtor = {"name": "D", **overrides.get("debtor", preview_body()["debtor"])}
        refused = signed.post("/cases", case_body(**{**overrides, "debtor": debtor}))
        assert refused.status_code == 400, refused.text


# -- case files ----------------------------------------------------------------------------


def upload(world: World, case_id: str, name: str, content: bytes, **fields: str) -> Any:
    files = {"File": (name, content, "application/octet-stream")}
    return world.client.post(f"/debitura/v1/cases/{case_id}/files", files=files, data=fields, headers=world.headers)


def case_files(world: World, case_id: str) -> list[dict[str, Any]]:
    response = world.get(f"/cases/{case_id}/files")
    assert response.status_code == 200, response.text
    return response.json()


def test_an_uploaded_file_is_listed_on_its_case_and_only_there(world: World, other: World) -> None:
    assert case_files(world, FJORDLINE) == []
    first = upload(world, FJORDLINE, "INV-2026-0412.PDF", b"%PDF-1.7\x00\xff", Description="The invoice")
    assert first.status_code == 200, first.text
    stored = first.json()
    assert (stored["caseId"], stored["entityId"], stored["entityType"]) == (FJORDLINE, FJORDLINE, "Invoice")
    assert (stored["fileName"], stored["description"], stored["documentType"]) == (
        "INV-2026-0412.PDF",
        "The invoice",
        "OriginalInvoice",
    )
    assert stored["dateCreated"] == stored["dateUpdated"] == START
    world.advance_clock(10)
    second = upload(world, FJORDLINE, "letter.txt", b"Dear debtor", DocumentType="DemandLetter").json()
    assert [f["id"] for f in case_files(world, FJORDLINE)] == [stored["id"], second["id"]]
    assert case_files(world, PENDING) == []
    assert case_files(other, FJORDLINE) == []
    assert api_error(world.get(f"/cases/{UNKNOWN}/files")) == "CaseNotFound"


def test_refused_uploads_store_nothing(world: World) -> None:
    unsupported = upload(world, FJORDLINE, "tool.exe", b"MZ")
    assert unsupported.status_code == 415
    assert api_error(unsupported) == "UnsupportedFileType"
    assert api_error(upload(world, FJORDLINE, "empty.pdf", b"")) == "EmptyFile"
    assert api_error(upload(world, FJORDLINE, "a.pdf", b"x", DocumentType="Selfie")) == "ValidationFailed"
    assert api_error(upload(world, UNKNOWN, "a.pdf", b"x")) == "CaseNotFound"
    as_text = world.client.post(
        f"/debitura/v1/cases/{FJORDLINE}/files", files={"File": (None, "text")}, headers=world.headers
    )
    assert api_error(as_text) == "ValidationFailed"
    as_json = world.post(f"/cases/{FJORDLINE}/files", {"File": "x"})
    assert api_error(as_json) == "ValidationFailed"
    too_big = upload(world, FJORDLINE, "big.pdf", b"x" * (1024 * 1024 + 1))
    assert too_big.status_code == 413
    assert case_files(world, FJORDLINE) == []

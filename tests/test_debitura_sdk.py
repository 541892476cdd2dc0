"""The official `debitura-debt-collection` SDK (1.x), unmodified but for its host, against a real sandbox server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import debitura_debt_collection as dc
import httpx
import pytest
from debitura_debt_collection.exceptions import (
    ApiException,
    BadRequestException,
    NotFoundException,
    UnauthorizedException,
)

FJORDLINE = "9fad543d-5f8c-54d9-9c9a-7100e29384fd"
SIGN_CONTRACT_TASK = "d36f1e7d-e42c-5694-b5bd-f244e434e049"
ANNA = "anna.holm@nordlys-design.example"
CreateCase = dc.DebituraWebExternalApiContractsV1CasesRequestsCreateCollectionCaseRequestApiViewModel
Debtor = dc.DebituraWebExternalApiContractsV1CasesDebtorDto
Advance = dc.DebituraWebExternalApiContractsV1CasesRequestsAdvanceTestCaseRequest
SendChat = dc.DebituraWebExternalApiContractsV1ChatsSendChatRequest
ADVANCE_BODY = "debitura_web_external_api_contracts_v1_cases_requests_advance_test_case_request"
CREATE_BODY = "debitura_web_external_api_contracts_v1_cases_requests_create_collection_case_request_api_view_model"
CHAT_BODY = "debitura_web_external_api_contracts_v1_chats_send_chat_request"


@pytest.fixture
def key() -> str:
    """A fresh API key per test: its own world, seeded from the demo fixtures."""
    return f"sdk-{uuid.uuid4().hex}"


@pytest.fixture
def signed(live_url: str, key: str) -> None:
    """The key's account signs its debt-collection contract (its SignContract task), so cases can be created."""
    response = httpx.post(f"{live_url}/__sandbox/tenants/{key}/debitura/tasks/{SIGN_CONTRACT_TASK}/resolve")
    assert response.status_code == 200, response.text


@pytest.fixture
def client(live_url: str, key: str) -> Iterator[dc.ApiClient]:
    configuration = dc.Configuration(host=f"{live_url}/debitura/v1")
    configuration.api_key["ApiKey"] = key
    with dc.ApiClient(configuration) as api_client:
        yield api_client


def new_case(cases: dc.CasesApi, reference: str, tag: str, **extra: Any) -> Any:
    body = CreateCase(
        currency_code="EUR",
        amount_to_recover=1250.00,
        var_date=datetime(2026, 9, 1),
        due_date=datetime(2026, 10, 1),
        creditor_reference=reference,
        is_test=True,
        tag=tag,
        debtor=Debtor(type="Company", name="Debtor GmbH", country_alpha2="DE"),
        **extra,
    )
    return cases.cases_post(**{CREATE_BODY: body}, idempotency_key=f"create-{reference}")


def test_create_fetch_by_id_and_both_references(client: dc.ApiClient, signed: None) -> None:
    cases = dc.CasesApi(client)
    case = new_case(cases, "INV-2026-0900", "run-1", claim_description="Chairs")
    assert isinstance(case, dc.DebituraWebExternalApiContractsV1CasesInvoiceDto)
    assert (case.lifecycle, case.currency, case.gross_amount, case.remainder) == (
        "Pending Verification Internal",
        "EUR",
        1250.0,
        1250.0,
    )
    assert case.is_test_case is True
    assert case.var_date == datetime(2026, 9, 1, tzinfo=UTC)
    assert case.debtor.country == "Germany"
    assert case.creditor.company_name == "Nordlys Design ApS"

    assert cases.cases_id_get(case.id) == case
    assert cases.cases_by_creditor_reference_creditor_reference_get("INV-2026-0900") == case
    assert cases.cases_case_reference_case_reference_get(case.reference.lower()) == case

    # The same Idempotency-Key and body replays the case instead of creating another.
    assert new_case(cases, "INV-2026-0900", "run-1", claim_description="Chairs") == case


def test_a_creditor_reference_with_slashes_round_trips(client: dc.ApiClient, signed: None) -> None:
    cases = dc.CasesApi(client)
    case = new_case(cases, "INV/2026/7", "run-2")
    assert cases.cases_by_creditor_reference_creditor_reference_get("INV/2026/7").id == case.id


def test_list_pages_through_every_case(client: dc.ApiClient) -> None:
    cases = dc.CasesApi(client)
    seen: list[str] = []
    page = 1
    while True:
        result = cases.cases_get(page=page, page_size=3)
        assert isinstance(result, dc.DebituraWebExternalApiContractsV1CasesInvoiceListDto)
        assert (result.page.current_page, result.page.page_size, result.page.total_results) == (page, 3, 7)
        assert result.page.response_count == len(result.cases)
        seen.extend(c.reference for c in result.cases)
        if page >= result.page.total_pages:
            break
        page += 1
    assert result.page.total_pages == 3
    assert len(seen) == len(set(seen)) == 7

    closed = cases.cases_get(statuses=["Closed", "paused"], sort="GrossAmount:desc")
    assert [c.reference for c in closed.cases] == ["D9L4F2KU", "R5N7B1YE", "M8T3J6QA"]
    one = cases.cases_get(ids=[FJORDLINE])
    assert [c.id for c in one.cases] == [FJORDLINE]


def test_send_and_list_chat_messages(client: dc.ApiClient) -> None:
    cases = dc.CasesApi(client)
    before = cases.cases_id_chats_get(FJORDLINE)
    assert [m.role for m in before] == [0, 1, 0]
    assert all(isinstance(m, dc.DebituraWebExternalApiContractsV1ChatsChatDto) for m in before)

    sent = cases.cases_id_chats_post(
        FJORDLINE, **{CHAT_BODY: SendChat(message="Yes, we accept three instalments.", user_email=ANNA)}
    )
    assert (sent.role, sent.role_label, sent.user.id, sent.user.first_name) == (1, "Creditor", 4101, "Anna")
    after = cases.cases_id_chats_get(FJORDLINE)
    assert after[:-1] == before
    assert after[-1] == sent

    timeline = cases.cases_id_timeline_get(FJORDLINE)
    assert timeline.current_engagement_phase == "Pre-legal"
    assert timeline.items[-1].description == "Yes, we accept three instalments."


def test_advance_a_test_case_and_clean_up(client: dc.ApiClient, signed: None) -> None:
    cases, tests = dc.CasesApi(client), dc.TestCasesApi(client)
    case = new_case(cases, "INV-2026-0901", "run-3")

    def advance(to: str, amount: float | None = None) -> Any:
        return tests.test_cases_id_advance_post(case.id, **{ADVANCE_BODY: Advance(to=to, amount=amount)})

    result = advance("Active")
    assert (result.advanced, result.state) == (True, "Active")
    assert (advance("Active").advanced, cases.cases_id_get(case.id).lifecycle) == (False, "Active")
    result = advance("Closed:Paid", 1000.0)
    assert (result.advanced, result.state) == (True, "Closed:Paid")
    closed = cases.cases_id_get(case.id)
    assert (closed.lifecycle, closed.close_code, closed.remainder) == ("Closed", "Paid", 250.0)
    assert closed.date_finished is not None

    with pytest.raises(BadRequestException) as refused:
        advance("Closed:NoPayment")
    assert json.loads(refused.value.body)["businessErrors"][0]["type"] == "InvalidTestCaseTransition"
    with pytest.raises(BadRequestException):
        advance("Active")

    tests.test_cases_id_delete(case.id)
    tests.test_cases_id_delete(case.id)  # deleting it again is fine
    with pytest.raises(NotFoundException) as missing:
        cases.cases_id_get(case.id)
    assert missing.value.data.business_errors[0].type == "CaseNotFound"
    new_case(cases, "INV-2026-0902", "run-3")
    tests.test_cases_delete(tag="run-3")
    assert cases.cases_get(page_size=100).page.total_results == 7


def test_me_and_bearer_auth(live_url: str, key: str) -> None:
    configuration = dc.Configuration(host=f"{live_url}/debitura/v1", access_token=key)
    with dc.ApiClient(configuration) as api_client:
        me = dc.MeApi(api_client).me_get()
    assert isinstance(me, dc.DebituraWebExternalCustomerAPIModelsMeCreditorMeApiDTO)
    assert me.company_name == "Nordlys Design ApS"


def test_no_credentials_is_unauthorized(live_url: str) -> None:
    configuration = dc.Configuration(host=f"{live_url}/debitura/v1")
    with dc.ApiClient(configuration) as api_client, pytest.raises(UnauthorizedException) as refused:
        dc.MeApi(api_client).me_get()
    assert json.loads(refused.value.body)["businessErrors"][0]["type"] == "Unauthorized"


def test_validation_errors_deserialize(client: dc.ApiClient) -> None:
    cases = dc.CasesApi(client)
    body = CreateCase(currency_code="EUR", amount_to_recover=10.0, debtor=Debtor(type="Company", name="US Debtor"))
    body.debtor.country_alpha2 = "US"
    with pytest.raises(BadRequestException) as refused:
        cases.cases_post(**{CREATE_BODY: body})
    assert refused.value.data.business_errors[0].type == "ValidationFailed"
    assert "stateAlpha2" in refused.value.data.message


def test_tasks_through_the_same_client(client: dc.ApiClient) -> None:
    """SDK 1.0.0 has no tasks API: the raw call goes through the SDK's client (host and auth reused)."""

    def get_json(path: str, query: list[tuple[str, Any]]) -> Any:
        params = client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            collection_formats={"type": "multi"},
            auth_settings=["ApiKey", "Bearer"],
        )
        response = client.call_api(*params)
        response.read()
        assert response.status == 200
        return json.loads(response.data)

    queue = get_json("/tasks", [("type", ["ReplyToChat", "SignContract"]), ("Page", 1), ("PageSize", 50)])
    assert sorted(task["type"] for task in queue["tasks"]) == ["ReplyToChat", "SignContract"]
    assert queue["page"]["totalResults"] == 2
    assert [task["type"] for task in get_json(f"/cases/{FJORDLINE}/tasks", [])] == ["ReplyToChat"]


def test_a_debtor_named_by_country_alone_as_the_sdk_sends_it(client: dc.ApiClient, signed: None) -> None:
    """The SDK sends `countryAlpha2: null` when only the country's name is set; Debitura resolves the name."""
    cases = dc.CasesApi(client)
    body = CreateCase(
        currency_code="EUR", amount_to_recover=10.0, debtor=Debtor(type="Company", name="N", country="Norway")
    )
    assert body.to_dict()["debtor"].get("countryAlpha2", "absent") in (None, "absent")
    case = cases.cases_post(**{CREATE_BODY: body})
    assert (case.debtor.country_alpha2, case.debtor.country) == ("NO", "Norway")


def test_an_unsigned_contract_is_the_sdks_422(client: dc.ApiClient) -> None:
    debtor = Debtor(type="Company", name="N", country_alpha2="DE")
    body = CreateCase(currency_code="EUR", amount_to_recover=10.0, debtor=debtor)
    with pytest.raises(ApiException) as refused:
        dc.CasesApi(client).cases_post(**{CREATE_BODY: body})
    assert refused.value.status == 422
    answer = dc.DebituraWebExternalApiContractsV1CasesBusinessErrorResponseApiDTO.from_json(refused.value.body)
    assert answer.business_errors[0].type == "MissingDebtCollectionContract"
    assert answer.signing_handoff.combined_signing_url == "https://app.debitura.com/CreditorContracts"
    body.allow_pending_contracts = True
    assert dc.CasesApi(client).cases_post(**{CREATE_BODY: body}).lifecycle == "Pending contract signing"

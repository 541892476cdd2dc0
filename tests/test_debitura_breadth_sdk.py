"""The official `debitura-debt-collection` SDK, unmodified but for its host, on divisions, payments, the team,
contracts, coverage, the preview, quote requests and a case's period and validation (a real server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import debitura_debt_collection as dc
import pytest
from debitura_debt_collection.exceptions import ApiException, NotFoundException

from tests.debitura_contract import sign_contract
from tests.test_debitura_sdk import ADVANCE_BODY, Advance, new_case

FJORDLINE = "9fad543d-5f8c-54d9-9c9a-7100e29384fd"
KASTANIE = "c7085dfa-7f0b-5b03-afc8-7a47ea6d4af5"
CONTRACT_INTERIORS = "62889926-f3e4-582f-af56-f1360181ad79"
FJORDLINE_LEAD = "3f44af9b-9858-57b9-a731-5f2fd45c7a76"
FJORDLINE_QUOTE = "36f28e46-6c0a-50ff-8ba1-3a44eca3fb01"
CreateDivision = dc.DebituraWebExternalApiContractsV1DivisionsCreateDivisionRequestDto
UpdateDivision = dc.DebituraWebExternalApiContractsV1DivisionsUpdateDivisionRequestDto
Eligibility = dc.DebituraWebExternalCustomerAPIModelsCoveragesCaseEligibilityRequestApiDTO
Preview = dc.DebituraWebExternalApiContractsV1CasesRequestsPreviewCaseRequestApiViewModel
PreviewDebtor = dc.DebituraWebExternalApiContractsV1CasesRequestsPreviewDebtorDto
CREATE_DIVISION = "debitura_web_external_api_contracts_v1_divisions_create_division_request_dto"
UPDATE_DIVISION = "debitura_web_external_api_contracts_v1_divisions_update_division_request_dto"
ELIGIBILITY = "debitura_web_external_customer_api_models_coverages_case_eligibility_request_api_dto"
PREVIEW = "debitura_web_external_api_contracts_v1_cases_requests_preview_case_request_api_view_model"


@pytest.fixture
def key() -> str:
    return f"sdk-breadth-{uuid.uuid4().hex}"


@pytest.fixture
def client(live_url: str, key: str) -> Iterator[dc.ApiClient]:
    configuration = dc.Configuration(host=f"{live_url}/debitura/v1")
    configuration.api_key["ApiKey"] = key
    with dc.ApiClient(configuration) as api_client:
        yield api_client


def test_divisions_through_the_sdk(client: dc.ApiClient) -> None:
    divisions = dc.DivisionsApi(client)
    listed = divisions.divisions_get(include_archived=True)
    assert listed.page.total_results == 2
    assert [str(d.id) for d in listed.divisions] == [CONTRACT_INTERIORS, "309cdb1f-ca5b-58dc-b0e7-5a8a908350a9"]
    body = CreateDivision(company_name="Nordlys Design - Hotels", city="Odense", country_code="DK")
    created = divisions.divisions_post(**{CREATE_DIVISION: body}, idempotency_key="division-1")
    assert isinstance(created, dc.DebituraWebExternalApiContractsV1DivisionsDivisionDto)
    assert (created.country.alpha2, created.is_archived, created.updated_utc) == ("DK", False, None)
    assert divisions.divisions_id_get(str(created.id)) == created
    replaced = divisions.divisions_id_put(
        str(created.id), **{UPDATE_DIVISION: UpdateDivision(company_name="Hotels", city="Vejle", country_code="SE")}
    )
    assert (replaced.company_name, replaced.country.name) == ("Hotels", "Sweden")
    assert divisions.divisions_id_archive_post(str(created.id)).is_archived is True
    with pytest.raises(ApiException) as again:
        divisions.divisions_idarchive_post(str(created.id))
    assert again.value.status == 422
    assert divisions.divisions_id_delete(str(created.id)) is None
    with pytest.raises(NotFoundException):
        divisions.divisions_id_get(str(created.id))


def test_payments_of_a_paid_test_case_through_the_sdk(live_url: str, key: str, client: dc.ApiClient) -> None:
    sign_contract(live_url, key)
    cases = dc.CasesApi(client)
    case = new_case(cases, "INV-SDK-PAY", "sdk-pay")
    dc.TestCasesApi(client).test_cases_id_advance_post(
        str(case.id), **{ADVANCE_BODY: Advance(to="Closed:Paid", amount=400.0)}
    )
    (payment,) = cases.cases_id_payments_get(str(case.id))
    assert isinstance(payment, dc.DebituraWebExternalApiContractsV1PaymentsPaymentDto)
    assert (payment.gross_amount, payment.currency, payment.invoice.status) == (400.0, "EUR", "Closed")
    payments = dc.PaymentsApi(client)
    assert payments.payments_id_get(str(payment.id)) == payment
    page = payments.payments_get(page=1, page_size=100)
    assert payment.id in [p.id for p in page.payments]
    assert page.page.total_results == 4  # the three demo payments and this one


def test_team_contracts_and_case_details_through_the_sdk(live_url: str, key: str, client: dc.ApiClient) -> None:
    users = dc.UsersApi(client).users_get()
    assert [u.name for u in users.users] == ["Anna Holm", "Mads Krogh"]
    contracts = dc.ContractsApi(client)
    assert contracts.contracts_debt_collection_status_get().signed is False
    sign_contract(live_url, key)
    assert contracts.contracts_debt_collection_status_get().signed is True
    cases = dc.CasesApi(client)
    status = cases.cases_id_contract_status_get(FJORDLINE)
    assert (status.sdca.signed, status.poa.signed, status.collection_partner_name) == (
        True,
        True,
        "Lindqvist Inkasso A/S",
    )
    period = cases.cases_id_exclusive_period_get(FJORDLINE)
    assert period.current_end_date == datetime(2027, 3, 4, 10, 0, tzinfo=UTC)
    validation = cases.cases_id_validation_get(KASTANIE)
    assert validation.needs_info is True and len(validation.items) == 1


def test_quote_requests_through_the_sdk(client: dc.ApiClient) -> None:
    cases = dc.CasesApi(client)
    (lead,) = cases.cases_id_quote_requests_get(FJORDLINE).quote_requests
    assert (str(lead.quote_request_id), lead.current_quotes_count) == (FJORDLINE_LEAD, 2)
    detail = cases.cases_id_quote_requests_quote_request_id_get(FJORDLINE, FJORDLINE_LEAD)
    assert detail.is_max_bid_count_reached is False
    quotes = cases.cases_id_quote_requests_quote_request_id_quotes_get(FJORDLINE, FJORDLINE_LEAD).quotes
    assert len(quotes) == 2
    quote = cases.cases_id_quote_requests_quote_request_id_quotes_quote_id_get(
        FJORDLINE, FJORDLINE_LEAD, FJORDLINE_QUOTE
    )
    assert quote.pricing.success_fee_fee == 25.0
    with pytest.raises(NotFoundException):
        cases.cases_id_quote_requests_quote_request_id_get(KASTANIE, FJORDLINE_LEAD)


def test_coverage_and_the_preview_through_the_sdk(client: dc.ApiClient) -> None:
    coverage = dc.CoverageApi(client)
    jurisdictions = coverage.coverage_get()
    assert len(jurisdictions) == 8
    assert coverage.coverage_id_get(2).country_alpha2 == "DE"
    assert coverage.coverage_search_get(q="Norway").jurisdiction_id == 3
    eligible = coverage.coverage_check_eligibility_post(
        **{
            ELIGIBILITY: Eligibility(
                country_alpha2="US", state_alpha2="CA", debtor_type="Private", amount=99.5, currency_code="USD"
            )
        }
    )
    assert (eligible.is_eligible, eligible.partner.name) == (True, "Harbor Recovery Partners LLC")
    preview = dc.CasesApi(client).cases_preview_post(
        **{
            PREVIEW: Preview(
                amount_to_recover=500.0, currency_code="DKK", debtor=PreviewDebtor(type="Company", country_alpha2="DK")
            )
        }
    )
    assert preview.result.is_eligible is True
    assert [action.type for action in preview.result.required_actions] == ["MissingDebtCollectionContract"]


def test_case_files_through_the_sdk(client: dc.ApiClient, tmp_path: Any) -> None:
    invoice = tmp_path / "INV-2026-0412.pdf"
    invoice.write_bytes(b"%PDF-1.7 the invoice")
    cases = dc.CasesApi(client)
    stored = cases.cases_id_files_post(FJORDLINE, str(invoice), description="Invoice", document_type="OriginalInvoice")
    assert isinstance(stored, dc.DebituraWebExternalApiContractsV1FilesCaseFileDto)
    assert (stored.file_name, stored.description) == ("INV-2026-0412.pdf", "Invoice")
    assert [f.id for f in cases.cases_id_files_get(FJORDLINE)] == [stored.id]
    with pytest.raises(ApiException) as refused:
        cases.cases_id_files_post(FJORDLINE, b"raw bytes")  # the SDK names such a file "File": no extension
    assert refused.value.status == 415

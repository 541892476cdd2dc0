"""`--credentials declared`: only the fixtures' tokens are let in, and a token can expire on the tenant clock."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings


@pytest.fixture(scope="module")
def declared() -> TestClient:
    return TestClient(create_app(Settings(validate_responses=True, credentials="declared")))


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


WETHOD = {"Wethod-Company": "acme", "Wethod-Version": "2024-06-15"}
# provider: (a path it serves, the headers that send a credential)
CALLS = {
    "payt": ("/payt/v1/tasks/5001?administration_id=adm_1001", lambda t: {"Authorization": f"Bearer {t}"}),
    "invoiced": ("/invoiced/customers", basic),
    "wethod": ("/wethod/api/invoices", lambda t: {"Authorization": f"Bearer {t}", **WETHOD}),
    "debitura": ("/debitura/v1/tasks", lambda t: {"XApiKey": t}),
}
DEMO = {
    "payt": "demo_payt_token",
    "invoiced": "demo_invoiced_key",
    "wethod": "demo_wethod_token",
    "debitura": "demo_debitura_key",
}
ENVELOPES = {  # the field each provider's error envelope carries its message in, and its 401 code
    "payt": lambda body: (body["code"], body["message"]),
    "invoiced": lambda body: (body["type"], body["message"]),
    "wethod": lambda body: (body["key"], body["message"]),
    "debitura": lambda body: (body["error"], body["message"]),
}


@pytest.mark.parametrize("provider", sorted(CALLS))
def test_only_declared_tokens_are_let_in(declared: TestClient, provider: str) -> None:
    path, headers = CALLS[provider]
    assert declared.get(path, headers=headers(DEMO[provider])).status_code == 200
    refused = declared.get(path, headers=headers(f"undeclared_{provider}"))
    assert refused.status_code == 401
    code, message = ENVELOPES[provider](refused.json())
    assert "declared in its fixtures" in message
    missing = declared.get(path)
    assert missing.status_code == 401
    assert code == ENVELOPES[provider](missing.json())[0]  # the provider's one code for a 401
    if provider == "invoiced":
        assert refused.headers["www-authenticate"] == missing.headers["www-authenticate"]
    assert f"undeclared_{provider}" not in str(declared.get("/__sandbox/health").json())


@pytest.mark.parametrize("provider", sorted(CALLS))
def test_an_expired_token_is_refused_once_the_tenant_clock_passes_it(declared: TestClient, provider: str) -> None:
    path, headers = CALLS[provider]
    token = f"demo_{provider}_expiring"
    admin = f"/__sandbox/tenants/{token}"
    declared.post(f"{admin}/reset")
    declared.post(f"{admin}/clock", json={"frozen": True, "set": "2029-12-31T23:59:59Z"})
    assert declared.get(path, headers=headers(token)).status_code == 200
    declared.post(f"{admin}/clock", json={"advance": 1})
    expired = declared.get(path, headers=headers(token))
    assert expired.status_code == 401
    assert "expired at 2030-01-01T00:00:00Z" in ENVELOPES[provider](expired.json())[1]
    declared.post(f"{admin}/clock", json={"set": "2029-06-01T00:00:00Z"})
    assert declared.get(path, headers=headers(token)).status_code == 200


def test_any_credential_is_its_own_world_by_default(client: TestClient) -> None:
    assert client.get(
        "/payt/v1/tasks/5001?administration_id=adm_1001", headers={"Authorization": "Bearer x"}
    ).is_success

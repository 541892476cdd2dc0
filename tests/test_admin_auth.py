"""The admin API lets no one in off loopback: the admin token, the refused start, masked access logs."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from sandbox.access_log import MaskCredentials, masked_path
from sandbox.admin_auth import is_loopback, open_operations, start_problem
from sandbox.app import create_app
from sandbox.cli import main
from sandbox.engine import Settings

TOKEN = "admin-secret-0123456789"


@pytest.fixture
def guarded() -> TestClient:
    return TestClient(create_app(Settings(validate_responses=True, admin_token=TOKEN)))


def test_every_admin_call_but_health_needs_the_token(guarded: TestClient) -> None:
    assert guarded.get("/__sandbox/health").status_code == 200
    for method, path in [
        ("GET", "/__sandbox/tenants/someone/clock"),
        ("POST", "/__sandbox/reset"),
        ("GET", "/__sandbox/tenants/someone/requests"),
        ("GET", "/__sandbox/specs/payt.yaml"),
        ("POST", "/__sandbox/tenants/someone/debitura/cases/x/partner-messages"),
        ("GET", "/__sandbox/no/such/path"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = guarded.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.json()["error"]["code"] == "unauthorized"
            assert answer.headers["www-authenticate"] == 'Bearer realm="sandbox admin"'
    allowed = guarded.get("/__sandbox/tenants/someone/clock", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and "now" in allowed.json()
    # Provider APIs are not the admin API: their own credentials, as before.
    assert guarded.get(
        "/payt/v1/tasks/5001?administration_id=adm_1001", headers={"Authorization": "Bearer t"}
    ).is_success


def test_without_a_token_the_admin_api_is_open(client: TestClient) -> None:
    assert client.get("/__sandbox/tenants/someone/clock").status_code == 200


def test_sandbox_serve_refuses_a_non_loopback_host_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SANDBOX_ADMIN_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "--admin-token" in capsys.readouterr().err
    assert start_problem("0.0.0.0", TOKEN) is None
    assert start_problem("127.0.0.1", None) is None and start_problem("::1", None) is None
    assert start_problem("localhost", None) is None
    assert start_problem("sandbox.example", None) is not None  # a name may resolve to anything
    assert start_problem("0.0.0.0", " ") == "the admin token is empty"
    assert is_loopback("127.1.2.3") and not is_loopback("10.0.0.5")


def test_the_access_log_masks_credentials_in_admin_paths() -> None:
    assert masked_path("/__sandbox/tenants/demo_payt_token_1234/clock") == "/__sandbox/tenants/****1234/clock"
    assert masked_path("/__sandbox/tenants/short/requests?x=1") == "/__sandbox/tenants/****/requests?x=1"
    assert masked_path("/payt/v1/tasks/5001") == "/payt/v1/tasks/5001"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/__sandbox/tenants/a_very_long_secret_key/state", "1.1", 200),
        None,
    )
    assert MaskCredentials().filter(record)
    assert "a_very_long_secret" not in record.getMessage() and "****_key/state" in record.getMessage()


def test_every_admin_operation_but_the_open_ones_documents_the_401() -> None:
    engine = create_app(Settings()).state.engine
    open_ids = open_operations(engine.admin_spec.resolved)
    assert "getHealth" in open_ids
    undocumented = [
        op.operation_id
        for op in engine.admin.operations
        if op.operation_id not in open_ids and not op.response_schema(401)[0]
    ]
    assert undocumented == []
    assert not any(op.response_schema(401)[0] for op in engine.admin.operations if op.operation_id in open_ids)

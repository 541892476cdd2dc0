"""The pytest plugin's fixtures, used as a project using the sandbox would use them."""

from __future__ import annotations

import textwrap

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sandbox.pytest_plugin import SandboxServer, SandboxTenant

ADMIN = "adm_1001"


def payt(tenant: SandboxTenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.credential}"}


def test_sandbox_tenant_drives_a_real_server(sandbox_server: SandboxServer, sandbox_tenant: SandboxTenant) -> None:
    sandbox_tenant.freeze("2031-05-01T12:00:00Z")
    sandbox_tenant.advance(30)
    with httpx.Client(base_url=sandbox_server.url, headers=payt(sandbox_tenant)) as http:
        done = http.patch("/payt/v1/tasks/5001/mark_completed", data={"administration_id": ADMIN})
        assert done.json()["completed_at"] == "2031-05-01T12:00:30Z"
    sandbox_tenant.verify("PATCH", "/payt/v1/tasks/*/mark_completed", count=1)
    with pytest.raises(AssertionError, match="Expected exactly 2 call"):
        sandbox_tenant.verify("PATCH", "/payt/v1/tasks/*/mark_completed", count=2)
    assert [entry["status"] for entry in sandbox_tenant.requests()] == [200]


def test_sandbox_tenant_loads_records_and_injects_faults(
    sandbox_server: SandboxServer, sandbox_tenant: SandboxTenant
) -> None:
    task = {
        "id": "8001",
        "administration_id": ADMIN,
        "subject": "From the plugin",
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
    }
    assert sandbox_tenant.load({"payt": {"tasks": [task]}}) == {"loaded": {"payt": {"tasks": 1}}}
    sandbox_tenant.fault(method="GET", path="/payt/v1/tasks/*", status=503, times=1)
    with httpx.Client(base_url=sandbox_server.url, headers=payt(sandbox_tenant)) as http:
        url = "/payt/v1/tasks/8001"
        assert http.get(url, params={"administration_id": ADMIN}).status_code == 503
        assert http.get(url, params={"administration_id": ADMIN}).json()["subject"] == "From the plugin"
    with pytest.raises(AssertionError, match="subject is missing"):
        sandbox_tenant.load({"payt": {"tasks": [{key: v for key, v in task.items() if key != "subject"}]}})


def test_snapshots_through_the_plugin(sandbox_server: SandboxServer, sandbox_tenant: SandboxTenant) -> None:
    with httpx.Client(base_url=sandbox_server.url, headers=payt(sandbox_tenant)) as http:
        http.get("/payt/v1/tasks", params={"administration_id": ADMIN})
        taken = sandbox_tenant.snapshot()
        http.patch("/payt/v1/tasks/5001/mark_completed", data={"administration_id": ADMIN})
        sandbox_tenant.restore(taken)
        assert sandbox_tenant.snapshot() == taken
        assert http.get("/payt/v1/tasks/5001", params={"administration_id": ADMIN}).json().get("completed_at") is None


def test_sandbox_app_is_a_fresh_in_process_app(sandbox_app: Starlette) -> None:
    with TestClient(sandbox_app) as client:
        assert client.get("/__sandbox/health").json()["status"] == "ok"


PARALLEL_TESTS = textwrap.dedent(
    """
    import httpx
    import pytest

    @pytest.mark.parametrize("n", range(8))
    def test_each_test_starts_from_the_fixtures(sandbox_server, sandbox_tenant, n):
        auth = {"Authorization": f"Bearer {sandbox_tenant.credential}"}
        with httpx.Client(base_url=sandbox_server.url, headers=auth) as http:
            first = http.patch("/payt/v1/tasks/5001/mark_completed", data={"administration_id": "adm_1001"})
            assert first.status_code == 200, first.text  # 422 if another test's change leaked in
            http.post("/payt/v1/tasks/5001/comment", data={"administration_id": "adm_1001", "comment": str(n)})
            task = http.get(
                "/payt/v1/tasks/5001",
                params={"administration_id": "adm_1001", "fields": '{"only": ["comments"]}'},
            ).json()
            assert [c["content"] for c in task["comments"]] == ["Left a voicemail.", str(n)]
    """
)


def test_tests_in_parallel_under_xdist_never_see_each_others_state(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_parallel=PARALLEL_TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)

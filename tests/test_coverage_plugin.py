"""The pytest plugin's coverage summary, run as a project using the sandbox would run it."""

from __future__ import annotations

import pytest

from tests.coverage_expectations import just_above, not_seen, operations_in, share, statuses_in

CLIENT_TESTS = """
import httpx

def headers(tenant):
    return {"Authorization": f"Bearer {tenant.credential}"}

def test_lists(sandbox_server, sandbox_tenant):
    with httpx.Client(base_url=sandbox_server.url, headers=headers(sandbox_tenant)) as http:
        assert http.get("/payt/v1/tasks", params={"administration_id": "adm_1001"}).status_code == 200

def test_reads_one(sandbox_server, sandbox_tenant):
    with httpx.Client(base_url=sandbox_server.url, headers=headers(sandbox_tenant)) as http:
        assert http.get("/payt/v1/tasks/999999", params={"administration_id": "adm_1001"}).status_code == 404
"""
OPERATIONS, STATUSES = operations_in("payt"), statuses_in("payt")
MEASURED = share(2, OPERATIONS)  # what the two calls above cover of Payt's operations


def test_the_summary_at_the_end_of_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "--sandbox-coverage")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*= sandbox coverage =*",
            f"payt: 2/{OPERATIONS} operations ({MEASURED}%), 2/{STATUSES} documented statuses"
            f" ({share(2, STATUSES)}%), 2 calls",
            f"  + GET /payt/v1/tasks * getV1Tasks: seen 200x1; not {not_seen('payt', 'getV1Tasks', '200')}",
            f"  + GET /payt/v1/tasks/{{id}} * getV1TasksId: seen 404x1; not {not_seen('payt', 'getV1TasksId', '404')}",
            "  - PATCH /payt/v1/tasks/{id}/mark_completed * never called",
        ]
    )


def test_the_gate_fails_the_session_and_adds_up_xdist_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    above = just_above(2, OPERATIONS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--sandbox-coverage-fail-under", str(above)
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*2 passed*"])  # the tests pass; the gate fails the session
    output = result.stdout.str()
    assert f"payt: 2/{OPERATIONS} operations ({MEASURED}%)" in output  # each worker served one of the calls
    assert f"sandbox: coverage of operations {MEASURED}% below the required {above:g}%" in output


def test_the_gate_passes_at_or_above_its_threshold(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", f"--sandbox-coverage-fail-under={MEASURED}"
    )
    assert result.ret == 0
    assert f"coverage of operations {MEASURED}% meets the required {MEASURED:g}%" in result.stdout.str()


def test_no_summary_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    assert result.ret == 0
    assert "sandbox coverage" not in result.stdout.str()


def test_a_gate_with_no_calls_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(sandbox_server):\n    assert sandbox_server.url\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", "--sandbox-coverage-fail-under=1"
    )
    assert result.ret == 1
    assert (
        "no call reached sandbox_server: nothing to report (and the coverage gate cannot pass)" in result.stdout.str()
    )


def test_a_named_provider_is_reported_even_if_never_called(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=CLIENT_TESTS)
    args = ["-p", "no:cacheprovider", "-p", "no:xdist", "--sandbox-coverage", "--sandbox-coverage-provider=wethod"]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0
    output = result.stdout.str()
    assert "wethod: 0/10 operations (0.0%)" in output and "payt:" not in output

"""`sandbox coverage` against a running sandbox: the formats, the gate and its exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from sandbox.app import create_app
from sandbox.cli import main
from sandbox.engine import Settings
from sandbox.testing import running_server
from tests.coverage_expectations import (
    PROVIDERS,
    just_above,
    not_seen,
    operations_in,
    operations_of,
    share,
    statuses_in,
)

TOKEN = "coverage-cli"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPERATIONS, STATUSES = operations_in("payt"), statuses_in("payt")
OPERATION_LINE = re.compile(r"  ([+-]) (\S+ \S+) +(\w+): (.*)")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """A sandbox of its own (server-wide counts are exact) with three Payt calls made."""
    with running_server(create_app(Settings(validate_responses=True))) as base:
        with httpx.Client(base_url=base, headers=AUTH) as http:
            assert http.get("/payt/v1/tasks", params={"administration_id": "adm_1001"}).status_code == 200
            assert http.get("/payt/v1/tasks/999999", params={"administration_id": "adm_1001"}).status_code == 404
            assert http.get("/payt/v1/tasks/5001").status_code == 422
        yield base


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["coverage", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_reads_at_a_glance(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "--url", url, "--provider", "payt")
    assert code == 0
    lines = out.splitlines()
    totals = f"2/{OPERATIONS} operations ({share(2, OPERATIONS)}%), 3/{STATUSES} documented statuses"
    assert lines[0] == f"payt: {totals} ({share(3, STATUSES)}%), 3 calls"
    assert lines[-1].startswith(f"total: {totals}")
    rows = [OPERATION_LINE.fullmatch(line) for line in lines[1:-1]]
    assert all(rows)
    shown = {row[3]: (row[1], row[2], row[4]) for row in rows}
    assert list(shown) == [op.operation_id for op in operations_of("payt")]  # one line each, in the spec's order
    assert shown["getV1Tasks"] == (
        "+",
        "GET /payt/v1/tasks",
        f"seen 200x1; not {not_seen('payt', 'getV1Tasks', '200')}",
    )
    assert shown["getV1TasksId"] == (
        "+",
        "GET /payt/v1/tasks/{id}",
        f"seen 404x1 422x1; not {not_seen('payt', 'getV1TasksId', '404', '422')}",
    )
    assert shown["patchV1TasksIdMarkCompleted"] == ("-", "PATCH /payt/v1/tasks/{id}/mark_completed", "never called")
    assert [mark for mark, _, _ in shown.values()].count("+") == 2


def test_the_gate(capsys: pytest.CaptureFixture[str], url: str) -> None:
    measured, above = share(2, OPERATIONS), just_above(2, OPERATIONS)
    code, _, err = run(capsys, "--url", url, "--provider", "payt", "--fail-under", str(measured))
    assert code == 0 and f"coverage of operations {measured}% meets the required {measured:g}%" in err
    code, _, err = run(capsys, "--url", url, "--provider", "payt", "--fail-under", str(above))
    assert code == 1 and f"coverage of operations {measured}% below the required {above:g}%" in err
    measured, above = share(3, STATUSES), just_above(3, STATUSES)
    code, _, err = run(capsys, "--url", url, "--provider", "payt", "--fail-under", str(above), "--measure", "statuses")
    assert code == 1 and f"coverage of statuses {measured}% below the required {above:g}%" in err
    code, _, err = run(capsys, "--url", url, "--fail-under", str(just_above(2, operations_in(*PROVIDERS))))
    assert code == 1 and f"coverage of operations {share(2, operations_in(*PROVIDERS))}% below" in err


def test_json_is_the_admin_report(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "--url", url, "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report == httpx.get(f"{url}/__sandbox/coverage").json()
    assert sorted(report["providers"]) == ["debitura", "invoiced", "payt", "wethod"]


def test_a_tenants_coverage(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "--url", url, "--tenant", "nobody-called", "--provider", "payt", "--format", "json")
    assert code == 0 and json.loads(out)["totals"]["calls"] == 0
    code, out, _ = run(capsys, "--url", url, "--tenant", TOKEN, "--provider", "payt", "--format", "json")
    assert json.loads(out)["totals"]["calls"] == 3


def test_junit_fails_the_operations_never_called(capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path) -> None:
    target = tmp_path / "coverage.xml"
    code, out, _ = run(capsys, "--url", url, "--provider", "payt", "--format", "junit", "--output", str(target))
    assert code == 0 and out == ""
    root = ElementTree.parse(target).getroot()
    assert root.tag == "testsuites" and root.get("tests") == str(OPERATIONS)
    assert root.get("failures") == str(OPERATIONS - 2)
    cases = {case.get("name"): case for case in root.iter("testcase")}
    called = cases["getV1Tasks (GET /payt/v1/tasks)"]
    assert called.find("failure") is None
    assert called.find("system-out").text == f"seen 200x1; not {not_seen('payt', 'getV1Tasks', '200')}"
    assert cases["postV1TasksIdComment (POST /payt/v1/tasks/{id}/comment)"].find("failure").get("message") == (
        "never called"
    )


def test_html(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "--url", url, "--provider", "payt", "--format", "html")
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")
    assert '<tr class="hit"><td>getV1Tasks</td><td>GET</td><td>/payt/v1/tasks</td><td>1</td>' in out
    assert '<tr class="miss"><td>postV1TasksIdComment</td>' in out


def test_errors_exit_2(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "--url", url, "--provider", "nope")
    assert code == 2 and "400: Unknown provider 'nope'" in err
    code, _, err = run(capsys, "--url", "http://127.0.0.1:9")
    assert code == 2 and "cannot read" in err

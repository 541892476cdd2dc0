"""`sandbox coverage` against a running sandbox: the formats, the gate and its exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from sandbox.app import create_app
from sandbox.cli import main
from sandbox.engine import Settings
from sandbox.testing import running_server

TOKEN = "coverage-cli"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


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
    assert lines[0] == "payt: 2/5 operations (40.0%), 3/43 documented statuses (6.9%), 3 calls"
    assert lines[1].startswith("  + GET /payt/v1/tasks ")
    assert lines[1].endswith("getV1Tasks: seen 200x1; not 401 403 404 422 429 500 503")
    assert lines[2].endswith("getV1TasksId: seen 404x1 422x1; not 200 401 403 429 500 503")
    assert lines[3].startswith("  - PATCH /payt/v1/tasks/{id}/mark_completed ")
    assert lines[3].endswith("never called")
    assert lines[-1].startswith("total: 2/5 operations (40.0%)")


def test_the_gate(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "--url", url, "--provider", "payt", "--fail-under", "40")
    assert code == 0 and "coverage of operations 40.0% meets the required 40%" in err
    code, _, err = run(capsys, "--url", url, "--provider", "payt", "--fail-under", "40.1")
    assert code == 1 and "coverage of operations 40.0% below the required 40.1%" in err
    code, _, err = run(capsys, "--url", url, "--provider", "payt", "--fail-under", "7", "--measure", "statuses")
    assert code == 1 and "coverage of statuses 6.9% below the required 7%" in err
    code, _, _ = run(capsys, "--url", url, "--fail-under", "10")  # every provider: 2 of 51 operations
    assert code == 1


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
    assert root.tag == "testsuites" and root.get("tests") == "5" and root.get("failures") == "3"
    cases = {case.get("name"): case for case in root.iter("testcase")}
    called = cases["getV1Tasks (GET /payt/v1/tasks)"]
    assert called.find("failure") is None
    assert called.find("system-out").text == "seen 200x1; not 401 403 404 422 429 500 503"
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

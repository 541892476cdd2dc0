"""`sandbox drift` against live servers: one whose spec was altered must be reported, unaltered ones not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from sandbox.app import create_app
from sandbox.cli import main
from sandbox.engine import DEFAULT_FIXTURES as FIXTURES_DIR
from sandbox.engine import DEFAULT_SPECS as SPECS_DIR
from sandbox.engine import Settings
from sandbox.testing import running_server

LIBRARY = Path(__file__).parent / "declared"
MOUNTS = {"payt": "/payt", "invoiced": "/invoiced", "wethod": "/wethod", "debitura": "/debitura/v1"}


def library_dirs(root: Path, alter: bool) -> tuple[Path, Path]:
    """A specs and a fixtures directory serving the library provider; `alter`: a field renamed, a status changed."""
    specs, fixtures = root / "specs", root / "fixtures"
    specs.mkdir(parents=True)
    fixtures.mkdir()
    spec = (LIBRARY / "library.yaml").read_text(encoding="utf-8")
    records = (LIBRARY / "library.fixtures.yaml").read_text(encoding="utf-8")
    if alter:
        assert "author" in spec and '"204": {description: Deleted}' in spec
        spec = spec.replace("author", "writer").replace(
            '"204": {description: Deleted}', '"200": {description: Deleted}'
        )
        records = records.replace("author", "writer")
    (specs / "library.yaml").write_text(spec, encoding="utf-8")
    (fixtures / "library.yaml").write_text(records, encoding="utf-8")
    return specs, fixtures


def serve_library(root: Path, alter: bool) -> Iterator[str]:
    specs, fixtures = library_dirs(root, alter)
    with running_server(create_app(Settings(specs_dir=specs, fixtures_dir=fixtures))) as url:
        yield url


@pytest.fixture(scope="module")
def altered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_library(tmp_path_factory.mktemp("altered"), alter=True)


@pytest.fixture(scope="module")
def unaltered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_library(tmp_path_factory.mktemp("unaltered"), alter=False)


def drift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["drift", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def library_drift(capsys: pytest.CaptureFixture[str], url: str, credential: str, *extra: str) -> tuple[int, dict]:
    """Drift of a library server from the unaltered spec (tests/declared/library.yaml)."""
    args = ["--provider", "library", "--specs", str(LIBRARY), "--base-url", f"{url}/library"]
    return drift(capsys, *args, "--credential", credential, *extra)


def journal(url: str, credential: str) -> list[dict]:
    with urlopen(f"{url}/__sandbox/tenants/{credential}/requests") as response:
        return json.loads(response.read())["requests"]


def test_a_renamed_field_is_reported_and_no_write_is_sent(capsys: pytest.CaptureFixture[str], altered: str) -> None:
    code, report = library_drift(capsys, altered, "drift-reads")
    assert code == 1
    findings = {(f["operation"], f["rule"], f["message"]) for f in report["findings"]}
    assert ("getBook", "required", "body at (root): 'author' is a required property") in findings
    assert any(
        operation == "getBook" and rule == "additionalProperties" and "'writer'" in message
        for operation, rule, message in findings
    )
    assert any(operation == "listBooks" and rule == "required" for operation, rule, _ in findings)
    assert {f["method"] for f in report["findings"]} == {"GET"}
    assert {entry["method"] for entry in journal(altered, "drift-reads")} == {"GET"}  # read-only by default


def test_a_changed_status_is_reported_with_writes_allowed(capsys: pytest.CaptureFixture[str], altered: str) -> None:
    code, report = library_drift(capsys, altered, "drift-writes", "--allow-writes")
    assert code == 1
    statuses = [f for f in report["findings"] if f["rule"] == "status"]
    assert [(f["operation"], f["method"], f["status"]) for f in statuses] == [("deleteBook", "DELETE", 200)]
    assert statuses[0]["message"] == "status 200 is not documented (documented: 204, 400, 401, 404)"
    methods = [entry["method"] for entry in journal(altered, "drift-writes")]
    assert "DELETE" in methods and methods[-1] == "DELETE"  # deletes go last, after every read


def test_an_unaltered_server_reports_nothing(capsys: pytest.CaptureFixture[str], unaltered: str) -> None:
    code, report = library_drift(capsys, unaltered, "drift-clean", "--allow-writes")
    assert code == 0, report["findings"]
    assert report["findings"] == []
    assert {r["operation"] for r in report["requests"]} >= {"getBook", "listBooks", "createBook", "deleteBook"}


@pytest.mark.parametrize("provider", sorted(MOUNTS))
def test_the_sandbox_does_not_drift_from_its_own_specs(
    capsys: pytest.CaptureFixture[str], live_url: str, provider: str
) -> None:
    code, report = drift(
        capsys, "--provider", provider, "--base-url", live_url + MOUNTS[provider], "--credential", f"drift-{provider}"
    )
    assert code == 0, report["findings"]
    assert report["requests"] and all(r["status"] < 500 for r in report["requests"])


def test_the_text_report_names_operation_and_rule(capsys: pytest.CaptureFixture[str], altered: str) -> None:
    args = ["drift", "--provider", "library", "--specs", str(LIBRARY), "--base-url", f"{altered}/library"]
    assert main([*args, "--credential", "drift-text"]) == 1
    out = capsys.readouterr().out
    assert "drift: " in out
    assert "getBook GET " in out and "[required] body at (root): 'author' is a required property" in out


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drift", "--provider", "nope", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "no spec" in capsys.readouterr().err
    assert main(["drift", "--provider", "payt", "--base-url", "http://127.0.0.1:9", "--header", "bad"]) == 2
    assert main(["drift", "--provider", "payt", "--base-url", "http://127.0.0.1:9", "--credential", "x"]) == 2
    assert "cannot reach" in capsys.readouterr().err


def test_a_renamed_field_of_a_real_provider_is_reported(
    capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Payt served from a copy of its spec and fixtures where `subject` (of tasks and messages) is called `topic`."""
    root = tmp_path_factory.mktemp("payt")
    specs, fixtures = root / "specs", root / "fixtures"
    specs.mkdir()
    fixtures.mkdir()
    (specs / "payt.yaml").write_text((SPECS_DIR / "payt.yaml").read_text().replace("subject", "topic"))
    (fixtures / "payt.yaml").write_text((FIXTURES_DIR / "payt.yaml").read_text().replace("subject", "topic"))
    app = create_app(Settings(specs_dir=specs, fixtures_dir=fixtures, only=["payt"]))
    with running_server(app) as url:
        code, report = drift(capsys, "--provider", "payt", "--base-url", f"{url}/payt", "--credential", "drift-payt")
    assert code == 1
    drifted = {(f["operation"], f["rule"]) for f in report["findings"]}
    # Messages carry a `subject` too; only the list is reported, as the shared `{id}` example names a task.
    assert drifted == {
        ("getV1Tasks", "additionalProperties"),
        ("getV1TasksId", "additionalProperties"),
        ("getV1Messages", "additionalProperties"),
    }
    assert all("'topic' was unexpected" in f["message"] for f in report["findings"])

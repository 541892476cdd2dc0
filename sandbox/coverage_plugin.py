"""The pytest plugin's coverage summary: `--sandbox-coverage`, `--sandbox-coverage-fail-under N`.

At the end of the session it prints which spec operations and documented
statuses the session's calls to `sandbox_server` exercised, and fails the
session when the share of operations called is below N. It reports the
providers the session called (a suite for one provider is not judged on the
others), or those `--sandbox-coverage-provider` names. Under pytest-xdist
each worker serves its own sandbox: workers hand their reports to the
controller, which adds them up.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.coverage import called_providers, coverage_report, merge_reports, only_providers
from sandbox.coverage_formats import as_text, below, verdict

ENGINES = pytest.StashKey[list[Any]]()
WORKER_REPORTS = pytest.StashKey[list[dict[str, Any]]]()
REPORT = pytest.StashKey[dict[str, Any]]()
OUTPUT_KEY = "sandbox_coverage"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sandbox", "ar-sandbox")
    group.addoption(
        "--sandbox-coverage",
        action="store_true",
        help="print which spec operations and statuses the calls to sandbox_server exercised",
    )
    group.addoption(
        "--sandbox-coverage-fail-under",
        type=float,
        metavar="PERCENT",
        help="fail the session when under PERCENT of the operations were called (implies --sandbox-coverage)",
    )
    group.addoption(
        "--sandbox-coverage-provider",
        action="append",
        default=[],
        metavar="NAME",
        help="report and gate this provider (repeatable; default: every provider the session called)",
    )


def enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("sandbox_coverage") or config.getoption("sandbox_coverage_fail_under") is not None)


def served_engines(config: pytest.Config) -> list[Any]:
    """The engines of the sandboxes this process served (appended to by the `sandbox_server` fixture)."""
    return config.stash.setdefault(ENGINES, [])


def engine_report(engine: Any) -> dict[str, Any]:
    mounts = {name: provider.mount for name, provider in engine.providers.items()}
    return coverage_report(engine.specs, engine.hits, mounts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: keep the report a worker sent."""
    output = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
    if output:
        node.config.stash.setdefault(WORKER_REPORTS, []).append(json.loads(output))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not enabled(config):
        return
    reports = [engine_report(engine) for engine in served_engines(config)]
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller reports
        if reports:
            config.workeroutput[OUTPUT_KEY] = json.dumps(merge_reports(reports))
        return
    reports += config.stash.get(WORKER_REPORTS, [])
    merged = merge_reports(reports)
    names = config.getoption("sandbox_coverage_provider") or called_providers(merged)
    report = config.stash[REPORT] = only_providers(merged, names)
    threshold = config.getoption("sandbox_coverage_fail_under")
    if threshold is None or session.exitstatus != pytest.ExitCode.OK:
        return
    if not report["providers"] or below(report, threshold):  # nothing exercised cannot meet a threshold
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not enabled(config) or hasattr(config, "workeroutput"):
        return
    report = config.stash.get(REPORT, None)
    terminalreporter.write_sep("=", "sandbox coverage")
    threshold = config.getoption("sandbox_coverage_fail_under")
    if report is None or not report["providers"]:
        failing = " (and the coverage gate cannot pass)" if threshold is not None else ""
        terminalreporter.write_line(f"no call reached sandbox_server: nothing to report{failing}")
        return
    terminalreporter.write_line(as_text(report))
    if threshold is not None:
        terminalreporter.write_line(f"sandbox: {verdict(report, threshold)}")

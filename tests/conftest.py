from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings
from sandbox.testing import running_server

pytest_plugins = ["pytester"]


@pytest.fixture
def app() -> Starlette:
    """A fresh in-process sandbox that answers 500 if any response breaks its spec."""
    return create_app(Settings(validate_responses=True))


@pytest.fixture(scope="session")
def live_url() -> Iterator[str]:
    """One real uvicorn server (response validation on) for the tests that need a socket.

    Tests on it keep out of each other's way by using their own credentials.
    """
    with running_server(create_app(Settings(validate_responses=True))) as url:
        yield url


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.browser_support import report_browser_tests_not_run

    report_browser_tests_not_run(terminalreporter)

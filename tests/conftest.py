from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings

pytest_plugins = ["pytester"]


@pytest.fixture
def app() -> Starlette:
    """A fresh in-process sandbox that answers 500 if any response breaks its spec."""
    return create_app(Settings(validate_responses=True))


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client

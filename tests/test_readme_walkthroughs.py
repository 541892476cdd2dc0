"""The README's curl walk-throughs answer what they show, against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.app import create_app
from sandbox.engine import Settings
from tests.servers import running_server
from tests.walkthroughs import readme_section, run_curl_walk_through


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with running_server(create_app(Settings(validate_responses=True))) as url:
        yield url


@pytest.mark.parametrize(
    ("heading", "at_least"),
    [("Payt walk-through", 12), ("Wethod walk-through", 12), ("Debitura walk-through", 11)],
)
def test_the_curl_walk_through_answers_as_documented(origin: str, heading: str, at_least: int) -> None:
    assert run_curl_walk_through(readme_section(heading), origin) >= at_least

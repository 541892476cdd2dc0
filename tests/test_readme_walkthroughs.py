"""The README's curl walk-throughs answer what they show, against a real server."""

from __future__ import annotations

import pytest

from tests.walkthroughs import readme_section, run_curl_walk_through


@pytest.mark.parametrize(
    ("heading", "at_least"),
    [("Payt walk-through", 12), ("Wethod walk-through", 12), ("Debitura walk-through", 11)],
)
def test_the_curl_walk_through_answers_as_documented(live_url: str, heading: str, at_least: int) -> None:
    assert run_curl_walk_through(readme_section(heading), live_url) >= at_least

"""The README's Debitura SDK snippet runs as written (its curl walk-through: test_readme_walkthroughs.py)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest

from sandbox.app import create_app
from sandbox.engine import Settings
from tests.servers import running_server
from tests.walkthroughs import DOCUMENTED_ORIGIN, code_blocks, readme_section

SECTION = readme_section("Debitura walk-through")


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with running_server(create_app(Settings(validate_responses=True))) as url:
        yield url


def test_the_sdk_snippet_runs(origin: str) -> None:
    (snippet,) = code_blocks(SECTION, "python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet.replace(DOCUMENTED_ORIGIN, origin), "README.md", "exec"), {})
    output = printed.getvalue()
    assert output.startswith("Nordlys Design ApS\n")
    assert "Pending Verification Internal" in output
    assert "Creditor Yes, we accept three instalments." in output
    assert "advanced=True state='Closed:Paid'" in output
    assert output.rstrip().endswith("InvalidTestCaseTransition")

"""The README's Debitura SDK snippet runs as written (its curl walk-through: test_readme_walkthroughs.py)."""

from __future__ import annotations

import contextlib
import io

from tests.walkthroughs import DOCUMENTED_ORIGIN, code_blocks, readme_section

SECTION = readme_section("Debitura walk-through")


def test_the_sdk_snippet_runs(live_url: str) -> None:
    (snippet,) = code_blocks(SECTION, "python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet.replace(DOCUMENTED_ORIGIN, live_url), "README.md", "exec"), {})
    output = printed.getvalue()
    assert output.startswith("Nordlys Design ApS\n")
    assert "Pending Verification Internal" in output
    assert "Creditor Yes, we accept three instalments." in output
    assert "advanced=True state='Closed:Paid'" in output
    assert output.rstrip().endswith("InvalidTestCaseTransition")

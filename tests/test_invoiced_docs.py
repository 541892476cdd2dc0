"""The README's Invoiced section works as written: its SDK snippet and its curl walk-through, against a real server."""

from __future__ import annotations

import contextlib
import io
import subprocess

from tests.walkthroughs import code_blocks, readme_section

SECTION = readme_section("Invoiced walk-through")
DOC_URL = "http://127.0.0.1:8000"


def block(language: str) -> str:
    blocks = code_blocks(SECTION, language)
    assert len(blocks) == 1, f"expected one {language} block in the README's Invoiced section"
    return blocks[0]


def test_the_sdk_snippet_prints_what_its_comments_say(live_url: str) -> None:
    code = block("python")
    expected = [line.split("# -> ", 1)[1] for line in code.splitlines() if "# -> " in line]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code.replace(DOC_URL, live_url), "README.md", "exec"), {"__name__": "invoiced_doc"})
    assert printed.getvalue().splitlines() == expected


def output_comments(script: str) -> list[str]:
    """Comment lines that follow a command (its expected output), not those before one (prose)."""
    found: list[str] = []
    after_command = False
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if after_command:
                found.append(stripped.removeprefix("#").strip())
        else:
            after_command = bool(stripped)
    return found


def test_the_curl_walk_through_answers_as_documented(live_url: str) -> None:
    script = block("sh")
    result = subprocess.run(
        ["bash", "-c", script.replace(DOC_URL, live_url)], capture_output=True, text=True, timeout=60, check=True
    )
    expected = output_comments(script.replace(DOC_URL, live_url))
    assert len(expected) > 20
    for comment in expected:
        for fragment in filter(None, (part.strip() for part in comment.split("..."))):
            assert fragment in result.stdout, f"{fragment!r} (from the comment {comment!r}) is not in the output"

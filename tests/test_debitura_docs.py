"""docs/debitura.md works as written: every curl command answers what its comment shows, and the SDK snippet runs."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.app import create_app
from sandbox.engine import Settings
from tests.servers import running_server

DOC = Path(__file__).resolve().parent.parent / "docs" / "debitura.md"
DOCUMENTED_ORIGIN = "http://127.0.0.1:8000"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def steps(block: str) -> tuple[list[str], list[tuple[str, str | None]]]:
    """The block's variable assignments, and each curl command with the output its comment shows (if any)."""
    lines = block.splitlines()
    setup: list[str] = []
    found: list[tuple[str, str | None]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if re.match(r"[A-Z]+=", line):
            setup.append(line)
        elif line.startswith("curl"):
            command = [line]
            while command[-1].endswith("\\"):
                command.append(lines[index])
                index += 1
            shown: list[str] = []
            while index < len(lines) and lines[index].startswith("#"):
                shown.append(lines[index].lstrip("#").strip())
                index += 1
            found.append(("\n".join(command), "".join(shown) or None))
    return setup, found


def as_pattern(shown: str) -> str:
    """The comment as a regular expression: literal text, with `…` standing for anything."""
    return ".*?".join(re.escape(part) for part in shown.split("\u2026"))


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with running_server(create_app(Settings(validate_responses=True))) as url:
        yield url


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_the_curl_walk_through_answers_as_documented(origin: str) -> None:
    checked = 0
    for block in blocks("sh"):
        setup, commands = steps(block.replace(DOCUMENTED_ORIGIN, origin))
        for command, shown in commands:
            script = "\n".join([*setup, command])
            result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, f"{command}\n{result.stderr}"
            if shown is not None:
                assert re.fullmatch(as_pattern(shown), result.stdout.strip(), flags=re.DOTALL), (
                    f"{command}\nshown:    {shown}\nanswered: {result.stdout}"
                )
                checked += 1
    assert checked >= 11


def test_the_sdk_snippet_runs(origin: str) -> None:
    (snippet,) = blocks("python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet.replace(DOCUMENTED_ORIGIN, origin), str(DOC), "exec"), {})
    output = printed.getvalue()
    assert output.startswith("Nordlys Design ApS\n")
    assert "Pending Verification Internal" in output
    assert "Creditor Yes, we accept three instalments." in output
    assert "advanced=True state='Closed:Paid'" in output
    assert output.rstrip().endswith("InvalidTestCaseTransition")

"""Reading the README's walk-throughs so tests can run them exactly as written.

A walk-through is a `## <Provider> walk-through` section. In its `sh` blocks,
the comment lines right under a curl command show what it answers, with `…`
standing for text left out; the other lines set variables or explain.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
DOCUMENTED_ORIGIN = "http://127.0.0.1:8000"


def readme_section(heading: str) -> str:
    """The README text from `## {heading}` up to the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def code_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def curl_steps(block: str) -> tuple[list[str], list[tuple[str, str | None]]]:
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


def run_curl_walk_through(section: str, origin: str) -> int:
    """Run every curl command of a section against `origin`; return how many outputs were checked."""
    checked = 0
    for block in code_blocks(section, "sh"):
        setup, commands = curl_steps(block.replace(DOCUMENTED_ORIGIN, origin))
        for command, shown in commands:
            script = "\n".join([*setup, command])
            result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, f"{command}\n{result.stderr}"
            if shown is not None:
                # A comment may wrap one long line, or show several: compare without line breaks.
                answered = result.stdout.replace("\r", "").replace("\n", "").strip()
                assert re.fullmatch(as_pattern(shown), answered, flags=re.DOTALL), (
                    f"{command}\nshown:    {shown}\nanswered: {result.stdout}"
                )
                checked += 1
    return checked

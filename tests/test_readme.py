"""The README's pytest example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_readme_pytest_example_passes(pytester: pytest.Pytester) -> None:
    examples = [block for block in python_blocks() if "sandbox_tenant" in block]
    assert examples, "the README should show a test using the plugin"
    pytester.makepyfile(**{f"test_example_{n}": block for n, block in enumerate(examples)})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(examples))

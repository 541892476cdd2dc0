"""Headless Chromium for the dashboard's browser tests: the system's own browser, driven by Playwright.

No browser is downloaded: Playwright is pointed at Debian's `chromium` package
(`/usr/bin/chromium`, or `SANDBOX_CHROMIUM`). Without it the browser tests do
not run, and the session says so at its end; under CI (`CI=true`) they fail.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

INSTALL_HINT = (
    "install it with `sudo apt-get install -y chromium` (Debian/Ubuntu), or set SANDBOX_CHROMIUM=/path/to/chromium"
)


def chromium_path() -> Path | None:
    configured = os.environ.get("SANDBOX_CHROMIUM")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return f"no Chromium found; {INSTALL_HINT}"
    return None


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def report_browser_tests_not_run(terminalreporter: pytest.TerminalReporter) -> None:
    """At the end of a session: say loudly that the dashboard's browser tests did not run, and how to fix it."""
    reason = browser_missing()
    if reason is None:
        return
    terminalreporter.write_sep("!", "dashboard browser tests did NOT run", red=True, bold=True)
    terminalreporter.write_line(f"  {reason}")
    terminalreporter.write_line("  (under CI=true a missing browser fails the run)")

"""The other servers case 1 is measured against, set up by the bench itself.

- WireMock 3 (the `wiremock` npm package bundles the standalone jar; Java from
  Debian), serving case 1's body as a static stub;
- the ceiling: `bench/ceiling.py`, a bare protocol answering the same bytes.

Neither is needed for `make test`; the bench skips a peer it cannot set up and
says why. Prism's set-up stays in `bench/run.py` beside its case.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

WIREMOCK_PACKAGE = "wiremock@3"


def npm_install(tools: Path, package: str) -> bool:
    """Install an npm package into `tools` (the bench's own folder, gitignored); False if npm is missing or fails."""
    npm = shutil.which("npm")
    if npm is None:
        return False
    print(f"bench: installing {package} into {tools} ...", flush=True)
    tools.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(tools), package],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        print(f"bench: npm install failed:\n{done.stderr[-2000:]}", flush=True)
    return done.returncode == 0


def wiremock_jar(tools: Path) -> Path | None:
    """The standalone jar from the npm package, installed into `tools` when missing."""

    def found() -> Path | None:
        jars = sorted((tools / "node_modules" / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
        return jars[-1] if jars else None

    if found() is None:
        npm_install(tools, WIREMOCK_PACKAGE)
    return found()


def write_wiremock_stub(root: Path, url_path_pattern: str, body: bytes, content_type: str) -> None:
    """One mapping, as a WireMock user writes it: any GET on the pattern answers the body."""
    mappings = root / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    stub = {
        "request": {"method": "GET", "urlPathPattern": url_path_pattern},
        "response": {"status": 200, "body": body.decode(), "headers": {"Content-Type": content_type}},
    }
    (mappings / "case1.json").write_text(json.dumps(stub), encoding="utf-8")


def wiremock_argv(jar: Path, root: Path, host: str, port: int) -> list[str] | None:
    """WireMock with its default settings (as the issue measured it), or None without Java."""
    java = shutil.which("java")
    if java is None:
        return None
    return [
        java,
        "-jar",
        str(jar),
        "--bind-address",
        host,
        "--port",
        str(port),
        "--root-dir",
        str(root),
        "--disable-banner",
    ]


def ceiling_argv(body_file: Path, content_type: str, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.ceiling",
        "--host",
        host,
        "--port",
        str(port),
        "--body",
        str(body_file),
        "--content-type",
        content_type,
    ]

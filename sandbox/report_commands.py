"""`sandbox coverage` and `sandbox drift`: contract-testing reports for a CI job.

- `sandbox coverage --url URL`: what a running sandbox's calls exercised
  (sandbox.coverage), in text, JSON, JUnit XML or HTML; exit 1 under
  `--fail-under PERCENT`, 2 when the sandbox cannot be asked.
- `sandbox drift --provider NAME --base-url URL`: whether a live API still
  answers as the sandbox's spec says (sandbox.drift); exit 1 on drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import urlopen

from sandbox.coverage_formats import MEASURES, below, render, verdict
from sandbox.spec import SPECS_DIR


def add_report_commands(commands: Any) -> None:
    """Add the report subcommands to `sandbox`'s subparsers."""
    coverage = commands.add_parser("coverage", help="which spec operations and statuses a running sandbox's calls hit")
    coverage.add_argument("--url", required=True, help="the sandbox's base URL, e.g. http://127.0.0.1:8000")
    coverage.add_argument("--provider", help="only this provider")
    coverage.add_argument("--tenant", metavar="CREDENTIAL", help="only this tenant's calls (default: the whole server)")
    coverage.add_argument("--fail-under", type=float, metavar="PERCENT", help="exit 1 when coverage is below PERCENT")
    coverage.add_argument(
        "--measure",
        choices=MEASURES,
        default="operations",
        help="what --fail-under gates: operations called, or documented operation-status pairs seen",
    )
    coverage.add_argument("--format", choices=("text", "json", "junit", "html"), default="text")
    coverage.add_argument("--output", type=Path, help="write the report to this file instead of standard output")
    coverage.set_defaults(run=coverage_command)

    drift = commands.add_parser("drift", help="check a live API against the sandbox's spec of its provider")
    drift.add_argument("--provider", required=True, help="the provider whose spec the live API must follow")
    drift.add_argument("--base-url", required=True, help="the live API's base URL, including the provider's mount")
    drift.add_argument("--credential", help="the credential, sent as the spec's security scheme says")
    drift.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="a header sent with every call"
    )
    drift.add_argument("--allow-writes", action="store_true", help="also send the examples of writing operations")
    drift.add_argument("--specs", type=Path, default=SPECS_DIR, help="directory of OpenAPI specs")
    drift.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    drift.add_argument("--format", choices=("text", "json"), default="text")
    drift.set_defaults(run=drift_command)


def coverage_command(args: argparse.Namespace) -> int:
    path = f"/__sandbox/tenants/{quote(args.tenant, safe='')}/coverage" if args.tenant else "/__sandbox/coverage"
    query = f"?{urlencode({'provider': args.provider})}" if args.provider else ""
    try:
        report = fetch_json(args.url.rstrip("/") + path + query)
    except (HTTPError, URLError, OSError, ValueError) as exc:
        print(f"sandbox coverage: cannot read {args.url}{path}: {describe(exc)}", file=sys.stderr)
        return 2
    text = render(report, args.format)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    if args.fail_under is None:
        return 0
    print(f"sandbox coverage: {verdict(report, args.fail_under, args.measure)}", file=sys.stderr)
    return 1 if below(report, args.fail_under, args.measure) else 0


def fetch_json(url: str) -> Any:
    with urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def describe(exc: Exception) -> str:
    if isinstance(exc, HTTPError):
        with exc:
            body = exc.read().decode("utf-8", errors="replace")
        try:
            return f"{exc.code}: {json.loads(body)['error']['message']}"
        except (ValueError, KeyError, TypeError):
            return f"{exc.code}: {body[:200]}"
    return str(getattr(exc, "reason", exc))


def drift_command(args: argparse.Namespace) -> int:
    from sandbox.drift import DriftOptions, check_drift, render_drift

    headers: dict[str, str] = {}
    for option in args.header:
        name, separator, value = option.partition(":")
        if not separator or not name.strip():
            print(f"sandbox drift: --header: expected NAME:VALUE, got {option!r}", file=sys.stderr)
            return 2
        headers[name.strip()] = value.strip()
    spec_path = args.specs / f"{args.provider}.yaml"
    if not spec_path.exists():
        print(f"sandbox drift: no spec {spec_path}", file=sys.stderr)
        return 2
    options = DriftOptions(
        base_url=args.base_url.rstrip("/"),
        credential=args.credential,
        headers=headers,
        allow_writes=args.allow_writes,
        timeout=args.timeout,
    )
    try:
        findings, checked = check_drift(spec_path, options)
    except ValueError as exc:
        print(f"sandbox drift: {exc}", file=sys.stderr)
        return 2
    print(render_drift(findings, checked, args.format))
    return 1 if findings else 0

"""The `sandbox` command: `sandbox serve` and `sandbox fixtures validate`."""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import sys
from pathlib import Path

from sandbox.admin_auth import ENVIRONMENT_VARIABLE as ADMIN_TOKEN_VARIABLE
from sandbox.admin_auth import start_problem
from sandbox.engine import DEFAULT_FIXTURES, DEFAULT_SPECS, Settings
from sandbox.faults import FaultFileError, read_fault_rules
from sandbox.fixtures import FixtureError
from sandbox.journal import DEFAULT_JOURNAL_LIMIT, DEFAULT_JOURNAL_RESPONSES
from sandbox.ratelimit import RateLimit
from sandbox.report_commands import add_report_commands
from sandbox.spec import SpecError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    return args.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox", description="Accounts-receivable API sandbox.")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="serve the sandbox over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--specs", type=Path, default=DEFAULT_SPECS, help="directory of OpenAPI specs")
    serve.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="directory of fixture files")
    serve.add_argument("--journal-limit", type=int, default=DEFAULT_JOURNAL_LIMIT, help="calls kept per tenant")
    serve.add_argument(
        "--journal-responses",
        type=non_negative_int,
        default=DEFAULT_JOURNAL_RESPONSES,
        metavar="N",
        help=f"responses kept for the journal's HAR export: those of the newest N calls across all tenants "
        f"(default {DEFAULT_JOURNAL_RESPONSES}); older entries keep the rest",
    )
    serve.add_argument("--validate-responses", action="store_true", help="answer 500 when a response breaks its spec")
    serve.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="PROVIDER=COUNT/SECONDS",
        help="override a provider's rate limit per credential, e.g. payt=10/1; PROVIDER=off disables it",
    )
    serve.add_argument("--faults", type=Path, help="YAML file of fault rules applied to every tenant")
    serve.add_argument(
        "--webhooks",
        choices=("open", "strict"),
        default="open",
        help="open (default): webhook URLs may be http:// and loopback or private hosts; "
        "strict: refuse them, as the real providers do",
    )
    add_sharing_options(serve)
    serve.set_defaults(run=serve_command)

    fixtures = commands.add_parser("fixtures", help="work with fixture files")
    fixture_commands = fixtures.add_subparsers(title="fixture commands")
    validate = fixture_commands.add_parser("validate", help="check fixture files against the specs")
    validate.add_argument("directory", nargs="?", type=Path, default=DEFAULT_FIXTURES)
    validate.add_argument("--specs", type=Path, default=DEFAULT_SPECS, help="directory of OpenAPI specs")
    validate.set_defaults(run=validate_command)

    add_report_commands(commands)
    return parser


def serve_command(args: argparse.Namespace) -> int:
    from sandbox.app import create_app
    from sandbox.server import serve

    try:
        rate_limits = parse_rate_limits(args.rate_limit)
    except ValueError as exc:
        print(f"sandbox: --rate-limit: {exc}", file=sys.stderr)
        return 2
    try:
        faults = read_fault_rules(args.faults) if args.faults else []
    except FaultFileError as exc:
        print(f"sandbox: --faults: {exc}", file=sys.stderr)
        return 2
    admin_token = args.admin_token if args.admin_token is not None else os.environ.get(ADMIN_TOKEN_VARIABLE)
    problem = start_problem(args.host, admin_token)
    if problem is not None:
        print(f"sandbox: cannot start: {problem}", file=sys.stderr)
        return 2
    settings = Settings(
        faults=faults,
        specs_dir=args.specs,
        fixtures_dir=args.fixtures,
        validate_responses=args.validate_responses,
        journal_limit=args.journal_limit,
        journal_responses=args.journal_responses,
        rate_limits=rate_limits,
        freeze_after_loads=True,
        webhooks=args.webhooks,
        state_path=args.state,
        max_tenants=args.max_tenants,
        tenant_idle_seconds=args.tenant_idle,
        admin_token=admin_token,
        credentials=args.credentials,
    )
    try:
        app = create_app(settings)
    except (SpecError, FixtureError) as exc:
        print(f"sandbox: cannot start:\n{exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"sandbox: cannot start: --state {args.state}: {exc} (is another sandbox using it?)", file=sys.stderr)
        return 1
    engine = app.state.engine
    gc.freeze()  # specs, validators and fixtures live as long as the server: keep them out of GC passes
    print(f"sandbox: serving {', '.join(sorted(engine.providers))} on http://{args.host}:{args.port}", flush=True)
    serve(app, args.host, args.port, access_log=args.access_log)
    return 0


def add_sharing_options(serve: argparse.ArgumentParser) -> None:
    """The options for one sandbox shared by a team (README: "Sharing a sandbox")."""
    serve.add_argument("--state", type=Path, metavar="PATH", help="keep every tenant in this SQLite file")
    serve.add_argument(
        "--max-tenants",
        type=positive_int,
        metavar="N",
        help="hold at most N tenants in memory (the least recently used go)",
    )
    serve.add_argument(
        "--tenant-idle",
        type=positive_float,
        metavar="SECONDS",
        help="let a tenant go from memory after SECONDS unused (wall time)",
    )
    serve.add_argument(
        "--admin-token", metavar="TOKEN", help=f"token the admin API requires (default ${ADMIN_TOKEN_VARIABLE})"
    )
    serve.add_argument(
        "--credentials",
        choices=["any", "declared"],
        default="any",
        help="any: every credential is its own world (default); declared: only the fixtures' tokens",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request (credentials in paths masked)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def parse_rate_limits(options: list[str]) -> dict[str, RateLimit | None]:
    limits: dict[str, RateLimit | None] = {}
    for option in options:
        name, separator, value = option.partition("=")
        if not separator or not name:
            raise ValueError(f"expected PROVIDER=COUNT/SECONDS, got {option!r}")
        limits[name] = None if value == "off" else RateLimit.parse(value)
    return limits


def validate_command(args: argparse.Namespace) -> int:
    from sandbox.engine import Engine

    try:
        engine = Engine(Settings(specs_dir=args.specs, fixtures_dir=args.directory))
    except FixtureError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found.", file=sys.stderr)
        return 1
    except SpecError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    counts = sum(len(records) for fixtures in engine.fixtures.values() for records in fixtures.values())
    print(f"{args.directory}: {counts} records valid across {len(engine.fixtures)} provider(s).")
    return 0

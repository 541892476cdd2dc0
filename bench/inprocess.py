"""The engine's own cost per call, without HTTP: `python -m bench.inprocess --case 1`.

Builds an `Engine` as `sandbox serve` does (response validation off unless
`--validate`) and sends the bench's requests straight into `Engine.asgi`,
so that what is measured is routing, credentials, validation, the handler,
the store, rendering and the journal: no sockets, no HTTP parsing. Prints
µs per call (CPU time, `time.process_time`; for case 7 the median call's,
as bench.run reports that case) as the median of rounds; with
several cases the rounds are interleaved, so background load hits them alike.
State accumulates across rounds as it does in a `bench.run` run (a write
mix's created records stay in the tenant).

`--profile FILE` writes a cProfile of every measured call instead (read it
with `python -m pstats FILE`); `--compare TREE` also runs the same cases with
another source tree on `sys.path` (say, a checkout of main), alternating
rounds between the two in separate processes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.run import AUTH, CASE1_PATHS, Request, request, write_mixes

Scope = dict[str, Any]


def case_requests() -> dict[str, list[Request]]:
    """Each case's requests, sent in turn (as one wrk connection would)."""
    mixes = write_mixes()
    fresh = [Request("GET", CASE1_PATHS[0], (("Authorization", f"Bearer fresh_{n}"),)) for n in range(200_000)]
    return {
        "1": [Request("GET", path, AUTH) for path in CASE1_PATHS],
        "3": [
            request("PATCH", f"/payt/v1/tasks/{task}/{action}", {"administration_id": "adm_1001"}, AUTH)
            for task in ("5001", "5002", "5003", "5004")
            for action in ("mark_completed", "unmark_completed")
        ],
        "7": fresh,  # every call a credential never seen before
        **{f"8-{provider}": sequence for provider, sequence in mixes.items()},
    }


CASES = list(case_requests())
# Cases whose figure is the median call, as bench.run reports them (case 7 compares latencies, and the
# tenants it creates make the collector's full passes, which a mean would count, grow through the run).
MEDIAN_CASES = {"7"}


def scope_of(req: Request) -> tuple[Scope, bytes]:
    path, _, query = req.path.partition("?")
    headers = [(b"host", b"127.0.0.1:8000")]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in req.headers]
    body = req.body or b""
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": req.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    return scope, body


class Caller:
    """Sends requests into an engine and checks each answer's status."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.status = 0

    async def call(self, scope: Scope, body: bytes) -> int:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]

        await self.engine.asgi(scope, receive, send)
        return self.status


def runner(case: str, engine: Any) -> Callable[[int], float]:
    """A function running `calls` calls of the case and answering CPU µs per call."""
    requests = [scope_of(req) for req in case_requests()[case]]
    caller = Caller(engine)
    position = 0
    loop = asyncio.new_event_loop()

    async def batch(calls: int, each: list[float] | None) -> None:
        nonlocal position
        for _ in range(calls):
            scope, body = requests[position % len(requests)]
            position += 1
            began = time.process_time()
            status = await caller.call(dict(scope), body)
            if each is not None:
                each.append(time.process_time() - began)
            if status >= 300 and not (case == "3" and status == 422):
                raise RuntimeError(f"case {case}: {scope['method']} {scope['path']} answered {status}")

    def run(calls: int) -> float:
        if case in MEDIAN_CASES:
            each: list[float] = []
            loop.run_until_complete(batch(calls, each))
            return statistics.median(each) * 1e6
        began = time.process_time()
        loop.run_until_complete(batch(calls, None))
        return (time.process_time() - began) / calls * 1e6

    return run


def build_engine(validate: bool) -> Any:
    from sandbox.engine import Engine, Settings

    settings = Settings(validate_responses=validate)
    for case in CASES:
        if case.startswith("8-"):
            settings.rate_limits[case[2:]] = None  # bench.run serves the write mixes with --rate-limit <p>=off
    engine = Engine(settings)
    gc.freeze()  # as `sandbox serve` does after start-up: specs, validators and fixtures stay out of GC passes
    return engine


def measure(cases: list[str], rounds: int, calls: int, validate: bool) -> dict[str, list[float]]:
    engine = build_engine(validate)
    runs = {case: runner(case, engine) for case in cases}
    for run in runs.values():
        run(max(calls // 10, 50))  # warm-up: caches, first-use seeding
    samples: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(rounds):
        for case, run in runs.items():
            samples[case].append(run(calls))
    return samples


def profile(cases: list[str], calls: int, validate: bool, path: str) -> None:
    engine = build_engine(validate)
    runs = {case: runner(case, engine) for case in cases}
    for run in runs.values():
        run(max(calls // 10, 50))
    profiler = cProfile.Profile()
    profiler.enable()
    for run in runs.values():
        run(calls)
    profiler.disable()
    profiler.dump_stats(path)


def child(tree: str, options: argparse.Namespace, rounds: int) -> dict[str, list[float]]:
    """One round set measured in a process that imports `sandbox` from `tree`."""
    argv = [sys.executable, "-m", "bench.inprocess", "--json", "--rounds", str(rounds), "--calls", str(options.calls)]
    argv += ["--case", ",".join(options.cases)] + (["--validate"] if options.validate else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, os.path.dirname(os.path.dirname(__file__))])}
    # cwd: `python -m` puts the working directory first on sys.path, before PYTHONPATH
    out = subprocess.run(argv, env=env, cwd=tree, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="1", help=f"comma-separated, of {', '.join(CASES)} (8: every write mix)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--validate", action="store_true", help="check responses against the spec, as tests do")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of one round instead of timing")
    parser.add_argument("--compare", metavar="TREE", help="alternate rounds with this source tree's sandbox")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.cases = [c for name in options.case.split(",") for c in (CASES if name == "all" else [name])]
    options.cases = [
        c for name in options.cases for c in ([x for x in CASES if x.startswith("8-")] if name == "8" else [name])
    ]
    unknown = [case for case in options.cases if case not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]}; known: {', '.join(CASES)}")
    if options.profile:
        profile(options.cases, options.calls, options.validate, options.profile)
        return 0
    if options.json:
        print(json.dumps(measure(options.cases, options.rounds, options.calls, options.validate)))
        return 0
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"this tree": here} | ({"compare": os.path.abspath(options.compare)} if options.compare else {})
    samples: dict[str, dict[str, list[float]]] = {name: {case: [] for case in options.cases} for name in trees}
    per_child = 3
    for _ in range(max(1, -(-options.rounds // per_child))):  # trees alternated, a few rounds per process
        for name, tree in trees.items():
            for case, values in child(tree, options, per_child).items():
                samples[name][case].extend(values)
    print(
        f"µs of CPU per call, median of {len(next(iter(samples['this tree'].values())))} rounds "
        f"of {options.calls:,} calls (response validation {'on' if options.validate else 'off'})"
    )
    print("| case | " + " | ".join(trees) + " |")
    print("| --- |" + " ---: |" * len(trees))
    for case in options.cases:
        cells = [f"{statistics.median(samples[name][case]):.1f}" for name in trees]
        print(f"| {case} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What each optimization is worth: `python -m bench.ablation`.

Serves the sandbox with one optimization switched off at a time (patched in
before `sandbox serve` starts) and measures case 1 and case 2 (10,000 tasks)
as `bench.run` does. The CPU time per request is the number to compare: other
load on the machine changes requests per second, not the server's own cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench.run import (
    AUTH,
    HOST,
    Request,
    Server,
    case1_sequences,
    choose_generator,
    free_port,
    seed_payt_tasks,
)

# name -> Python run before the server starts, switching one thing off
VARIANTS: dict[str, str] = {
    "all optimizations": "",
    "without fast schema predicates": "import sandbox.validation as v; v.compile_check = lambda schema: None",
    "without orjson": (
        "import json, sandbox.engine as e; "
        "e.encode_json = lambda body: json.dumps(body, ensure_ascii=False, separators=(',', ':')).encode()"
    ),
    "with uvicorn's own httptools protocol": "import sandbox.server as s; s.http_protocol = lambda: 'httptools'",
    "without the Starlette bypass": (
        "import sandbox.app as a, starlette.applications as sa; a.SandboxApp.__call__ = sa.Starlette.__call__"
    ),
    "h11 + asyncio (no httptools, uvloop, coalescing)": (
        "import sys, sandbox.server as s; sys.modules['uvloop'] = None; sys.modules['httptools'] = None; "
        "s.http_protocol = lambda: 'auto'"
    ),
}


def start(patch: str) -> Server:
    port = free_port()
    serve = f"['serve', '--host', '{HOST}', '--port', '{port}']"
    code = f"{patch}\nfrom sandbox.cli import main\nraise SystemExit(main({serve}))"
    return Server([sys.executable, "-c", code], port, Request("GET", "/__sandbox/health"), "sandbox")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks for the list case")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant; the table shows medians")
    options = parser.parse_args(argv)
    generator, why = choose_generator(options.generator)
    print(f"load generator: {generator.name} ({why})\n")
    print(f"medians of {options.rounds} interleaved rounds, {options.duration:g} s per case\n")
    print("| variant | case 1 req/s | case 1 CPU µs/req | case 2 req/s | case 2 CPU µs/req |")
    print("| --- | ---: | ---: | ---: | ---: |")
    step = options.tasks // 20
    cursors = [""] + [f"&cursor={1_000_000 + position}" for position in range(step - 1, options.tasks - 100, step)]
    listing = [
        Request("GET", f"/payt/v1/tasks?administration_id=adm_bench&per_page=100{cursor}", AUTH) for cursor in cursors
    ]
    samples: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(options.rounds):  # variants interleaved, so background load hits them alike
        for name, patch in VARIANTS.items():
            server = start(patch)
            try:
                one = generator.run(server, case1_sequences(), options.connections, options.duration)
                seed_payt_tasks(server, options.tasks)
                two = generator.run(server, [listing], options.connections, options.duration)
            finally:
                server.stop()
            samples[name].append((one.rate, one.cpu_us, two.rate, two.cpu_us))
    for name, runs in samples.items():
        one_rate, one_cpu, two_rate, two_cpu = (statistics.median(values) for values in zip(*runs, strict=True))
        print(f"| {name} | {one_rate:,.0f} | {one_cpu:.0f} | {two_rate:,.0f} | {two_cpu:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The sandbox benchmark: `make bench` (`python -m bench.run`).

Each case starts a fresh `sandbox serve` subprocess on a free loopback port
(as users run it: journal on, request validation on), seeds it through the
admin API, and drives it from a separate load generator: wrk when it is
installed (installed with apt-get when missing and running as root), else the
asyncio client in `bench/loadgen.py`. Peak memory is the server process's
VmHWM from /proc. The same run serves `specs/payt.yaml` with Prism (a static
mock, installed into bench/.tools with npm) and measures case 1 against it.

The table is printed and written to bench/RESULTS.md between the
`bench:start` / `bench:end` markers (the notes around them are kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import peers
from bench.loadgen import LoadResult, Request, one_request, read_response, run_load

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "bench" / ".tools"
RESULTS = ROOT / "bench" / "RESULTS.md"
HOST = "127.0.0.1"
TOKEN = "bench_token"
AUTH = (("Authorization", f"Bearer {TOKEN}"),)
SEED_CHUNK = 2000  # records per fixtures call (request bodies are limited to 1 MiB)
START_MARK, END_MARK = "<!-- bench:start -->", "<!-- bench:end -->"


# -- processes -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def proc_status_kib(pid: int, field_name: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def request(method: str, path: str, body: object = None, headers: tuple[tuple[str, str], ...] = ()) -> Request:
    if body is None:
        return Request(method, path, headers)
    return Request(method, path, (*headers, ("Content-Type", "application/json")), json.dumps(body).encode())


def call(port: int, req: Request, timeout: float = 60.0) -> tuple[int, bytes]:
    return asyncio.run(one_request(HOST, port, req, timeout))


class Server:
    """A server subprocess; `started` is the time from spawn to its first good answer."""

    def __init__(self, argv: list[str], port: int, probe: Request, name: str, ok=lambda status: status == 200) -> None:
        self.port = port
        self.name = name
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        began = time.perf_counter()
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = began + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.process.returncode}:\n{self.output()}")
            try:
                status, _ = call(port, probe, timeout=5)
                if ok(status):
                    break
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                pass
            if time.perf_counter() > deadline:
                output = self.output()
                self.stop()
                raise RuntimeError(f"{name} did not answer within 120 s:\n{output}")
            time.sleep(0.005)
        self.started = time.perf_counter() - began

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_mib(self) -> float:
        return proc_status_kib(self.process.pid, "VmHWM") / 1024

    def rss_mib(self) -> float:
        return proc_status_kib(self.process.pid, "VmRSS") / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def start_sandbox(*extra: str) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "sandbox", "serve", "--host", HOST, "--port", str(port), *extra]
    return Server(argv, port, Request("GET", "/__sandbox/health"), "sandbox")


@contextlib.contextmanager
def sandbox(*extra: str) -> Iterator[Server]:
    server = start_sandbox(*extra)
    try:
        yield server
    finally:
        server.stop()


def providers_served(server: Server) -> list[str]:
    status, body = call(server.port, Request("GET", "/__sandbox/health"))
    return json.loads(body)["providers"] if status == 200 else []


def load_fixtures(server: Server, provider: str, collections: dict[str, list[dict]]) -> None:
    """Seed records into the bench tenant in chunks small enough for the body limit."""
    for name, records in collections.items():
        for start in range(0, max(len(records), 1), SEED_CHUNK):
            body = {provider: {name: records[start : start + SEED_CHUNK]}}
            status, answer = call(server.port, request("POST", f"/__sandbox/tenants/{TOKEN}/fixtures", body))
            if status != 200:
                raise RuntimeError(f"seeding {provider}.{name} failed ({status}): {answer[:500]!r}")


# -- load generators -------------------------------------------------------------


@dataclass
class Measurement:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # HTTP statuses >= 400 (wrk) / not 2xx (loadgen), plus socket errors
    cpu_us: float = float("nan")  # server CPU time per request: what other load on the machine does not change


class PythonGenerator:
    name = "bench/loadgen.py (asyncio; shares the 2 cores with the server)"

    def run(self, server: Server, sequences: list[list[Request]], connections: int, duration: float) -> Measurement:
        def requests_for(index: int) -> list[Request]:
            return sequences[index % len(sequences)]

        asyncio.run(run_load(HOST, server.port, requests_for, connections, duration=1.0, warmup=0))
        cpu = server.cpu_seconds()
        result: LoadResult = asyncio.run(run_load(HOST, server.port, requests_for, connections, duration, warmup=0))
        cpu = server.cpu_seconds() - cpu
        errors = result.non_2xx + result.errors
        m = Measurement(result.rate, result.percentile(0.50), result.percentile(0.99), result.requests, errors)
        m.cpu_us = cpu / max(result.requests, 1) * 1e6
        return m


WRK_SCRIPT = """
local requests = {}
local counter = 0
init = function(args)
  for _, r in ipairs(REQUESTS) do
    local headers = {}
    for _, h in ipairs(r[3]) do headers[h[1]] = h[2] end
    table.insert(requests, wrk.format(r[1], r[2], headers, r[4] ~= "" and r[4] or nil))
  end
end
request = function()
  counter = counter + 1
  return requests[(counter - 1) % #requests + 1]
end
done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %f %f\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # ASCII only: JSON's escapes are Lua's


def lua_request(r: Request) -> str:
    headers = ", ".join(f"{{{lua_string(name)}, {lua_string(value)}}}" for name, value in r.headers)
    return f"{{{lua_string(r.method)}, {lua_string(r.path)}, {{{headers}}}, {lua_string(r.body.decode())}}}"


class WrkGenerator:
    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"wrk ({path}, 1 thread)"

    def run(self, server: Server, sequences: list[list[Request]], connections: int, duration: float) -> Measurement:
        distinct: list[list[Request]] = []
        for sequence in sequences:
            if sequence not in distinct:
                distinct.append(sequence)
        flat = [r for sequence in distinct for r in sequence]
        entries = ",\n".join(lua_request(r) for r in flat)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(f"REQUESTS = {{\n{entries}\n}}\n{WRK_SCRIPT}")
        try:
            url = f"http://{HOST}:{server.port}/"
            self._wrk(script.name, url, connections, 1)  # warm-up
            cpu = server.cpu_seconds()
            m = self._wrk(script.name, url, connections, max(1, round(duration)))
            m.cpu_us = (server.cpu_seconds() - cpu) / max(m.requests, 1) * 1e6
            return m
        finally:
            os.unlink(script.name)

    def _wrk(self, script: str, url: str, connections: int, seconds: int) -> Measurement:
        argv = [self.path, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script, url]
        output = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        line = next(line for line in output.splitlines() if line.startswith("BENCH "))
        requests, micros, status_errors, socket_errors, p50, p99 = line.split()[1:]
        return Measurement(
            int(requests) / (int(micros) / 1e6),
            float(p50) / 1000,
            float(p99) / 1000,
            int(requests),
            int(status_errors) + int(socket_errors),
        )


def choose_generator(wanted: str) -> tuple[WrkGenerator | PythonGenerator, str]:
    """wrk if installed (apt-get installs it when missing and we are root), else the Python client."""
    if wanted == "python":
        return PythonGenerator(), "asked for with --generator python"
    found = shutil.which("wrk")
    note = "found on PATH"
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: wrk is missing; installing it with apt-get ...", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 600}
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, **quiet)
        found = shutil.which("wrk")
        note = "installed with apt-get"
    if found is None:
        if wanted == "wrk":
            raise SystemExit("bench: --generator wrk, but wrk is not installed and could not be installed")
        return PythonGenerator(), "wrk not installed (and not root, or apt-get failed)"
    return WrkGenerator(found), note


# -- Prism ----------------------------------------------------------------------


def prism_binary() -> Path | None:
    binary = TOOLS / "node_modules" / ".bin" / "prism"
    if not binary.exists():
        peers.npm_install(TOOLS, "@stoplight/prism-cli")
    return binary if binary.exists() else None


def start_prism(binary: Path, probe: Request) -> Server:
    port = free_port()
    argv = [str(binary), "mock", "-h", HOST, "-p", str(port), str(ROOT / "specs" / "payt.yaml")]
    return Server(argv, port, probe, "prism", ok=lambda status: status < 500)


# -- cases ----------------------------------------------------------------------


@dataclass
class Row:
    case: str
    measurement: Measurement | None = None
    peak_mib: float | None = None
    note: str = ""
    target: str = ""
    met: bool | None = None
    extra: dict[str, float] = field(default_factory=dict)


def payt_task(index: int, administration_id: str = "adm_bench") -> dict:
    return {
        "id": str(1_000_000 + index),
        "administration_id": administration_id,
        "subject": f"Bench task {index}",
        "description": "Call the debtor about the overdue invoice.",
        # No debtor_id/invoice_id: a Payt task's references must name records of its administration.
        "created_at": "2026-01-01T09:00:00Z",
        "updated_at": "2026-01-02T09:00:00Z",
    }


def seed_payt_tasks(server: Server, count: int) -> None:
    load_fixtures(server, "payt", {"administrations": [{"id": "adm_bench", "name": "Bench B.V."}]})
    load_fixtures(server, "payt", {"tasks": [payt_task(index) for index in range(count)]})


CASE1_PATHS = [f"/payt/v1/tasks/{task_id}?administration_id=adm_1001" for task_id in ("5001", "5002", "5003", "5004")]


def case1_sequences() -> list[list[Request]]:
    return [[Request("GET", path, AUTH) for path in CASE1_PATHS]]


@contextlib.contextmanager
def state_options(on_disk: bool) -> Iterator[tuple[str, ...]]:
    """`--state FILE` in a fresh directory (removed afterwards) when `on_disk`, else nothing."""
    if not on_disk:
        yield ()
        return
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as directory:
        yield ("--state", str(Path(directory) / "state.db"))


def case_get_task(generator, options, on_disk: bool = False) -> Row:
    with state_options(on_disk) as extra, sandbox(*extra) as server:
        m = generator.run(server, case1_sequences(), options.connections, options.duration)
        suffix = ", --state (SQLite)" if on_disk else ""
        row = Row(f"1. Payt GET /v1/tasks/{{id}} (validation + journal){suffix}", m, server.peak_mib())
    row.target = ">= 4000 req/s, >= 3x Prism, p99 < 20 ms"
    row.met = m.rate >= 4000 and m.p99_ms < 20 and m.errors == 0
    return row


def one_connection_note(generator, server: Server, sequence: list[Request], options) -> str:
    """The median a client calling one request at a time sees (a test suite, say)."""
    m = generator.run(server, [sequence], 1, min(options.duration, 3.0))
    return f"p50 {m.p50_ms:.2f} ms / p99 {m.p99_ms:.2f} ms with 1 connection"


def case_list_tasks(generator, options, count: int) -> Row:
    with sandbox() as server:
        seed_payt_tasks(server, count)
        rss = server.rss_mib()
        step = count // 20
        cursors = [""] + [f"&cursor={1_000_000 + position}" for position in range(step - 1, count - 100, step)]
        sequence = [
            Request("GET", f"/payt/v1/tasks?administration_id=adm_bench&per_page=100{cursor}", AUTH)
            for cursor in cursors
        ]
        m = generator.run(server, [sequence], options.connections, options.duration)
        row = Row(f"2. Payt GET /v1/tasks, page of 100 of {count:,}", m, server.peak_mib())
        row.note = one_connection_note(generator, server, sequence, options)
    row.extra["rss_after_seed_mib"] = rss
    row.target = "p50 < 15 ms"
    row.met = m.p50_ms < 15 and m.errors == 0
    return row


def case_mark_unmark(generator, options, on_disk: bool = False) -> Row:
    tasks = max(options.connections * 4, 1000)
    with state_options(on_disk) as extra, sandbox(*extra) as server:
        seed_payt_tasks(server, tasks)
        sequences = []
        for index in range(tasks):
            path = f"/payt/v1/tasks/{1_000_000 + index}"
            body = {"administration_id": "adm_bench"}
            sequences.append(
                [
                    request("PATCH", f"{path}/mark_completed", body, AUTH),
                    request("PATCH", f"{path}/unmark_completed", body, AUTH),
                ]
            )
        m = generator.run(server, sequences, options.connections, options.duration)
        suffix = ", --state (SQLite)" if on_disk else ""
        row = Row(f"3. Payt mark_completed / unmark_completed{suffix}", m, server.peak_mib())
    row.note = "each task marked then unmarked; an error is a mark that reached a task before its unmark did"
    if on_disk:
        row.note += "; every write committed to SQLite (WAL) before it is answered"
    return row


def case_debitura_tasks(generator, options, count: int = 10_000) -> Row:
    import uuid

    tasks = [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-task-{index}")),
            "type": "SignContract" if index % 2 else "AssignBankAccount",
            "title": f"Bench task {index}",
            "status": "Solved" if index % 4 == 0 else "Open",
            "dateSolved": "2026-10-02T08:00:00Z" if index % 4 == 0 else None,
            "dateCreated": f"2026-{1 + index % 9:02d}-{1 + index % 28:02d}T08:00:00Z",
        }
        for index in range(count)
    ]
    headers = (("XApiKey", TOKEN),)
    with sandbox() as server:
        load_fixtures(server, "debitura", {"tasks": tasks})
        sequence = [
            Request("GET", f"/debitura/v1/tasks?status=Open&PageSize=100&Page={page}", headers)
            for page in (1, 2, 10, 25, 50, 75)
        ]
        m = generator.run(server, [sequence], options.connections, options.duration)
        row = Row(f"4. Debitura GET /tasks?status=Open, page of 100 of {count:,}", m, server.peak_mib())
    row.target = "(none set)"
    return row


def wethod_invoice(index: int) -> dict:
    return {
        "company": "acme",
        "id": 1_000_000 + index,
        "created_at": "2024-07-01T09:30:00.000Z",
        "updated_at": "2024-07-01T09:30:00.000Z",
        "status": "draft",
        "invoice_number": None,
        "purchase_order": None,
        "value": 100 + index % 1000,
        "exchange_rate": None,
        "issue_date": f"2024-{1 + index % 12:02d}-{1 + index % 28:02d}",
        "payment_date": None,
        "notes": None,
        "project_id": 1 + index % 2,
        "budget_area_uid": None,
        "vat_rate_id": 1,
        "payment_term_id": 2,
    }


def case_wethod_invoices(generator, options, count: int) -> Row:
    headers = (*AUTH, ("Wethod-Company", "acme"), ("Wethod-Version", "2024-01-01"))
    with sandbox("--rate-limit", "wethod=off") as server:
        load_fixtures(server, "wethod", {"invoices": [wethod_invoice(index) for index in range(count)]})
        sequence = [
            Request("GET", f"/wethod/api/invoices?issue_date=gte:2024-03-01&limit=100&offset={offset}", headers)
            for offset in (0, 100, 1000, 5000)  # the same pages at every size: offsets cost what they skip
        ]
        m = generator.run(server, [sequence], options.connections, options.duration)
        row = Row(f"5. Wethod GET /api/invoices?issue_date=gte:..., 100 of {count:,}", m, server.peak_mib())
        single = one_connection_note(generator, server, sequence, options)
    row.target = "p50 < 15 ms"
    row.met = m.p50_ms < 15 and m.errors == 0
    row.note = (
        f"{single}; pages at offsets 0, 100, 1,000 and 5,000 of the ~83% of invoices the filter matches; "
        "served with --rate-limit wethod=off (Wethod's own limit is 5,000 calls an hour)"
    )
    return row


def unavailable(case: str, provider: str) -> Row:
    return Row(case, note=f"skipped: provider not available ({provider} is not served by this sandbox)")


def case_startup(options) -> Row:
    times = []
    peaks = []
    for _ in range(options.starts):
        with sandbox() as server:
            times.append(server.started)
            peaks.append(server.peak_mib())
    row = Row("6. start-up to first healthy response", peak_mib=max(peaks))
    row.extra["startup_s"] = statistics.median(times)
    row.extra["startup_max_s"] = max(times)
    row.note = f"median of {len(times)} starts, worst {max(times):.2f} s"
    row.target = "< 1.5 s"
    row.met = statistics.median(times) < 1.5
    return row


def case_prism(generator, options) -> Row:
    binary = prism_binary()
    if binary is None:
        return Row("Prism: GET /v1/tasks/{id} (static mock)", note="skipped: Prism could not be installed (npm)")
    probe = Request("GET", "/v1/tasks/5001?administration_id=adm_1001", AUTH)
    server = start_prism(binary, probe)
    try:
        sequence = [Request("GET", path.removeprefix("/payt"), AUTH) for path in CASE1_PATHS]
        m = generator.run(server, [sequence], options.connections, options.duration)
        row = Row("Prism: GET /v1/tasks/{id} (static mock)", m, server.peak_mib())
    finally:
        server.stop()
    return row


# -- WireMock and the ceiling ----------------------------------------------------------

WARM_ROUND_S = 5.0
WARM_ROUNDS_MAX = 12  # a minute: WireMock's JIT settled within about one in the runs
WARM_SETTLED = 0.03  # a round less than 3% above the best so far counts as settled


def case1_answer() -> bytes:
    """What the sandbox answers for case 1's first request: the peers serve the same bytes."""
    with sandbox() as server:
        status, body = call(server.port, case1_sequences()[0][0])
    if status != 200:
        raise RuntimeError(f"case 1's request answered {status}: {body[:300]!r}")
    return body


def warmed(generator, server: Server, sequences: list[list[Request]], options) -> tuple[Measurement, str]:
    """Load in rounds until the rate stops rising, then measure; the note says how long it took."""
    best = 0.0
    rounds = 0
    while rounds < WARM_ROUNDS_MAX:
        rounds += 1
        rate = generator.run(server, sequences, options.connections, WARM_ROUND_S).rate
        if rate < best * (1 + WARM_SETTLED):
            break
        best = max(best, rate)
    m = generator.run(server, sequences, options.connections, options.duration)
    return (
        m,
        f"measured after {rounds} warm-up rounds of {WARM_ROUND_S:g} s (best warm-up rate {best:,.0f} req/s)",
    )


def case_wiremock(generator, options, body: bytes) -> Row:
    label = "WireMock 3: GET /payt/v1/tasks/{id} (static stub, warmed)"
    jar = peers.wiremock_jar(TOOLS)
    if jar is None:
        return Row(label, note="skipped: WireMock could not be installed (npm)")
    with tempfile.TemporaryDirectory() as root:
        peers.write_wiremock_stub(Path(root), "/payt/v1/tasks/[0-9]+", body, "application/json")
        port = free_port()
        argv = peers.wiremock_argv(jar, Path(root), HOST, port)
        if argv is None:
            return Row(label, note="skipped: no java on PATH (Debian: apt-get install default-jre-headless)")
        server = Server(argv, port, case1_sequences()[0][0], "wiremock")
        try:
            m, note = warmed(generator, server, case1_sequences(), options)
            row = Row(label, m, server.peak_mib(), note=note)
        finally:
            server.stop()
    return row


def case_ceiling(generator, options, body: bytes) -> Row:
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        port = free_port()
        argv = peers.ceiling_argv(Path(body_file.name), "application/json", HOST, port)
        server = Server(argv, port, case1_sequences()[0][0], "ceiling")
        try:
            m = generator.run(server, case1_sequences(), options.connections, options.duration)
            row = Row("Ceiling: bare asyncio protocol (uvloop + httptools), same bytes", m, server.peak_mib())
        finally:
            server.stop()
    return row


# -- a fresh credential's first call, and writes ------------------------------------------


async def sequential_latencies(port: int, requests: list[Request]) -> list[float]:
    """Each request's latency in seconds, sent one at a time on one keep-alive connection."""
    reader, writer = await asyncio.open_connection(HOST, port)
    latencies = []
    try:
        for req in requests:
            began = time.perf_counter()
            writer.write(req.encode(f"{HOST}:{port}"))
            status, body = await read_response(reader)
            latencies.append(time.perf_counter() - began)
            if status != 200:
                raise RuntimeError(f"{req.method} {req.path} answered {status}: {body[:300]!r}")
    finally:
        writer.close()
    return latencies


def case_fresh_credential(options, count: int = 2000) -> Row:
    """A CI suite with a tenant per test pays the first call of a fresh credential on every test."""
    path = CASE1_PATHS[0]
    with sandbox() as server:
        warm = asyncio.run(sequential_latencies(server.port, [Request("GET", path, AUTH)] * count))
        fresh_requests = [Request("GET", path, (("Authorization", f"Bearer fresh_{n}"),)) for n in range(count)]
        fresh = asyncio.run(sequential_latencies(server.port, fresh_requests))
        peak = server.peak_mib()
    warm_ms, fresh_ms = statistics.median(warm) * 1000, statistics.median(fresh) * 1000
    m = Measurement(
        rate=count / sum(fresh),
        p50_ms=fresh_ms,
        p99_ms=sorted(fresh)[int(len(fresh) * 0.99) - 1] * 1000,
        requests=count,
        errors=0,
    )
    row = Row(f"7. Payt GET /v1/tasks/{{id}}, first call of each of {count:,} fresh credentials", m, peak)
    row.extra["fresh_over_warm"] = fresh_ms / warm_ms
    row.note = (
        f"one connection, one call at a time; a warm credential's median is {warm_ms:.2f} ms, "
        f"so a fresh one's first call costs {fresh_ms / warm_ms:.1f}x a warm call"
    )
    row.target = "fresh p50 <= 2x warm p50"
    row.met = fresh_ms <= 2 * warm_ms
    return row


WETHOD_HEADERS = (*AUTH, ("Wethod-Company", "acme"), ("Wethod-Version", "2024-01-01"))


def write_mixes() -> dict[str, list[Request]]:
    """Per provider, a create, an update and a state-changing action that stay valid in any order."""
    invoiced_auth = (("Authorization", "Basic YmVuY2hfdG9rZW46"),)  # bench_token as the Basic user, no password
    debitura_auth = (("XApiKey", TOKEN),)
    case_body = {
        "currencyCode": "eur",
        "amountToRecover": 1250.5,
        "date": "2026-09-01",
        "dueDate": "2026-10-01T00:00:00",
        "isTest": True,
        "debtor": {"type": "Company", "name": "Debtor GmbH", "countryAlpha2": "de"},
        "allowPendingContracts": True,  # the demo account's contract is unsigned
    }
    return {
        "payt": [
            request("POST", "/payt/v1/tasks/5001/comment", {"administration_id": "adm_1001", "comment": "x"}, AUTH),
            request("PATCH", "/payt/v1/tasks/5002/mark_completed", {"administration_id": "adm_1001"}, AUTH),
            request("PATCH", "/payt/v1/tasks/5002/unmark_completed", {"administration_id": "adm_1001"}, AUTH),
        ],
        "invoiced": [
            request("POST", "/invoiced/customers", {"name": "Bench Customer"}, invoiced_auth),
            request("PATCH", "/invoiced/customers/481594", {"notes": "bench"}, invoiced_auth),
            request("PATCH", "/invoiced/tasks/788", {"complete": True}, invoiced_auth),
        ],
        "wethod": [
            request(
                "POST",
                "/wethod/api/invoices",
                {"project_id": 1, "value": 1500, "issue_date": "2026-03-10"},
                WETHOD_HEADERS,
            ),
            request("PATCH", "/wethod/api/invoices/1", {"notes": "bench"}, WETHOD_HEADERS),
            request("POST", "/wethod/api/invoices/2:set-paid", {"payment_date": "2026-03-09"}, WETHOD_HEADERS),
        ],
        "debitura": [
            request("POST", "/debitura/v1/cases", case_body, debitura_auth),
            request(
                "POST",
                "/debitura/v1/cases/9fad543d-5f8c-54d9-9c9a-7100e29384fd/chats",
                {"message": "Yes, we accept.", "userEmail": "anna.holm@nordlys-design.example"},
                debitura_auth,
            ),
        ],
    }


def case_write_mix(generator, options, provider: str, sequence: list[Request]) -> Row:
    with sandbox("--rate-limit", f"{provider}=off") as server:
        for req in sequence:  # every request of the mix must succeed alone before it is measured
            status, body = call(server.port, req)
            if not 200 <= status < 300:
                raise RuntimeError(f"write mix {provider}: {req.method} {req.path} answered {status}: {body[:300]!r}")
        m = generator.run(server, [sequence], options.connections, options.duration)
        row = Row(f"8. {provider} writes: " + ", ".join(f"{r.method} {r.path.split('?')[0]}" for r in sequence), m)
        row.peak_mib = server.peak_mib()
    row.note = "the journal keeps every call; records created during the run stay in the tenant"
    return row


# -- report -----------------------------------------------------------------------


def format_table(rows: list[Row]) -> str:
    lines = [
        "| case | req/s | p50 ms | p99 ms | errors | CPU µs/req | peak MiB | target | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        m = row.measurement
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        if m is None:
            value = f"{row.extra['startup_s']:.2f} s" if "startup_s" in row.extra else "-"
            peak = f"{row.peak_mib:.0f}" if row.peak_mib else "-"
            lines.append(f"| {row.case} | {value} | | | | | {peak} | {row.target} | {met} |")
            continue
        lines.append(
            f"| {row.case} | {m.rate:,.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.errors} | {m.cpu_us:.0f} | "
            f"{row.peak_mib:.0f} | {row.target} | {met} |"
        )
    notes = [f"- {row.case}: {row.note}" for row in rows if row.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def write_results(report: str) -> None:
    block = f"{START_MARK}\n{report}\n{END_MARK}"
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if START_MARK in old and END_MARK in old:
        head, rest = old.split(START_MARK, 1)
        text = head + block + rest.split(END_MARK, 1)[1]
    else:
        text = f"# Benchmark results\n\nWritten by `make bench` (`python -m bench.run`).\n\n{block}\n" + old
    RESULTS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per case (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--cases",
        default="1,1s,2,3,3s,4,5,6,7,8,prism,wiremock,ceiling",
        help="comma-separated subset, e.g. 1,prism (1s, 3s: cases 1 and 3 served with --state)",
    )
    parser.add_argument("--records", default="10000,100000", help="record counts for cases 2 and 5")
    parser.add_argument("--starts", type=int, default=5, help="start-ups timed for case 6")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    options = parser.parse_args(argv)
    cases = set(options.cases.split(","))
    counts = [int(n) for n in options.records.split(",")]

    load_before = os.getloadavg()[0]
    generator, why = choose_generator(options.generator)
    print(f"bench: load generator: {generator.name} ({why})", flush=True)
    with sandbox() as probe_server:
        served = providers_served(probe_server)

    rows: list[Row] = []

    def run(label: str, make) -> Row | None:
        print(f"bench: {label} ...", flush=True)
        row = make()
        rows.append(row)
        m = row.measurement
        if m is not None:
            print(
                f"bench:   {m.rate:,.0f} req/s, p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms, "
                f"{m.errors} errors, {m.cpu_us:.0f} µs CPU/request"
            )
        elif row.note:
            print(f"bench:   {row.note}")
        return row

    case1 = run("case 1", lambda: case_get_task(generator, options)) if "1" in cases else None
    if "1s" in cases:
        run("case 1 with --state", lambda: case_get_task(generator, options, on_disk=True))
    prism = run("Prism", lambda: case_prism(generator, options)) if "prism" in cases else None
    answer = case1_answer() if cases & {"wiremock", "ceiling"} else b""
    wiremock = run("WireMock", lambda: case_wiremock(generator, options, answer)) if "wiremock" in cases else None
    ceiling = run("ceiling", lambda: case_ceiling(generator, options, answer)) if "ceiling" in cases else None
    if "2" in cases:
        for count in counts:
            run(f"case 2 ({count:,} tasks)", lambda count=count: case_list_tasks(generator, options, count))
    if "3" in cases:
        run("case 3", lambda: case_mark_unmark(generator, options))
    if "3s" in cases:
        run("case 3 with --state", lambda: case_mark_unmark(generator, options, on_disk=True))
    if "4" in cases:
        if "debitura" in served:
            run("case 4", lambda: case_debitura_tasks(generator, options))
        else:
            run("case 4", lambda: unavailable("4. Debitura GET /tasks, Open filter, 10,000 tasks", "debitura"))
    if "5" in cases:
        for count in counts:
            if "wethod" in served:
                run(f"case 5 ({count:,} invoices)", lambda count=count: case_wethod_invoices(generator, options, count))
            else:
                run("case 5", lambda: unavailable("5. Wethod GET /api/invoices, operator filter", "wethod"))
                break
    if "6" in cases:
        run("case 6", lambda: case_startup(options))
    if "7" in cases:
        run("case 7", lambda: case_fresh_credential(options))
    if "8" in cases:
        for provider, sequence in write_mixes().items():
            if provider in served:
                run(f"case 8 ({provider})", lambda p=provider, q=sequence: case_write_mix(generator, options, p, q))

    ratio_line = case1_comparison(case1, prism, wiremock, ceiling)
    memory = [row for row in rows if "rss_after_seed_mib" in row.extra and "100,000" in row.case]
    memory_line = ""
    if memory:
        rss = memory[0].extra["rss_after_seed_mib"]
        memory_line = f"Memory with 100,000 Payt tasks loaded: {rss:.0f} MiB resident (target < 300 MB)"

    today = datetime.date.today().isoformat()
    header = (
        f"Run {today} on {os.cpu_count()} cores ({platform_line()}); "
        f"load generator: {generator.name}; {options.connections} connections, "
        f"{options.duration:g} s per case after a warm-up. "
        f"Load average (1 min) at the start: {load_before:.2f}, at the end: {os.getloadavg()[0]:.2f} "
        "(other processes on the machine lower req/s and raise latency; CPU µs/req is the server's own cost)."
    )
    report = "\n\n".join(part for part in (header, format_table(rows), ratio_line, memory_line) if part)
    print()
    print(report)
    if not options.no_write:
        write_results(report)
        print(f"\nbench: written to {RESULTS.relative_to(ROOT)}")
    return 0


def case1_comparison(case1: Row | None, prism: Row | None, wiremock: Row | None, ceiling: Row | None) -> str:
    """Case 1 beside its peers, measured in the same run: the ratios the targets are set in."""
    if case1 is None or case1.measurement is None:
        return ""
    rate = case1.measurement.rate
    lines = []
    if prism and prism.measurement:
        ratio = rate / prism.measurement.rate
        lines.append(f"Sandbox / Prism on case 1: **{ratio:.1f}x** (target >= 3x)")
        case1.met = bool(case1.met) and ratio >= 3
    if wiremock and wiremock.measurement:
        lines.append(f"Sandbox / warmed WireMock on case 1: **{rate / wiremock.measurement.rate:.2f}x** (target >= 3x)")
    if ceiling and ceiling.measurement:
        share = rate / ceiling.measurement.rate
        lines.append(f"Sandbox's share of the ceiling on case 1: **{share:.1%}** (target >= 20%)")
    return "\n\n".join(lines)


def platform_line() -> str:
    import platform

    return f"Python {platform.python_version()}, {platform.machine()}"


if __name__ == "__main__":
    raise SystemExit(main())

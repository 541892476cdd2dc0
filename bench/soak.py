"""The soak run: a long mixed load on one sandbox, as a shared CI sandbox sees it.

    python -m bench.soak [--requests 1000000] [--tenants 1000] [--connections 64] [-- sandbox serve options]

One `sandbox serve` process (journal limit 100 per tenant, so that every
tenant's journal is full after the first ~100,000 requests and stays so) takes
`--requests` requests from wrk over `--connections` connections, spread over
`--tenants` credentials: reads and writes on all four providers, while a global
fault rule answers 503 to 1% of the calls (probability 0.01, seeded). Writes
carry their tenant's name (`soak-<n>`); Payt's, Invoiced's and Wethod's toggle
or overwrite state, so their data stays the same size. Debitura's create a
test case (allowing a pending contract: the demo account's is unsigned) and
later delete the tenant's test cases by tag; a deleted case's events go with
it, and Debitura remembers the tenant's latest deleted cases (to tell a deleted
case from an unknown one) up to its history limit (`--journal-limit`, 100
here), so its data grows a little until then (`--debitura-writes none` swaps
those two calls for reads).

It checks, and prints as JSON:
- no 5xx answer but the injected 503s (their count equals the rule's `fired`);
- no tenant sees another's records: afterwards each tenant's written fields
  (an Invoiced customer's name, a Wethod invoice's notes, Debitura test cases'
  creditor references) name that tenant and no other;
- resident memory after the first 100,000 requests grows by less than 10% to
  the end (VmRSS sampled between wrk runs of `--chunk` seconds).

Not part of `make test`: a million requests take several minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import Request
from bench.run import HOST, call, sandbox

FAULT_RULE = {"path": "/*", "status": 503, "probability": 0.01, "seed": 13}
JOURNAL_LIMIT = 100
DEBITURA_CASE = "bab44264-2a9f-5092-951d-f786eaa4f5c2"

# Each request: tenant = counter % tenants, operation = (counter // tenants) % #OPERATIONS, so one
# tenant's calls come `tenants` requests apart, in this order (a mark before its unmark, a create
# before the delete that removes it).
WRK_SCRIPT = r"""
local tenants, offset = 1000, 0
local counter = 0
statuses = {}
local wethod_headers = {["Wethod-Company"] = "acme", ["Wethod-Version"] = "2024-06-15",
                        ["Content-Type"] = "application/json"}

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({"", "==", "="})[#data % 3 + 1])
end

local basic = {}

local function payt(t, method, path, body)
  local headers = {["Authorization"] = "Bearer soak-" .. t}
  if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  return wrk.format(method, "/payt/v1" .. path, headers, body)
end

local function invoiced(t, method, path, body)
  local key = basic[t]
  if not key then key = base64("soak-" .. t .. ":"); basic[t] = key end
  local headers = {["Authorization"] = "Basic " .. key}
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, "/invoiced" .. path, headers, body)
end

local function wethod(t, method, path, body)
  local headers = {["Authorization"] = "Bearer soak-" .. t}
  for k, v in pairs(wethod_headers) do headers[k] = v end
  return wrk.format(method, "/wethod/api" .. path, headers, body)
end

local function debitura(t, method, path, body)
  local headers = {["XApiKey"] = "soak-" .. t}
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, "/debitura/v1" .. path, headers, body)
end

local operations = {
  function(t, n) return payt(t, "GET", "/tasks/5001?administration_id=adm_1001") end,
  function(t, n) return invoiced(t, "GET", "/customers?per_page=10") end,
  function(t, n) return payt(t, "PATCH", "/tasks/5003/mark_completed", "administration_id=adm_1001") end,
  function(t, n) return wethod(t, "GET", "/invoices?limit=20") end,
  function(t, n) return invoiced(t, "PATCH", "/customers/481594", '{"name": "soak-' .. t .. '"}') end,
  function(t, n) return debitura(t, "GET", "/tasks?PageSize=20") end,
  function(t, n) return payt(t, "PATCH", "/tasks/5003/unmark_completed", "administration_id=adm_1001") end,
  function(t, n) return wethod(t, "PATCH", "/invoices/1", '{"notes": "soak-' .. t .. '"}') end,
  function(t, n) return debitura(t, "POST", "/cases", '{"currencyCode": "eur", "amountToRecover": 100, ' ..
      '"date": "2026-09-01", "dueDate": "2026-10-01T00:00:00", "creditorReference": "soak-' .. t .. '-' .. n ..
      '", "isTest": true, "tag": "soak", "allowPendingContracts": true, ' ..
      '"debtor": {"type": "Company", "name": "Soak GmbH", "countryAlpha2": "de"}}') end,
  function(t, n) return payt(t, "GET", "/tasks?administration_id=adm_1001&per_page=20") end,
  function(t, n) return invoiced(t, "GET", "/customers/481594") end,
  function(t, n) return wethod(t, "GET", "/invoices/1") end,
  function(t, n) return debitura(t, "GET", "/cases/" .. "%s") end,
  function(t, n) return debitura(t, "DELETE", "/test/cases?tag=soak") end,
}
if DEBITURA_READS_ONLY then
  operations[9] = function(t, n) return debitura(t, "GET", "/cases?PageSize=20") end
  operations[14] = function(t, n) return debitura(t, "GET", "/cases/" .. "%s" .. "/chats") end
end

init = function(args)
  tenants = tonumber(args[1])
  offset = tonumber(args[2])
end

request = function()
  local n = offset + counter
  counter = counter + 1
  local t = n %% tenants
  local op = math.floor(n / tenants) %% #operations + 1
  return operations[op](t, n)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("SOAK %%d %%d %%d %%d\n", summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
end
"""

# `response` runs in the thread; its counts are read back through the thread object.
WRK_THREAD_CODE = r"""
local threads = {}
setup = function(thread) table.insert(threads, thread) end
local original_done = done
done = function(summary, latency, requests)
  original_done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do io.write(string.format("STATUS %d %d\n", status, count)) end
  end
end
"""


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_wrk(wrk: str, script: str, port: int, connections: int, seconds: int, tenants: int, offset: int) -> dict:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script]
    argv += [f"http://{HOST}:{port}/", "--", str(tenants), str(offset)]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    result: dict = {"statuses": {}}
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["SOAK"]:
            result.update(requests=int(parts[1]), micros=int(parts[2]), socket_errors=int(parts[3]) + int(parts[4]))
        elif parts[:1] == ["STATUS"]:
            result["statuses"][int(parts[1])] = int(parts[2])
    return result


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"{token}:".encode()).decode()


def checked_call(port: int, request: Request) -> tuple[int, bytes]:
    """A call of the isolation check, tried again while the fault rule answers it 503."""
    for _ in range(20):
        status, body = call(port, request)
        if status != 503:
            break
    return status, body


def isolation_problems(port: int, tenants: int) -> list[str]:
    """Each tenant's written fields must name that tenant (and records it did not write, none)."""
    problems: list[str] = []
    for tenant in range(tenants):
        token = f"soak-{tenant}"
        own = f"soak-{tenant}"
        status, body = checked_call(
            port, Request("GET", "/invoiced/customers/481594", (("Authorization", basic(token)),))
        )
        name = json.loads(body).get("name") if status == 200 else None
        if name != own:
            problems.append(f"{token}: Invoiced customer 481594 is named {name!r} ({status})")
        wethod = (("Authorization", f"Bearer {token}"), ("Wethod-Company", "acme"), ("Wethod-Version", "2024-06-15"))
        status, body = checked_call(port, Request("GET", "/wethod/api/invoices/1", wethod))
        notes = json.loads(body).get("notes") if status == 200 else None
        if notes != own:
            problems.append(f"{token}: Wethod invoice 1 has notes {notes!r} ({status})")
        status, body = checked_call(port, Request("GET", "/debitura/v1/cases?PageSize=100", (("XApiKey", token),)))
        cases = json.loads(body).get("cases", []) if status == 200 else []
        for case in cases:
            reference = str(case.get("creditorReference") or "")
            if reference.startswith("soak-") and not reference.startswith(own + "-"):
                problems.append(f"{token}: sees Debitura case {reference}")
        if len(problems) > 20:
            break
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=15, help="seconds per wrk run (RSS is sampled between)")
    parser.add_argument("--baseline", type=int, default=100_000, help="requests before the RSS baseline")
    parser.add_argument(
        "--debitura-writes",
        choices=["cases", "none"],
        default="cases",
        help="cases: create a test case, later delete it by tag (Debitura remembers the latest deleted cases up to "
        "the journal limit); none: two more Debitura reads instead",
    )
    parser.add_argument("serve_options", nargs="*", help="more `sandbox serve` options (after --)")
    options = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench.soak needs wrk (apt-get install wrk)")

    reads_only = "true" if options.debitura_writes == "none" else "false"
    lua = f"DEBITURA_READS_ONLY = {reads_only}\n" + WRK_SCRIPT.replace('"%s"', f'"{DEBITURA_CASE}"').replace("%%", "%")
    lua += WRK_THREAD_CODE
    with tempfile.TemporaryDirectory(prefix="sandbox-soak-") as directory:
        script = Path(directory) / "soak.lua"
        script.write_text(lua, encoding="utf-8")
        faults = Path(directory) / "faults.yaml"
        faults.write_text(json.dumps([FAULT_RULE]), encoding="utf-8")  # JSON is YAML
        serve = ["--journal-limit", str(JOURNAL_LIMIT), "--faults", str(faults), *options.serve_options]
        with sandbox(*serve) as server:
            pid = server.process.pid
            done = 0
            statuses: dict[int, int] = {}
            socket_errors = 0
            samples: list[tuple[int, float]] = [(0, rss_mib(pid))]
            began = time.perf_counter()
            while done < options.requests:
                result = run_wrk(
                    wrk, str(script), server.port, options.connections, options.chunk, options.tenants, done
                )
                done += result["requests"]
                socket_errors += result["socket_errors"]
                for status, count in result["statuses"].items():
                    statuses[status] = statuses.get(status, 0) + count
                samples.append((done, rss_mib(pid)))
                print(f"bench.soak: {done:,} requests, RSS {samples[-1][1]:.1f} MiB", flush=True)
            seconds = time.perf_counter() - began
            _, body = call(server.port, Request("GET", "/__sandbox/tenants/soak-0/faults"))
            fired = sum(rule["fired"] for rule in json.loads(body)["global"])
            problems = isolation_problems(server.port, options.tenants)
            cpu = server.cpu_seconds()
            peak = server.peak_mib()
    baseline = next((rss for count, rss in samples if count >= options.baseline), samples[-1][1])
    final = samples[-1][1]
    growth = final / baseline - 1
    unexpected = {status: count for status, count in statuses.items() if status >= 500 and status != 503}
    report = {
        "debitura_writes": options.debitura_writes,
        "requests": done,
        "tenants": options.tenants,
        "connections": options.connections,
        "seconds": round(seconds, 1),
        "rate": round(done / seconds),
        "server_cpu_seconds": round(cpu, 1),
        "statuses": dict(sorted(statuses.items())),
        "socket_errors": socket_errors,
        "injected_503": statuses.get(503, 0),
        "fault_rule_fired": fired,
        "unexpected_5xx": unexpected,
        "isolation_problems": problems,
        "rss_mib_start": round(samples[0][1], 1),
        "rss_mib_after_baseline": round(baseline, 1),
        "rss_mib_end": round(final, 1),
        "rss_growth_after_baseline": f"{growth:.1%}",
        "peak_mib": round(peak, 1),
        "rss_samples": " ".join(f"{count}:{rss:.1f}" for count, rss in samples),
        "load_average_end": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=2))
    # wrk stops counting at the end of each run while the server may still answer the calls in flight.
    in_flight = options.connections * (len(samples) - 1)
    ok = not unexpected and not problems and growth < 0.10 and 0 <= fired - statuses.get(503, 0) <= in_flight
    print(f"bench.soak: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

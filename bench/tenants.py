"""Memory per tenant: many fresh credentials, each calling all four providers once.

    python -m bench.tenants [--tenants 20000] [--connections 16] [-- extra sandbox serve options]

Starts `sandbox serve` (as `make bench` does), then sends, for each of N new
credentials, one read to each provider (a Payt task, Invoiced's customer list,
Wethod's invoice list, Debitura's task list), and reports the server's
resident memory (VmRSS) before and after, and per tenant. Target: 20,000
tenants under 250 MiB. Not part of `make test` (it takes a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time

from bench.loadgen import Request, read_response
from bench.run import HOST, call, sandbox

WETHOD = (("Wethod-Company", "acme"), ("Wethod-Version", "2024-06-15"))


def tenant_requests(index: int) -> list[Request]:
    """One call to each provider for the credential of tenant `index`."""
    token = f"memory_tenant_{index}"
    basic = base64.b64encode(f"{token}:".encode()).decode()
    return [
        Request("GET", "/payt/v1/tasks/5001?administration_id=adm_1001", (("Authorization", f"Bearer {token}"),)),
        Request("GET", "/invoiced/customers", (("Authorization", f"Basic {basic}"),)),
        Request("GET", "/wethod/api/invoices", (("Authorization", f"Bearer {token}"), *WETHOD)),
        Request("GET", "/debitura/v1/tasks", (("XApiKey", token),)),
    ]


async def drive(port: int, tenants: int, connections: int) -> dict[int, int]:
    """Every tenant's four calls, spread over `connections` keep-alive connections; statuses counted."""
    statuses: dict[int, int] = {}
    next_tenant = 0

    async def worker() -> None:
        nonlocal next_tenant
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while next_tenant < tenants:
                index = next_tenant
                next_tenant += 1
                for request in tenant_requests(index):
                    writer.write(request.encode(f"{HOST}:{port}"))
                    status, _ = await read_response(reader)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tenants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("serve_options", nargs="*", help="more `sandbox serve` options (after --)")
    options = parser.parse_args(argv)
    with sandbox(*options.serve_options) as server:
        before = server.rss_mib()
        began = time.perf_counter()
        statuses = asyncio.run(drive(server.port, options.tenants, options.connections))
        seconds = time.perf_counter() - began
        after = server.rss_mib()
        _, body = call(server.port, Request("GET", "/__sandbox/health"))
        held = json.loads(body)["tenants"]
        peak = server.peak_mib()
    per_tenant = (after - before) * 1024 / max(options.tenants, 1)
    print(
        json.dumps(
            {
                "tenants": options.tenants,
                "serve_options": options.serve_options,
                "requests": sum(statuses.values()),
                "statuses": statuses,
                "seconds": round(seconds, 1),
                "rss_before_mib": round(before, 1),
                "rss_after_mib": round(after, 1),
                "peak_mib": round(peak, 1),
                "kib_per_tenant": round(per_tenant, 1),
                "tenants_held": held,
            },
            indent=2,
        )
    )
    ok = after < 250 and set(statuses) == {200}
    print(f"bench.tenants: {'met' if ok else 'NOT met'}: {after:.0f} MiB resident after {options.tenants:,} tenants")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""A small HTTP/1.1 load generator on asyncio streams (stdlib only).

`run_load` opens `connections` keep-alive connections to a loopback server and
sends requests on each, one at a time, until `duration` seconds have passed or
`max_requests` have been sent (both bounds always apply). Each connection
walks its own sequence of requests (`requests_for(connection_index)`), so a
connection can alternate, say, mark / unmark on a task of its own.

It is the fallback when wrk is not installed: it costs more CPU per request
than wrk, and on a 2-core machine it shares the cores with the server, so its
numbers are a floor, not the server's ceiling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, one per response
    errors: int = 0  # connection failures and malformed responses

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """The latency below which `fraction` of responses came, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        return status, b"".join(part[:-2] for part in parts)
    return status, await reader.readexactly(length or 0)


async def one_request(host: str, port: int, request: Request, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send one request on a fresh connection (set-up calls: seeding, health checks)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(request.encode(f"{host}:{port}"))
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    requests_for: Callable[[int], Sequence[Request]],
    connections: int = 32,
    duration: float = 10.0,
    max_requests: int = 2_000_000,
    warmup: float = 1.0,
) -> LoadResult:
    """Drive the server; responses during the first `warmup` seconds are not counted."""
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only targets loopback addresses, not {host}")
    result = LoadResult()
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    sent = 0

    async def worker(index: int) -> None:
        nonlocal sent
        sequence = [request.encode(f"{host}:{port}") for request in requests_for(index)]
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            result.errors += 1
            return
        position = 0
        try:
            while sent < max_requests:
                payload = sequence[position % len(sequence)]
                position += 1
                sent += 1
                begin = time.perf_counter()
                writer.write(payload)
                status, _ = await read_response(reader)
                end = time.perf_counter()
                if end >= stop_at:
                    break
                if end >= measure_from:
                    result.requests += 1
                    result.latencies.append(end - begin)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            result.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(index) for index in range(connections)))
    result.seconds = min(time.perf_counter(), stop_at) - measure_from
    return result

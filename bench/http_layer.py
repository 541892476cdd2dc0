"""The HTTP layer's own CPU time per request: `python -m bench.http_layer`.

Feeds case 1's requests (Payt GET /v1/tasks/{id}) to uvicorn protocol
objects in-process, 32 connections answered per event-loop turn, with
transports that only count what is written: no sockets, no load generator,
so other load on the machine moves the figures far less than a wrk run. With
`--app null` the app is a fixed two-message ASGI answer and the figure is the
HTTP layer alone; with `--app sandbox` it is the whole server minus system
calls. Variants (interleaved, best of `--rounds`):

- stock: uvicorn's `HttpToolsProtocol` as it ships;
- coalescing: stock, with one write per response per turn (main before issue 17);
- lean: `sandbox.http_protocol.LeanHttpToolsProtocol` (what `sandbox serve` runs);
- lean, a Task per request: lean, with every app started in a Task as uvicorn does;
- lean, proxy middleware: lean, with uvicorn's proxy-headers middleware run for every request.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from sandbox.http_protocol import BatchingTransport, LeanCycle, LeanHttpToolsProtocol, turn_of

CONNECTIONS = 32
TARGETS = [f"/payt/v1/tasks/{task}?administration_id=adm_1001" for task in (5001, 5002, 5003, 5004)]
REQUESTS = [
    f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAuthorization: Bearer bench_token\r\n\r\n".encode()
    for target in TARGETS
]


class CountingTransport:
    """Stands in for a socket: counts writes and bytes."""

    def __init__(self) -> None:
        self.writes = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


class Coalescing(HttpToolsProtocol):
    """uvicorn's protocol writing through `BatchingTransport`: what main served before issue 17."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(BatchingTransport(transport, turn_of(self.loop)))  # type: ignore[arg-type]


class TaskPerRequest(LeanHttpToolsProtocol):
    def run_eagerly(self, cycle: LeanCycle, app: Any) -> None:
        self._start_asgi_task(cycle, app)  # type: ignore[arg-type]


class ProxyMiddlewareAlways(LeanHttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unproxied_app = self.app


VARIANTS: dict[str, type] = {
    "stock": HttpToolsProtocol,
    "coalescing": Coalescing,
    "lean": LeanHttpToolsProtocol,
    "lean, a Task per request": TaskPerRequest,
    "lean, proxy middleware": ProxyMiddlewareAlways,
}


async def null_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    headers = [(b"content-length", b"442"), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"x" * 442})


async def measure(protocol_class: type, app: Any, turns: int) -> float:
    """CPU µs per request over `turns` turns of CONNECTIONS requests each."""
    config = uvicorn.Config(app, http=protocol_class, lifespan="off", log_config=None, access_log=False)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Mon, 30 Nov 2026 12:00:00 GMT"), (b"server", b"uvicorn")]
    connections = []
    for _ in range(CONNECTIONS):
        protocol = protocol_class(config=config, server_state=state, app_state={})
        transport = CountingTransport()
        protocol.connection_made(transport)
        connections.append((protocol, transport))

    async def turn(number: int) -> None:
        for index, (protocol, _) in enumerate(connections):
            protocol.data_received(REQUESTS[(number + index) % len(REQUESTS)])
        for _ in range(3):  # the apps' turn, the writes' turn (and a spare)
            await asyncio.sleep(0)

    for number in range(50):
        await turn(number)
    gc.collect()
    started = time.process_time()
    for number in range(turns):
        await turn(number)
    elapsed = time.process_time() - started
    answered = sum(transport.writes for _, transport in connections)
    if answered < (turns + 50) * CONNECTIONS:
        raise RuntimeError(f"{protocol_class.__name__}: {answered} writes for {(turns + 50) * CONNECTIONS} requests")
    for protocol, _ in connections:
        protocol.connection_lost(None)
    return elapsed / (turns * CONNECTIONS) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_layer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=["null", "sandbox"], default="null")
    parser.add_argument("--turns", type=int, default=400, help="turns of 32 requests per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved measurements of every variant")
    options = parser.parse_args(argv)
    if options.app == "sandbox":
        from sandbox.app import create_app

        app: Any = create_app()
    else:
        app = null_app
    gc.freeze()  # as `sandbox serve` does after start-up
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(options.rounds):
        for name, protocol_class in VARIANTS.items():
            results[name].append(uvloop.run(measure(protocol_class, app, options.turns)))
    print(f"CPU µs per request, app {options.app}, best of {options.rounds} (all runs):")
    for name, runs in results.items():
        print(f"  {name:28s} {min(runs):6.1f}   ({' '.join(f'{run:.1f}' for run in runs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Running the app under uvicorn for `sandbox serve`, tuned for many small responses.

uvicorn picks httptools (HTTP parsing in C) and uvloop (the event loop in C)
when they are installed, which they are with the sandbox: together they
serve about three times as many requests per second as h11 on asyncio.

uvicorn's own httptools protocol costs about as much CPU per small request as
the engine: `sandbox.http_protocol.LeanHttpToolsProtocol` puts the same bytes
on the wire with less work (the app run without a Task unless it waits, head
and body in one write; see that module). uvicorn still runs the server: the
listening socket, lifespan, signals and graceful shutdown.
"""

from __future__ import annotations

from typing import Any


def http_protocol() -> type | str:
    """uvicorn's `http` setting: the lean httptools protocol, or "auto" without httptools."""
    try:
        from sandbox.http_protocol import LeanHttpToolsProtocol
    except ImportError:  # httptools is not installed: uvicorn falls back to h11
        return "auto"
    return LeanHttpToolsProtocol


def serve(app: Any, host: str, port: int, access_log: bool = False) -> None:
    """Serve until interrupted; `access_log` logs every request, credentials in admin paths masked."""
    import uvicorn

    level = "info" if access_log else "warning"
    config = uvicorn.Config(app, host=host, port=port, http=http_protocol(), log_level=level, access_log=access_log)
    if access_log:
        from sandbox.access_log import install

        install()  # after Config, which sets up uvicorn's loggers
    uvicorn.Server(config).run()

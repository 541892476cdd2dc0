"""The ASGI application: Starlette, with every request handed to the engine.

The engine does its own routing from the specs (it must answer 404 and 405 in
each provider's error format), so it is installed as the router's default app.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.engine import Engine, Settings


class SandboxApp(Starlette):
    """Starlette, with HTTP requests handed to the engine without passing its middleware.

    The engine answers every request itself (its errors included), so the
    middleware would only add a few percent to every call. Lifespan events
    still go through Starlette.
    """

    engine_asgi: ASGIApp  # `state.engine.asgi`, set by create_app (held here: `state` costs a lookup per request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["app"] = self
            await self.engine_asgi(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    engine = Engine(settings)
    app = SandboxApp()
    app.router.default = engine.asgi
    app.state.engine = engine
    app.engine_asgi = engine.asgi
    return app

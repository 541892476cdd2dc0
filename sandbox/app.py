"""The ASGI application: Starlette, with every request handed to the engine.

The engine does its own routing from the specs (it must answer 404 and 405 in
each provider's error format), so it is installed as the router's default app.
"""

from __future__ import annotations

from starlette.applications import Starlette

from sandbox.engine import Engine, Settings


def create_app(settings: Settings | None = None) -> Starlette:
    engine = Engine(settings)
    app = Starlette()
    app.router.default = engine.asgi
    app.state.engine = engine
    return app

"""A local webhook receiver for tests: records what the sandbox posts and checks its signature.

`WebhookReceiver` is an HTTP server on a free loopback port (the pytest
fixture `webhook_receiver` starts one per test). Point a subscription at
`receiver.url`; every POST is kept as a `ReceivedWebhook` with its headers,
raw body, parsed JSON and whether its signature holds for `receiver.secret`
(checked by the provider whose signature header the request carries).
`answer(500, 500)` makes the next answers fail; `hold()` keeps every request
waiting until `release()` (a receiver that hangs).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.events import WebhookStyle


@dataclass
class ReceivedWebhook:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    answered: int
    signature_valid: bool | None  # None: no secret to check it with, or no known signature header

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, styles: list[WebhookStyle] | None = None) -> None:
        self.styles = styles if styles is not None else provider_styles()
        self.secret: str | None = None
        self.received: list[ReceivedWebhook] = []
        self.arrived = 0  # requests that reached the receiver, answered or still held
        self._answers: deque[int] = deque()
        self._released = threading.Event()
        self._released.set()
        self._arrived = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="webhook-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    # -- behaviour ------------------------------------------------------------

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, in order (then 200 again)."""
        self._answers.extend(statuses)

    def hold(self) -> None:
        """Keep every request waiting, unanswered, until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    # -- what arrived -----------------------------------------------------------

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        """The first `count` requests received, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} webhook(s), received {len(self.received)}")
                self._arrived.wait(left)
            return self.received[:count]

    def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` requests reached the receiver (held ones included)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self.arrived < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} webhook(s) to arrive, {self.arrived} did")
                self._arrived.wait(left)

    def verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        if self.secret is None:
            return None
        for style in self.styles:
            if style.signature_header.lower() in headers:
                return style.verify(headers, body, self.secret)
        return None

    def _record(self, path: str, headers: dict[str, str], body: bytes, answered: int) -> None:
        with self._arrived:
            self.received.append(ReceivedWebhook(path, headers, body, answered, self.verify(headers, body)))
            self._arrived.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver._arrived:
                    receiver.arrived += 1
                    receiver._arrived.notify_all()
                receiver._released.wait()
                status = receiver._answers.popleft() if receiver._answers else 200
                receiver._record(self.path, headers, body, status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def provider_styles() -> list[WebhookStyle]:
    """The webhook styles of every provider the sandbox serves."""
    from sandbox import providers

    found = (getattr(provider, "webhooks", None) for provider in providers.discover().values())
    return [style for style in found if style is not None]


@contextmanager
def running_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()

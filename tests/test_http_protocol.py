"""`LeanHttpToolsProtocol` puts the same bytes on the wire as uvicorn's own httptools protocol.

Every case sends the same raw bytes over a real socket to two servers, one
with uvicorn's `HttpToolsProtocol` and one with the lean protocol (each with
its own fresh app, fed the same requests), and compares what comes back byte
for byte (the `date` header's value aside), and whether the server closed the
connection. The cases cover what uvicorn's protocol handles: keep-alive,
pipelining, HTTP/1.0, `Connection: close`, chunked and split request bodies,
large bodies, `Expect: 100-continue`, malformed requests, HEAD, the fault
rules that delay or drop, the admin API and dashboard, proxy headers, and
ASGI apps that stream, fail or break the protocol. Behaviour that takes time
(slow readers, keep-alive timeouts, graceful shutdown, the access log) has
its own tests below.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sandbox.access_log import install as install_access_log
from sandbox.app import create_app
from sandbox.engine import Settings
from sandbox.http_protocol import LeanHttpToolsProtocol
from sandbox.server import http_protocol
from sandbox.testing import free_port

PROTOCOLS = {"stock": HttpToolsProtocol, "lean": LeanHttpToolsProtocol}


@dataclass
class Running:
    port: int
    server: uvicorn.Server


@contextmanager
def serving(app: Any, protocol: type, **options: Any) -> Iterator[Running]:
    """`app` under uvicorn with `protocol`, in a background thread (uvloop, as `sandbox serve` runs it)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol, lifespan="off", log_config=None, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"http-{protocol.__name__}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield Running(port, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- reading responses off the wire ----------------------------------------------


def complete_responses(data: bytes, heads: int = 0) -> int:
    """How many whole responses `data` holds (1xx interim answers not counted); the first `heads` answer HEADs."""
    count = position = 0
    while True:
        end = data.find(b"\r\n\r\n", position)
        if end < 0:
            return count
        lines = data[position:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = dict(line.split(": ", 1) for line in lines[1:])
        fields = {name.lower(): value for name, value in fields.items()}
        position = end + 4
        if status < 200:
            continue
        if count < heads or status in (204, 304):
            pass
        elif "content-length" in fields:
            position += int(fields["content-length"])
            if position > len(data):
                return count
        elif fields.get("transfer-encoding") == "chunked":
            while True:
                line_end = data.find(b"\r\n", position)
                if line_end < 0:
                    return count
                size = int(data[position:line_end], 16)
                position = line_end + 2 + size + 2
                if position > len(data):
                    return count
                if size == 0:
                    break
        else:
            return count  # the body runs to the end of the connection
        count += 1


@dataclass
class Expect:
    """A step: read until `text` has arrived (an interim `100 Continue`, say) before sending on."""

    text: bytes


Step = bytes | float | Expect | tuple[bytes, int]  # send; pause; wait for; send and read n more responses


def exchange(port: int, steps: list[Step], responses: int, heads: int = 0) -> tuple[bytes, bool]:
    """What the server sends back for `steps` on one connection, and whether it then closed the connection."""
    data = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:

        def read_until(done: Any) -> None:
            nonlocal data, closed
            while not closed and not done():
                try:
                    chunk = sock.recv(1 << 20)
                except ConnectionResetError:  # closed with our next request unread
                    chunk = b""
                if chunk:
                    data += chunk
                else:
                    closed = True

        wanted = 0
        for step in steps:
            if isinstance(step, float):
                time.sleep(step)
            elif isinstance(step, Expect):
                read_until(lambda text=step.text: text in data)
            elif isinstance(step, tuple):
                with contextlib.suppress(OSError):
                    sock.sendall(step[0])
                wanted += step[1]
                read_until(lambda n=wanted: complete_responses(data, heads) >= n)
            else:
                with contextlib.suppress(OSError):  # the server may have closed the connection (after a 400, say)
                    sock.sendall(step)
        read_until(lambda: complete_responses(data, heads) >= responses)
        if not closed:
            sock.settimeout(0.3)
            try:
                more = sock.recv(1 << 20)
            except TimeoutError:
                pass
            else:
                data += more
                closed = not more
    return re.sub(rb"date: [^\r]*\r\n", b"date: (now)\r\n", data), closed


def request(method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    fields = {"Host": "127.0.0.1", **(headers or {})}
    if body and "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(body))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return head.encode("latin-1") + b"\r\n" + body


# -- the sandbox under both protocols --------------------------------------------

ADMIN = "adm_1001"
TASK = f"/payt/v1/tasks/5001?administration_id={ADMIN}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, int]]:
    """One sandbox per protocol, each with its own app: the cases send both the same requests in the same order."""
    with (
        serving(create_app(Settings(validate_responses=True)), HttpToolsProtocol) as stock,
        serving(create_app(Settings(validate_responses=True)), LeanHttpToolsProtocol) as lean,
    ):
        yield {"stock": stock.port, "lean": lean.port}


def same_on_both(ports: dict[str, int], steps: list[Step], responses: int, heads: int = 0) -> tuple[bytes, bool]:
    stock = exchange(ports["stock"], steps, responses, heads)
    lean = exchange(ports["lean"], steps, responses, heads)
    assert lean == stock
    return lean


def setup_on_both(ports: dict[str, int], *requests: bytes) -> None:
    for port in ports.values():
        for one in requests:
            exchange(port, [one], 1)


def frozen_clock(token: str) -> bytes:
    body = json.dumps({"frozen": True, "set": "2026-03-01T12:00:00Z"}).encode()
    return request("POST", f"/__sandbox/tenants/{token}/clock", JSON, body)


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def test_keep_alive_requests_one_after_another(sandboxes: dict[str, int]) -> None:
    health = request("GET", "/__sandbox/health")
    data, closed = same_on_both(sandboxes, [(request("GET", TASK, bearer("ka")), 1), (health, 1), (health, 1)], 3)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert b"server: uvicorn\r\n" in data and b'"id":"5001"' in data
    assert not closed


def test_pipelined_requests_are_answered_in_order(sandboxes: dict[str, int]) -> None:
    requests = [request("GET", f"/payt/v1/tasks/{n}?administration_id={ADMIN}", bearer("pipe")) for n in (5001, 5002)]
    body = json.dumps({"administration_id": ADMIN}).encode()
    mark = request("PATCH", "/payt/v1/tasks/5002/mark_completed", {**bearer("pipe"), **JSON}, body)
    setup_on_both(sandboxes, frozen_clock("pipe"))
    data, closed = same_on_both(sandboxes, [b"".join([requests[0], mark, requests[1], requests[0]])], 4)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 4
    assert re.findall(rb'"id":"(\d+)"', data) == [b"5001", b"5002", b"5002", b"5001"]
    assert not closed


def test_http_1_0_is_answered_and_closed(sandboxes: dict[str, int]) -> None:
    data, closed = same_on_both(sandboxes, [b"GET /__sandbox/health HTTP/1.0\r\n\r\n"], 1)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close\r\n" in data
    assert closed


def test_connection_close_is_honoured(sandboxes: dict[str, int]) -> None:
    data, closed = same_on_both(sandboxes, [request("GET", TASK, {**bearer("close"), "Connection": "close"})], 1)
    assert b"connection: close\r\n" in data
    assert closed


def test_request_bodies_whole_chunked_and_split_across_packets(sandboxes: dict[str, int]) -> None:
    setup_on_both(sandboxes, frozen_clock("bodies"))
    body = json.dumps({"administration_id": ADMIN}).encode()
    headers = {**bearer("bodies"), **JSON}
    whole = request("PATCH", "/payt/v1/tasks/5001/mark_completed", headers, body)
    chunked_head = request("PATCH", "/payt/v1/tasks/5001/unmark_completed", {**headers, "Transfer-Encoding": "chunked"})
    split = request("PATCH", "/payt/v1/tasks/5001/mark_completed", headers, body)
    steps: list[Step] = [
        (whole, 1),
        chunked_head + chunked(body[:5], body[5:])[:9],
        0.05,
        (chunked(body[:5], body[5:])[9:], 1),
        split[:-7],
        0.05,
        (split[-7:], 1),
    ]
    data, closed = same_on_both(sandboxes, steps, 3)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert re.findall(rb'"id":"(\d+)"', data) == [b"5001", b"5001", b"5001"]
    assert not closed


def test_expect_100_continue(sandboxes: dict[str, int]) -> None:
    setup_on_both(sandboxes, frozen_clock("expect"))
    body = json.dumps({"administration_id": ADMIN}).encode()
    head = request("PATCH", "/payt/v1/tasks/5001/mark_completed", {**bearer("expect"), **JSON})
    head = head.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
    data, closed = same_on_both(sandboxes, [head, Expect(b"HTTP/1.1 100 Continue\r\n\r\n"), body], 1)
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert not closed


def test_large_bodies_within_and_over_the_limit(sandboxes: dict[str, int]) -> None:
    dates = {"created_at": "2026-01-01T09:00:00Z", "updated_at": "2026-01-02T09:00:00Z"}
    tasks = [
        {"id": str(900_000 + n), "administration_id": ADMIN, "subject": "x" * 200, "description": "d", **dates}
        for n in range(2500)
    ]
    body = json.dumps({"payt": {"tasks": tasks}}).encode()  # about 700 KB: reading pauses past 64 KiB
    assert 512 * 1024 < len(body) < 1024 * 1024
    load = request("POST", "/__sandbox/tenants/large/fixtures", JSON, body)
    data, _ = same_on_both(sandboxes, [load], 1)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    too_large = b"[" + b"0," * (600 * 1024) + b"0]"
    over = request("POST", "/__sandbox/tenants/large/fixtures", JSON, too_large)
    data, _ = same_on_both(sandboxes, [over], 1)
    assert data.startswith(b"HTTP/1.1 413 ")


def test_malformed_requests_get_a_400(sandboxes: dict[str, int]) -> None:
    data, closed = same_on_both(sandboxes, [b"GARBAGE\r\n\r\n"], 1)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Invalid HTTP request received." in data
    assert closed
    data, closed = same_on_both(sandboxes, [b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"], 1)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert closed


def test_head_percent_encoding_and_errors(sandboxes: dict[str, int]) -> None:
    steps: list[Step] = [
        (request("HEAD", TASK, bearer("misc")), 1),
        (request("GET", f"/payt/v1/tasks/50%2001?administration_id={ADMIN}", bearer("misc")), 1),
        (request("DELETE", TASK, bearer("misc")), 1),
        (request("GET", "/nowhere/%C3%A9"), 1),
        (request("GET", TASK), 1),
    ]
    data, closed = same_on_both(sandboxes, steps, 5, heads=1)
    statuses = re.findall(rb"HTTP/1.1 (\d+) ", data)
    assert statuses[1:] == [b"404", b"405", b"404", b"401"]
    assert not closed


def test_upgrade_requests_are_answered_as_plain_http(sandboxes: dict[str, int]) -> None:
    """No WebSocket library is installed: uvicorn warns and answers the request itself."""
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    data, _ = same_on_both(sandboxes, [request("GET", "/__sandbox/health", upgrade)], 1)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    data, _ = same_on_both(
        sandboxes, [request("GET", "/__sandbox/health", {"Connection": "Upgrade", "Upgrade": "h2c"})], 1
    )
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_admin_api_and_dashboard(sandboxes: dict[str, int]) -> None:
    steps: list[Step] = [
        (request("GET", "/__sandbox/ui"), 1),
        (request("GET", "/__sandbox/ui/"), 1),
        (request("GET", "/__sandbox/ui/app.js"), 1),
        (request("GET", "/__sandbox/tenants/dash/requests"), 1),
        (request("GET", "/__sandbox/specs/payt"), 1),
    ]
    data, _ = same_on_both(sandboxes, steps, 5)
    assert data.count(b"HTTP/1.1 200 OK\r\n") >= 4 and b"<html" in data.lower()


def test_fault_rules_that_delay_and_drop(sandboxes: dict[str, int]) -> None:
    delay = json.dumps({"path": "/payt/*", "latency_ms": 60, "times": 1}).encode()
    drop = json.dumps({"path": "/payt/*", "drop": True, "times": 1}).encode()
    faults = "/__sandbox/tenants/faulty/faults"
    setup_on_both(sandboxes, request("POST", faults, JSON, delay))
    started = time.perf_counter()
    data, closed = same_on_both(sandboxes, [(request("GET", TASK, bearer("faulty")), 1)], 1)
    assert time.perf_counter() - started >= 0.12  # both waited
    assert b'"id":"5001"' in data and not closed
    setup_on_both(sandboxes, request("POST", faults, JSON, drop))
    data, closed = same_on_both(sandboxes, [request("GET", TASK, bearer("faulty"))], 1)
    assert data == b"HTTP/1.1 200 OK\r\ndate: (now)\r\nserver: uvicorn\r\ncontent-length: 1\r\n\r\n"
    assert closed


def test_proxy_headers_are_applied_when_sent(sandboxes: dict[str, int]) -> None:
    basic = base64.b64encode(b"proxied:").decode()
    headers = {"Authorization": f"Basic {basic}", "X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"}
    data, _ = same_on_both(sandboxes, [request("GET", "/invoiced/customers?per_page=1", headers)], 1)
    assert b"link: <https://127.0.0.1/invoiced/customers" in data


# -- ASGI apps that stream, fail or break the protocol ---------------------------


async def edge_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers by path: the shapes of response uvicorn's protocol frames or refuses."""
    path = scope["path"]
    start = {"type": "http.response.start", "status": 200}
    if path == "/echo":  # reads the whole body, answers its length and digest
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
        await send({**start, "headers": [(b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})
    elif path == "/stream":  # no content-length: chunked
        await send({**start, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"one", b"", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})
    elif path == "/pause":  # waits between head and body
        await send({**start, "headers": [(b"content-length", b"2"), (b"X-Mixed-Case", b"v")]})
        await asyncio.sleep(0.02)
        await send({"type": "http.response.body", "body": b"ok"})
    elif path == "/close":
        await send({**start, "headers": [(b"content-length", b"2"), (b"connection", b"Close")]})
        await send({"type": "http.response.body", "body": b"ok"})
    elif path == "/raise-before":
        raise ValueError("before the response")
    elif path == "/raise-after":
        await send({**start, "headers": [(b"content-length", b"5")]})
        raise ValueError("after the head")
    elif path == "/nothing":
        return
    elif path == "/unfinished":
        await send({**start, "headers": [(b"content-length", b"5")]})
    elif path == "/too-long":
        await send({**start, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"12345"})
    elif path == "/too-short":
        await send({**start, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"12345"})
    elif path == "/bad-header":
        await send({**start, "headers": [(b"x-bad", b"a\nb")]})
    elif path == "/bad-name":
        await send({**start, "headers": [(b"x bad", b"a")]})
    elif path == "/no-content":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/odd-status":
        await send({"type": "http.response.start", "status": 599, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":  # 8 MiB in 256 KiB messages: more than the socket buffers hold
        piece = bytes(range(256)) * 1024
        await send({**start, "headers": [(b"content-length", str(len(piece) * 32).encode())]})
        for index in range(32):
            await send({"type": "http.response.body", "body": piece, "more_body": index < 31})
    elif path == "/slow":
        await asyncio.sleep(0.5)
        await send({**start, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"slow"})
    else:
        await send({**start, "headers": [(b"content-length", b"5"), (b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(scope="module")
def edges() -> Iterator[dict[str, int]]:
    with serving(edge_app, HttpToolsProtocol) as stock, serving(edge_app, LeanHttpToolsProtocol) as lean:
        yield {"stock": stock.port, "lean": lean.port}


SHAPES = ["/stream", "/pause", "/close", "/raise-before", "/raise-after", "/nothing", "/unfinished", "/too-long"]
SHAPES += ["/too-short", "/bad-header", "/bad-name", "/no-content", "/odd-status", "/hello"]


@pytest.mark.parametrize("path", SHAPES)
def test_asgi_responses_of_every_shape(edges: dict[str, int], path: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="uvicorn.error")
    get = request("GET", path)
    data, closed = same_on_both(edges, [(get, 1), (get, 1)], 2)  # a second request: is the connection still usable?
    assert data or closed  # an answer (a 500, a head), or the connection closed (an invalid header)


def test_request_bodies_reach_the_app_whole(edges: dict[str, int]) -> None:
    big = bytes(range(256)) * 12000  # 3 MB: reading pauses and resumes
    steps: list[Step] = [
        (request("POST", "/echo", body=b"small"), 1),
        (request("POST", "/echo", {"Transfer-Encoding": "chunked"}, chunked(b"a" * 70000, b"b" * 5)), 1),
        (request("POST", "/echo", body=big), 1),
    ]
    data, closed = same_on_both(edges, steps, 3)
    assert f"{len(big)} {hashlib.sha256(big).hexdigest()}".encode() in data
    assert not closed


def test_a_slow_reader_gets_every_byte(edges: dict[str, int]) -> None:
    """The server stops writing when the socket is full (flow control) and finishes when the client reads."""
    results = {}
    for name, port in edges.items():
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(request("GET", "/big") + request("GET", "/hello"))
            time.sleep(0.3)  # the server fills the socket and has to wait
            data = b""
            while complete_responses(data) < 2:
                data += sock.recv(1 << 16)
        results[name] = re.sub(rb"date: [^\r]*\r\n", b"", data)
    assert results["lean"] == results["stock"]
    assert results["lean"].endswith(b"hello") and len(results["lean"]) > 8 * 1024 * 1024


# -- timing: keep-alive timeout, graceful shutdown, access log --------------------


def test_idle_connections_close_after_the_keep_alive_timeout() -> None:
    with (
        serving(edge_app, LeanHttpToolsProtocol, timeout_keep_alive=1) as running,
        socket.create_connection(("127.0.0.1", running.port), timeout=10) as busy,
    ):
        for _ in range(6):  # a request every 0.3 s for 1.8 s: longer than the timeout, never idle that long
            busy.sendall(request("GET", "/hello"))
            assert busy.recv(4096).endswith(b"hello")
            time.sleep(0.3)
        started = time.monotonic()
        assert busy.recv(4096) == b""  # closed once idle for the timeout
        assert 0.4 <= time.monotonic() - started <= 3


def test_graceful_shutdown_finishes_the_answer_under_way() -> None:
    answers = {}
    for name, protocol in PROTOCOLS.items():
        with serving(edge_app, protocol) as running, socket.create_connection(("127.0.0.1", running.port)) as sock:
            sock.settimeout(10)
            sock.sendall(request("GET", "/slow"))
            time.sleep(0.1)
            running.server.should_exit = True
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        answers[name] = re.sub(rb"date: [^\r]*\r\n", b"", data)
    assert answers["lean"] == answers["stock"]
    assert answers["lean"].endswith(b"connection: close\r\n\r\nslow")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(re.sub(r":\d+ - ", ":PORT - ", record.getMessage()))


def test_the_access_log_is_the_same(sandboxes: dict[str, int]) -> None:
    logger = logging.getLogger("uvicorn.access")
    install_access_log()
    logged = {}
    for name, protocol in PROTOCOLS.items():
        records = Records()
        logger.addHandler(records)
        logger.setLevel(logging.INFO)
        try:
            with serving(create_app(), protocol, access_log=True) as running:
                steps: list[Step] = [
                    (request("GET", "/__sandbox/tenants/secret-credential-1234/requests?limit=1"), 1),
                    (request("GET", "/payt/v1/tasks/50%2001?x=%C3%A9", bearer("log")), 1),
                ]
                exchange(running.port, steps, 2)
        finally:
            logger.removeHandler(records)
        logged[name] = records.messages
    assert logged["lean"] == logged["stock"]
    assert '"GET /__sandbox/tenants/****1234/requests?limit=1 HTTP/1.1" 200' in logged["lean"][0]


def test_sandbox_serve_uses_the_lean_protocol() -> None:
    assert http_protocol() is LeanHttpToolsProtocol


class FakeTransport:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


def test_requests_read_in_one_turn_run_after_the_reads_in_the_order_read() -> None:
    """As uvicorn's Tasks would: the order of requests arriving together on different connections is kept."""
    ran: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        ran.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def scenario() -> list[FakeTransport]:
        config = uvicorn.Config(app, http=LeanHttpToolsProtocol, lifespan="off", log_config=None)
        state = uvicorn.server.ServerState()
        connections = []
        for _ in range(3):
            protocol = LeanHttpToolsProtocol(config=config, server_state=state, app_state={})
            transport = FakeTransport()
            protocol.connection_made(transport)  # type: ignore[arg-type]
            connections.append((protocol, transport))
        for index in (2, 0, 1):
            connections[index][0].data_received(request("GET", f"/{index}"))
        assert ran == []  # nothing runs while the turn's reads go on
        await asyncio.sleep(0)
        assert ran == ["/2", "/0", "/1"]
        assert all(transport.data == b"" for _, transport in connections)  # written together, a callback later
        await asyncio.sleep(0)
        for protocol, _ in connections:
            protocol.connection_lost(None)
        return [transport for _, transport in connections]

    transports = asyncio.run(scenario())
    assert all(transport.data.startswith(b"HTTP/1.1 200 OK\r\n") for transport in transports)

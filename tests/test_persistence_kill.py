"""An acknowledged write survives the server being killed (SIGKILL) right after it.

A real `sandbox serve --state PATH` process takes writes from several
connections at once; it is killed mid-load, started again on the same file,
and every write it had answered 201 must be there.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
CREDENTIAL = "kill_key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{CREDENTIAL}:".encode()).decode()}


@contextmanager
def served(state: Path) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    argv = [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--state", str(state)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    process.port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/__sandbox/health")
            if connection.getresponse().status == 200:
                break
        except OSError:
            pass
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the sandbox did not start"
        time.sleep(0.05)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def writer(port: int, name: str, acknowledged: list[dict[str, object]], stop: threading.Event) -> None:
    """Create customers until the server is gone; keep every one it answered 201."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    count = 0
    while not stop.is_set():
        body = json.dumps({"name": f"{name}-{count}"})
        try:
            connection.request("POST", "/invoiced/customers", body, {**AUTH, "Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException):
            return  # killed
        if response.status == 201:
            acknowledged.append(json.loads(answer))
        count += 1


def test_every_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    acknowledged: list[dict[str, object]] = []
    stop = threading.Event()
    with served(state) as process:
        threads = [
            threading.Thread(target=writer, args=(process.port, f"w{index}", acknowledged, stop))  # type: ignore[attr-defined]
            for index in range(6)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)  # mid-load: the writers are still sending
        process.wait()
        stop.set()
        for thread in threads:
            thread.join(10)
    assert len(acknowledged) >= 300

    with served(state) as process:
        connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=10)  # type: ignore[attr-defined]
        found: dict[object, dict[str, object]] = {}
        page = 1
        while True:
            connection.request("GET", f"/invoiced/customers?per_page=100&page={page}", headers=AUTH)
            response = connection.getresponse()
            customers = json.loads(response.read())
            assert response.status == 200
            found.update((customer["id"], customer) for customer in customers)
            if len(customers) < 100:
                break
            page += 1
    missing = [customer for customer in acknowledged if found.get(customer["id"]) != customer]
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged customers lost, e.g. {missing[:3]}"

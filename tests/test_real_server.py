"""A few checks over a real socket: what uvicorn and HTTP clients see."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from tests.servers import free_port


def test_health_and_a_payt_round_trip_over_http(live_url: str) -> None:
    with httpx.Client(base_url=live_url) as http:
        assert http.get("/__sandbox/health").json()["status"] == "ok"
        auth = {"Authorization": "Bearer real-server"}
        done = http.patch(
            "/payt/v1/tasks/5002/mark_completed",
            data={"administration_id": "adm_1001", "comment": "over the wire"},
            headers=auth,
        )
        assert done.status_code == 200
        assert done.json()["completed_at"] is not None
        journal = http.get("/__sandbox/tenants/real-server/requests").json()["requests"]
        assert [(e["method"], e["status"]) for e in journal] == [("PATCH", 200)]
        assert journal[0]["body"] == "administration_id=adm_1001&comment=over+the+wire"


def test_oversized_body_is_refused_by_content_length_without_reading_it(live_url: str) -> None:
    with socket.create_connection(("127.0.0.1", int(live_url.rsplit(":", 1)[1])), timeout=5) as connection:
        connection.sendall(
            b"POST /payt/v1/tasks/5001/comment HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
            b"Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
        )
        reply = ""
        while '"}' not in reply:
            chunk = connection.recv(4096).decode()
            if not chunk:
                break
            reply += chunk
    assert reply.startswith("HTTP/1.1 413")
    assert '"code":"payload_too_large"' in reply


def test_the_sandbox_command_serves_until_stopped() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/__sandbox/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "sandbox serve did not answer in time"
                time.sleep(0.05)
        assert response.status_code == 200
        assert "payt" in response.json()["providers"]
    finally:
        process.terminate()
        process.wait(timeout=10)

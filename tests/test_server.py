"""How `sandbox serve` writes: one write per connection per loop turn, in order, and orjson's bytes."""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path

import httpx
import pytest
import yaml

from sandbox.engine import encode_json
from sandbox.http_protocol import BatchingTransport, turn_of
from sandbox.server import http_protocol
from sandbox.store import freeze
from sandbox.testing import running_server


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 1) if name == "peername" else default


def test_writes_of_one_turn_go_out_as_one_write_in_order() -> None:
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        transport = BatchingTransport(fake, turn_of(asyncio.get_running_loop()))  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"body")
        assert fake.writes == []  # nothing sent until the turn ends
        assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
        await asyncio.sleep(0)
        transport.write(b"next")
        await asyncio.sleep(0)
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else is the real transport's
        return fake

    fake = asyncio.run(scenario())
    assert fake.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next"]


def test_connections_that_write_in_one_turn_are_flushed_together_in_order() -> None:
    async def scenario() -> list[FakeTransport]:
        fakes = [FakeTransport(), FakeTransport()]
        turn = turn_of(asyncio.get_running_loop())
        first, second = (BatchingTransport(fake, turn) for fake in fakes)  # type: ignore[arg-type]
        first.write(b"a1")
        second.write(b"b1")
        first.write(b"a2")
        assert len(turn.writers) == 2  # one entry per connection, one flush callback for the turn
        await asyncio.sleep(0)
        assert turn.writers == []
        return fakes

    assert [fake.writes for fake in asyncio.run(scenario())] == [[b"a1a2"], [b"b1"]]


def test_close_sends_what_is_pending_first() -> None:
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        transport = BatchingTransport(fake, turn_of(asyncio.get_running_loop()))  # type: ignore[arg-type]
        transport.write(b"head")
        transport.close()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        return fake

    fake = asyncio.run(scenario())
    assert fake.writes == [b"head"]
    assert fake.closed


def test_nothing_is_written_to_a_closing_transport() -> None:
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        transport = BatchingTransport(fake, turn_of(asyncio.get_running_loop()))  # type: ignore[arg-type]
        transport.write(b"late")
        fake.closed = True
        await asyncio.sleep(0)
        return fake

    assert asyncio.run(scenario()).writes == []


def test_the_real_server_answers_keep_alive_requests_through_it(app) -> None:
    assert not isinstance(http_protocol(), str)  # httptools is installed with the sandbox
    with running_server(app) as base_url, httpx.Client(base_url=base_url) as client:
        headers = {"Authorization": "Bearer server-test"}
        for _ in range(3):  # one connection, several responses
            reply = client.get("/payt/v1/tasks/5001", params={"administration_id": "adm_1001"}, headers=headers)
            assert reply.status_code == 200
            assert reply.json()["id"] == "5001"
        assert client.get("/__sandbox/health").json()["status"] == "ok"


def test_encode_json_writes_what_the_json_module_writes() -> None:
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    bodies: list[object] = [yaml.safe_load(path.read_text()) for path in sorted(fixtures.glob("*.yaml"))]
    bodies += [{"text": 'é "quoted" \\ \n\t\x00 \u2028 😀', "n": [0, -1, 2**63 - 1, 1.5, 0.1, 1e16, None, True]}]
    bodies += [{1: "int key"}, {"big": 2**70}]  # orjson refuses these: the json module writes them
    bodies += [freeze({"stored": [{"nested": [1, "two"]}], "record": {"id": 7}})]  # read-only records
    for body in bodies:
        assert encode_json(body) == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    with pytest.raises(TypeError):
        encode_json({"when": datetime.datetime(2026, 1, 1)})

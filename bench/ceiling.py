"""The machine's ceiling: a bare asyncio protocol answering fixed bytes.

`python -m bench.ceiling --port N --body FILE --content-type TYPE` serves the
same response to every request, parsed with httptools on uvloop (what uvicorn
uses underneath the sandbox), so the bench can say how much of what the
machine can answer at all the sandbox reaches.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httptools
import uvloop


class FixedAnswer(asyncio.Protocol):
    def __init__(self, response: bytes) -> None:
        self.response = response
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCP transport writes

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_complete(self) -> None:
        if self.transport is not None:
            self.transport.write(self.response)


def fixed_response(body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


async def serve(host: str, port: int, response: bytes) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FixedAnswer(response), host, port)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="file holding the response body")
    parser.add_argument("--content-type", default="application/json")
    options = parser.parse_args(argv)
    response = fixed_response(options.body.read_bytes(), options.content_type)
    uvloop.run(serve(options.host, options.port, response))


if __name__ == "__main__":
    main()

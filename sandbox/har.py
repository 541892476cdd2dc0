"""A tenant's journal as HAR 1.2 (HTTP Archive), which browser tools and API clients import.

Credentials are masked as in the JSON journal (`sandbox.journal.masked_headers`).
The request URL is rebuilt from the `Host` header the client sent; request
bodies are the journal's (the first 64 KiB); responses are rendered again
from the reply the journal kept, by the engine's own renderer (`render`), so
they read byte for byte as sent. An entry older than the server's newest
`--journal-responses` calls kept no reply (sandbox.journal.ResponseBudget):
its response has the status only, and its `comment` fields say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from sandbox.clock import iso8601
from sandbox.journal import NOT_KEPT, masked_headers

HAR_VERSION = "1.2"
CREATOR = {"name": "ar-sandbox", "version": "0.1.0"}
NOT_KEPT_COMMENT = (
    "The response headers and body were not kept: the sandbox keeps those of the newest "
    "--journal-responses calls across all tenants."
)


Render = Callable[[Any], Any]  # a Reply -> what the engine sends (`raw_headers`, `body` bytes)


def har_log(entries: Iterable[dict[str, Any]], render: Render) -> dict[str, Any]:
    """`{"log": {...}}` for journal entries as recorded (`Journal.raw_entries`)."""
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": CREATOR,
            "entries": [har_entry(entry, render) for entry in entries],
        }
    }


def har_entry(entry: dict[str, Any], render: Render) -> dict[str, Any]:
    duration = float(entry["duration_ms"])
    started = entry["time"]
    return {
        "startedDateTime": iso8601(started) if isinstance(started, datetime) else started,
        "time": duration,
        "request": har_request(entry),
        "response": har_response(entry, render),
        "cache": {},
        "timings": {"send": 0, "wait": duration, "receive": 0},
        "comment": comment(entry),
    }


def har_request(entry: dict[str, Any]) -> dict[str, Any]:
    headers = masked_headers(entry["headers"])
    host = headers.get("host", "localhost")
    query = entry["query"]
    url = f"http://{host}{entry['path']}" + (f"?{query}" if query else "")
    request: dict[str, Any] = {
        "method": entry["method"],
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": name_values(headers.items()),
        "queryString": name_values(parse_qsl(query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(entry["body"].encode("utf-8")) if entry["body"] else 0,
    }
    if entry["body"] is not None:
        request["postData"] = {
            "mimeType": headers.get("content-type", "application/octet-stream"),
            "text": entry["body"],
        }
    return request


def har_response(entry: dict[str, Any], render: Render) -> dict[str, Any]:
    status = entry["status"]
    sent = status != 0  # 0: a fault dropped the connection
    if sent and entry["response"] is NOT_KEPT:
        return forgotten_response(status)
    headers: list[tuple[str, str]] = []
    body = b""
    if sent:
        wire = render(entry["response"])
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in wire.raw_headers]
        body = wire.body
    media_type = next((value for name, value in headers if name == "content-type"), "")
    content: dict[str, Any] = {"size": len(body), "mimeType": media_type}
    if body:
        content["text"] = body.decode("utf-8", errors="replace")
    return {
        "status": status,
        "statusText": status_text(status),
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": name_values(headers),
        "content": content,
        "redirectURL": "",
        "headersSize": -1,
        "bodySize": len(body) if sent else -1,
    }


def forgotten_response(status: int) -> dict[str, Any]:
    """A response sent but not kept: its status, and comments saying its headers and body are unknown."""
    return {
        "status": status,
        "statusText": status_text(status),
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": [],
        "content": {"size": 0, "mimeType": "", "comment": NOT_KEPT_COMMENT},
        "redirectURL": "",
        "headersSize": -1,
        "bodySize": -1,
        "comment": NOT_KEPT_COMMENT,
    }


def comment(entry: dict[str, Any]) -> str:
    """The operation the call hit, and why it was refused when it was."""
    operation = entry.get("operation") or "no operation"
    reason = entry.get("reason")
    if reason is None:
        return f"{entry['provider']} {operation}"
    return f"{entry['provider']} {operation}: refused ({reason['stage']}): {reason['message']}"


def status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""  # 0: a fault dropped the connection


def name_values(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]

"""A bounded record of the calls a tenant made, newest last.

Recording runs on every call, reading rarely (the admin API), so an entry is
kept as the call left it and made presentable when read: its time formatted,
its secret headers masked. An entry also holds the reply sent (`response`,
read by the HAR export) and, for a refused call, why (`reason`, see
sandbox.refusals). A tenant's coverage report is counted from its journal.

Replies are what a journal entry costs most, so they are kept within a budget
shared by every tenant of the server (`ResponseBudget`, `--journal-responses`):
the replies of the newest N calls across the server are kept; an older entry
keeps everything else and its `response` becomes None (the HAR export then
says the body was not kept). An entry that leaves its journal (beyond the
journal's limit, or cleared) lets its reply go at once: the budget never
keeps a reply nothing can read.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from sandbox.clock import iso8601

DEFAULT_JOURNAL_LIMIT = 1000
# Replies kept across the server, covering the whole journal of ten tenants at the default limit.
# A reply costs what its body's objects do: ~1.2 KiB when it shows records shared with the store
# (10,000: ~12 MiB), tens of KiB for a page of 100 records presented afresh (Wethod's lists).
DEFAULT_JOURNAL_RESPONSES = 10_000
NOT_KEPT = None  # an entry's `response` once the budget let it go
SECRET_HEADERS = frozenset({"authorization", "xapikey", "x-api-key", "proxy-authorization"})


class ResponseBudget:
    """The replies of the newest `limit` journal entries of the whole server.

    `keep` runs on every call, so it does a constant amount of work: the entry pushed
    out of the budget by the new one loses its reply.
    """

    def __init__(self, limit: int = DEFAULT_JOURNAL_RESPONSES) -> None:
        self.limit = limit
        self._kept: deque[dict[str, Any]] = deque()

    def keep(self, entry: dict[str, Any]) -> None:
        kept = self._kept
        kept.append(entry)
        if len(kept) > self.limit:
            kept.popleft()["response"] = NOT_KEPT


class Journal:
    def __init__(self, limit: int = DEFAULT_JOURNAL_LIMIT, responses: ResponseBudget | None = None) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._sequence = 0
        self._responses = responses  # None: every entry keeps its reply

    def next_id(self) -> int:
        self._sequence += 1
        return self._sequence

    def record(self, entry: dict[str, Any]) -> None:
        """Keep an entry whose `id` came from `next_id`, `time` is a datetime and `headers` are as received.

        Its `response` is the reply as the engine rendered it (status 0: none was sent). The reply,
        not the bytes sent, is kept: records are never changed in place, so rendering it again gives
        the same bytes, and keeping it costs nothing measurable, where keeping the wire bytes and
        headers cost about 1 µs a call (objects the GC walks; orjson's 8 KiB buffer per body).
        With a `ResponseBudget`, the reply is kept only while it is among the server's newest.
        """
        entries = self._entries
        if len(entries) == entries.maxlen:  # the oldest falls out: nothing will read its reply again
            if not entries:  # a journal that keeps nothing
                entry["response"] = NOT_KEPT
                return
            entries[0]["response"] = NOT_KEPT
        entries.append(entry)
        if self._responses is not None:
            self._responses.keep(entry)

    def entries(self) -> list[dict[str, Any]]:
        return [presentable(entry) for entry in self._entries]

    def latest(self) -> dict[str, Any] | None:
        """The newest entry, presentable, or None."""
        return presentable(self._entries[-1]) if self._entries else None

    def __len__(self) -> int:
        return len(self._entries)

    def raw_entries(self) -> list[dict[str, Any]]:
        """The entries as recorded (unmasked, with their `response`): for exports that mask them themselves."""
        return list(self._entries)

    def clear(self) -> None:
        for entry in self._entries:
            entry["response"] = NOT_KEPT  # the budget may still hold the entry: not its reply
        self._entries.clear()

    @property
    def limit(self) -> int:
        return self._entries.maxlen or 0


def presentable(entry: dict[str, Any]) -> dict[str, Any]:
    shown = dict(entry)
    shown.pop("response", None)
    if isinstance(shown["time"], datetime):
        shown["time"] = iso8601(shown["time"])
    shown["headers"] = masked_headers(shown["headers"])
    return shown


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: mask(value) if name in SECRET_HEADERS else value for name, value in headers.items()}


def mask(secret: str) -> str:
    """Keep an auth scheme and, for long secrets, their last four characters."""
    scheme, _, value = secret.partition(" ")
    if not value:
        scheme, value = "", secret
    hidden = "****" + value[-4:] if len(value) >= 16 else "****"
    return f"{scheme} {hidden}" if scheme else hidden

"""A bounded record of the calls a tenant made, newest last."""

from __future__ import annotations

from collections import deque
from typing import Any

DEFAULT_JOURNAL_LIMIT = 1000


class Journal:
    def __init__(self, limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._sequence = 0

    def record(self, entry: dict[str, Any]) -> None:
        self._sequence += 1
        self._entries.append({"id": self._sequence, **entry})

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    @property
    def limit(self) -> int:
        return self._entries.maxlen or 0

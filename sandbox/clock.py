"""The virtual clock each tenant reads time from.

This is the only module that reads the system clock: everything else asks a
`Clock`, so tests can freeze, set and advance time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    """Real time shifted by an offset, or a frozen instant."""

    def __init__(self, system_time: Callable[[], float] = time.time) -> None:
        self._system_time = system_time
        self._offset = 0.0
        self._frozen_at: float | None = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def timestamp(self) -> float:
        if self._frozen_at is not None:
            return self._frozen_at
        return self._system_time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def freeze(self) -> None:
        if self._frozen_at is None:
            self._frozen_at = self.timestamp()

    def unfreeze(self) -> None:
        if self._frozen_at is not None:
            self._offset = self._frozen_at - self._system_time()
            self._frozen_at = None

    def set(self, instant: datetime) -> None:
        target = instant.timestamp()
        if self._frozen_at is not None:
            self._frozen_at = target
        else:
            self._offset = target - self._system_time()

    def advance(self, seconds: float) -> None:
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds

    def to_state(self) -> dict[str, object]:
        """What a snapshot keeps: the offset from real time, or the frozen instant."""
        return {"offset": self._offset, "frozen_at": self._frozen_at}

    def restore(self, state: dict[str, object]) -> None:
        frozen_at = state.get("frozen_at")
        self._offset = float(state.get("offset") or 0.0)  # type: ignore[arg-type]
        self._frozen_at = None if frozen_at is None else float(frozen_at)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {"now": iso8601(self.now()), "frozen": self.frozen}


# The range a clock may be set or advanced to: 1970-01-01 .. 9999-12-31 (UTC).
EARLIEST = 0.0
LATEST = 253402300799.0


def in_range(timestamp: float) -> bool:
    return EARLIEST <= timestamp <= LATEST


def iso8601(instant: datetime) -> str:
    """UTC timestamp with a `Z` suffix and whole seconds, as the providers write them."""
    t = instant if instant.tzinfo is UTC else instant.astimezone(UTC)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def precise(instant: datetime) -> str:
    """A UTC timestamp keeping its microseconds (for due times; served times are whole seconds)."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def seconds_of(text: object) -> float:
    """An ISO 8601 date-time as seconds since the epoch; 0.0 for anything that is not one."""
    if not isinstance(text, str):
        return 0.0
    try:
        return parse_iso8601(text).timestamp()
    except (ValueError, OverflowError):
        return 0.0


def parse_iso8601(text: str) -> datetime:
    """Parse an ISO 8601 date-time; naive values are taken as UTC. Raises ValueError."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed

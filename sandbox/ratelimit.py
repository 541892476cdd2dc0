"""Request rate limits per credential, counted on the tenant's clock.

A provider declares its real limit (`Provider.rate_limit`); `sandbox serve
--rate-limit NAME=COUNT/SECONDS` overrides it. Windows are fixed and start at
a tenant's first call, so advancing the tenant's clock past the window resets
the count, deterministically.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SPEC = re.compile(r"(\d+)/(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window_seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`5000/3600` is 5,000 calls per hour; raises ValueError."""
        found = _SPEC.fullmatch(text.strip())
        if not found or int(found.group(1)) < 1 or float(found.group(2)) <= 0:
            raise ValueError(f"expected COUNT/SECONDS such as 5000/3600, got {text!r}")
        return cls(int(found.group(1)), float(found.group(2)))


@dataclass(frozen=True)
class RateStatus:
    limit: int
    remaining: int
    reset_in: int  # whole seconds until the window resets
    allowed: bool


class Window:
    """One credential's current window: when it started and how many calls it counted."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.count = 0

    def hit(self, rule: RateLimit, now: float) -> RateStatus:
        if now - self.started >= rule.window_seconds or now < self.started:
            self.started = now
            self.count = 0
        reset_in = max(1, math.ceil(self.started + rule.window_seconds - now))
        if self.count >= rule.limit:
            return RateStatus(rule.limit, 0, reset_in, allowed=False)
        self.count += 1
        return RateStatus(rule.limit, rule.limit - self.count, reset_in, allowed=True)

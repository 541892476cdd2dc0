"""Injected faults: make matching calls slow, fail with a status, or drop the connection.

Rules come from `sandbox serve --faults FILE` (for every tenant) or from the
admin API (for one tenant). A rule targets calls to the sandbox (the default)
or, with `target: deliveries`, the webhook deliveries the sandbox posts: its
glob then matches the subscriber URL, and it fails (`status`: the answer the
receiver is taken to give), delays, drops or times out (`timeout`) the attempt.
A rule matches by method and a glob over the full path; it fires for its next
`times` matching calls, or with a `probability` drawn from a generator seeded
with `seed`, so runs repeat. A call that a rule
fails never reaches its handler: it changes no state.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import ErrorKind
from sandbox.spec import ADMIN_SPEC, Spec
from sandbox.validation import compile_schema, to_api_error

FAULT_STATUSES: dict[int, ErrorKind] = {
    429: ErrorKind.RATE_LIMITED,
    500: ErrorKind.INTERNAL,
    503: ErrorKind.UNAVAILABLE,
}


class FaultFileError(Exception):
    """A --faults file that cannot be used."""


def read_fault_rules(path: Path) -> list[dict[str, Any]]:
    """Rules from a YAML file (a list, or a mapping with a `faults` list), checked against the admin spec."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FaultFileError(f"{path}: {exc}") from None
    rules = data.get("faults") if isinstance(data, dict) else data
    if not isinstance(rules, list):
        raise FaultFileError(f"{path}: expected a list of fault rules (or a mapping with a 'faults' list)")
    validator = compile_schema(Spec.load(ADMIN_SPEC).component_schema("FaultRule"))
    for index, rule in enumerate(rules):
        error = next(iter(validator.iter_errors(rule)), None)
        if error is not None:
            raise FaultFileError(f"{path}: faults[{index}]: {to_api_error(error).message}")
    return rules


class DroppedConnection(Exception):
    """The fault closes the connection without an answer."""


@dataclass
class FaultRule:
    id: int
    path: str
    method: str | None = None
    status: int | None = None
    latency_ms: int = 0
    drop: bool = False
    timeout: bool = False
    target: str = "requests"
    times: int | None = None
    probability: float = 1.0
    seed: int | None = None
    fired: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_dict(cls, rule_id: int, data: dict[str, Any]) -> FaultRule:
        method = data.get("method")
        return cls(
            id=rule_id,
            path=data["path"],
            method=method.upper() if method else None,
            status=data.get("status"),
            latency_ms=int(data.get("latency_ms", 0)),
            drop=bool(data.get("drop", False)),
            timeout=bool(data.get("timeout", False)),
            target=data.get("target", "requests"),
            times=data.get("times"),
            probability=float(data.get("probability", 1.0)),
            seed=data.get("seed"),
            _random=random.Random(data.get("seed")),
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def matches(self, method: str, path: str, target: str = "requests") -> bool:
        if self.target != target:
            return False
        return (self.method is None or self.method == method) and fnmatch.fnmatchcase(path, self.path)

    def fires(self) -> bool:
        """Whether this matching call is faulted; counts it when it is."""
        if self.exhausted:
            return False
        if self.probability < 1.0 and self._random.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "drop": self.drop,
            "timeout": self.timeout,
            "target": self.target,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "fired": self.fired,
            "remaining": None if self.times is None else self.times - self.fired,
        }


class FaultSet:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._next_id = 1
        self.version = 0  # changes with every rule added, cleared or fired (a persistent storage saves then)

    def add(self, data: dict[str, Any]) -> FaultRule:
        rule = FaultRule.from_dict(self._next_id, data)
        self._next_id += 1
        self.rules.append(rule)
        self.version += 1
        return rule

    def clear(self) -> None:
        self.rules.clear()
        self.version += 1

    def firing(self, method: str, path: str, target: str = "requests") -> FaultRule | None:
        """The first rule that fires for this call (or delivery), if any. Rules used up are dropped."""
        for rule in self.rules:
            if rule.matches(method, path, target) and rule.fires():
                self.rules = [r for r in self.rules if not r.exhausted]
                self.version += 1
                return rule
        return None

    def to_state(self) -> dict[str, Any]:
        """The rules as a persistent storage keeps them (a `probability` rule draws again from its seed)."""
        return {"next_id": self._next_id, "rules": self.to_list()}

    def restore(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
        self.rules = []
        for data in state["rules"]:
            rule = FaultRule.from_dict(int(data["id"]), data)
            rule.fired = int(data["fired"])
            self.rules.append(rule)

    def to_list(self) -> list[dict[str, Any]]:
        return [rule.to_dict() for rule in self.rules]

"""What a coverage report should count, worked out from the specs rather than read back from the report.

The coverage tests derive their expected totals, percentages and gate thresholds
from here, so a provider's spec growing does not break them.
"""

from __future__ import annotations

from functools import cache

from sandbox.spec import SPECS_DIR, Operation, Spec

PROVIDERS = ("debitura", "invoiced", "payt", "wethod")


@cache
def operations_of(provider: str) -> tuple[Operation, ...]:
    return tuple(Spec.load(SPECS_DIR / f"{provider}.yaml").operations)


def operations_in(*providers: str) -> int:
    """How many operations the providers' specs declare."""
    return sum(len(operations_of(name)) for name in providers)


def statuses_of(provider: str, operation_id: str) -> list[str]:
    """The statuses an operation documents (explicit codes, not `4XX` or `default`), in ascending order."""
    (operation,) = (op for op in operations_of(provider) if op.operation_id == operation_id)
    return sorted(status for status in operation.responses if status.isdigit())


def statuses_in(*providers: str) -> int:
    """How many operation-status pairs the providers' specs document."""
    return sum(len(statuses_of(name, op.operation_id)) for name in providers for op in operations_of(name))


def not_seen(provider: str, operation_id: str, *seen: str) -> str:
    """The text report's list of an operation's documented statuses no call answered."""
    return " ".join(status for status in statuses_of(provider, operation_id) if status not in seen)


def share(part: int, whole: int) -> float:
    """The percentage a report shows: rounded down to one decimal."""
    tenths = part * 1000 // whole
    assert 0 < tenths < 1000, f"{part}/{whole} shows as 0% or 100%: no gate worth testing sits there"
    return tenths / 10


def just_above(part: int, whole: int) -> float:
    """The smallest threshold (one decimal) that the share `part/whole` falls below."""
    return (part * 1000 // whole + 1) / 10

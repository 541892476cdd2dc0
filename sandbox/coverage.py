"""Which spec operations, and which of their documented statuses, calls have exercised.

The whole server's counts run on every call, so they are one dictionary
increment per call (the engine's `hits`); a tenant's are counted from its
journal when asked for (`hits_of_entries`), so they cost the request path
nothing. The report (`coverage_report`) is built from counts and specs only
when asked for. A report is per provider, per operation, per
documented status, with totals and the share of operations and of
operation-status pairs that calls hit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.spec import Operation, Spec

HitKey = tuple[str, str, int]  # provider, operationId, status


class Hits:
    """Counts of calls by provider, operation and status; and of calls that matched no operation.

    The engine increments `counts[(provider, operationId, status)]` itself (a defaultdict: the
    cheapest count Python has, as it runs on every call).
    """

    def __init__(self) -> None:
        self.counts: defaultdict[HitKey, int] = defaultdict(int)
        self.unmatched: dict[str, int] = {}

    def miss(self, provider: str) -> None:
        self.unmatched[provider] = self.unmatched.get(provider, 0) + 1

    def clear(self) -> None:
        self.counts.clear()
        self.unmatched.clear()


def hits_of_entries(entries: Iterable[Mapping[str, Any]]) -> Hits:
    """The counts of journal entries (status 0, a dropped connection, is not an answer: not counted)."""
    hits = Hits()
    for entry in entries:
        if entry["operation"] is None:
            hits.miss(entry["provider"])
        elif entry["status"]:
            hits.counts[(entry["provider"], entry["operation"], entry["status"])] += 1
    return hits


def documented_statuses(operation: Operation) -> list[int]:
    """The explicit statuses an operation documents (ranges such as `4XX` and `default` name none)."""
    return sorted(int(key) for key in operation.responses if key.isdigit())


def coverage_report(specs: Mapping[str, Spec], hits: Hits, mount_of: Mapping[str, str]) -> dict[str, Any]:
    """The coverage document served by the admin API (schema `Coverage` in specs/sandbox.yaml)."""
    by_operation: dict[tuple[str, str], dict[int, int]] = {}
    for (provider, operation_id, status), count in hits.counts.items():
        by_operation.setdefault((provider, operation_id), {})[status] = count
    providers = {
        name: provider_coverage(
            spec.operations, by_operation, name, mount_of.get(name, f"/{name}"), hits.unmatched.get(name, 0)
        )
        for name, spec in sorted(specs.items())
    }
    return {"totals": summary(providers.values()), "providers": providers}


def provider_coverage(
    operations: Iterable[Operation],
    by_operation: Mapping[tuple[str, str], Mapping[int, int]],
    provider: str,
    mount: str,
    unmatched: int,
) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for operation in operations:
        seen = by_operation.get((provider, operation.operation_id), {})
        documented = documented_statuses(operation)
        entries[operation.operation_id] = {
            "method": operation.method,
            "path": mount + operation.path,
            "calls": sum(seen.values()),
            "statuses": {str(status): seen.get(status, 0) for status in documented},
            "undocumented": {str(status): count for status, count in sorted(seen.items()) if status not in documented},
        }
    result = summary_of_operations(entries.values())
    result["unmatched"] = unmatched
    result["operations"] = entries
    return result


def summary_of_operations(operations: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    calls = exercised = total = pairs = pairs_exercised = 0
    for operation in operations:
        total += 1
        calls += operation["calls"]
        exercised += operation["calls"] > 0
        pairs += len(operation["statuses"])
        pairs_exercised += sum(1 for count in operation["statuses"].values() if count)
    return counts_summary(calls, total, exercised, pairs, pairs_exercised)


def summary(providers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    providers = list(providers)
    return counts_summary(
        sum(p["calls"] for p in providers),
        sum(p["operations_total"] for p in providers),
        sum(p["operations_exercised"] for p in providers),
        sum(p["statuses_total"] for p in providers),
        sum(p["statuses_exercised"] for p in providers),
    )


def counts_summary(calls: int, total: int, exercised: int, pairs: int, pairs_exercised: int) -> dict[str, Any]:
    return {
        "calls": calls,
        "operations_total": total,
        "operations_exercised": exercised,
        "operations_percent": percent(exercised, total),
        "statuses_total": pairs,
        "statuses_exercised": pairs_exercised,
        "statuses_percent": percent(pairs_exercised, pairs),
    }


def percent(part: int, whole: int) -> float:
    """A share rounded down to one decimal, so 99.96% never reads as a passing 100.0."""
    if whole == 0:
        return 100.0
    return int(part * 1000 / whole) / 10


def merge_reports(reports: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One report of several (e.g. from pytest-xdist workers, each with its own server): counts added up."""
    providers: dict[str, dict[str, Any]] = {}
    for report in reports:
        for name, provider in report["providers"].items():
            merged = providers.setdefault(name, {"unmatched": 0, "operations": {}})
            merged["unmatched"] += provider["unmatched"]
            for operation_id, operation in provider["operations"].items():
                into = merged["operations"].setdefault(
                    operation_id,
                    {**operation, "calls": 0, "statuses": dict.fromkeys(operation["statuses"], 0), "undocumented": {}},
                )
                into["calls"] += operation["calls"]
                for key in ("statuses", "undocumented"):
                    for status, count in operation[key].items():
                        into[key][status] = into[key].get(status, 0) + count
    result = {}
    for name, merged in sorted(providers.items()):
        result[name] = {**summary_of_operations(merged["operations"].values()), **merged}
    return {"totals": summary(result.values()), "providers": result}


def only_providers(report: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The report restricted to some providers, its totals recomputed."""
    wanted = set(names)
    providers = {name: provider for name, provider in report["providers"].items() if name in wanted}
    return {"totals": summary(providers.values()), "providers": providers}


def called_providers(report: Mapping[str, Any]) -> list[str]:
    """The providers that got at least one call (matching an operation or not)."""
    return [name for name, provider in report["providers"].items() if provider["calls"] or provider["unmatched"]]

"""The operations a call that matched none probably meant, for 404 and 405 messages.

Runs only when routing fails, so it may compare the call with every
operation of the service. A path is compared segment by segment with each
operation's template: an equal segment scores 1, a `{param}` 0.8 (it matches
anything, so it says less), other segments their string similarity; segments
one side lacks score 0. The same method adds a little, so
`GET /v1/task/5001` suggests `GET /v1/tasks/{id}` before `DELETE /v1/tasks/{id}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

from sandbox.spec import Operation

PARAM_SCORE = 0.8
METHOD_BONUS = 0.2
MIN_PATH_SCORE = 0.5  # below this a suggestion is more noise than help
MAX_SUGGESTIONS = 3
CLOSE_TO_BEST = 0.15  # suggest the runners-up only when they are about as close as the best
COMPARED_CHARACTERS = 64  # of each segment: string similarity is quadratic, a path may be very long


def segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def segment_score(sent: str, template: str) -> float:
    if template.startswith("{") and template.endswith("}"):
        return PARAM_SCORE
    if sent == template:
        return 1.0
    return SequenceMatcher(None, sent[:COMPARED_CHARACTERS].lower(), template.lower()).ratio()


def path_score(path: str, template: str) -> float:
    sent, expected = segments(path), segments(template)
    longest = max(len(sent), len(expected))
    if longest == 0:
        return 1.0
    return sum(segment_score(a, b) for a, b in zip(sent, expected, strict=False)) / longest


def closest_operations(method: str, path: str, operations: Iterable[Operation]) -> list[Operation]:
    """The operations most like `method path` (relative to the service's mount), best first."""
    return [operation for _, operation in closest(method, path, [("", operations)])]


def closest(method: str, path: str, mounted: Sequence[tuple[str, Iterable[Operation]]]) -> list[tuple[str, Operation]]:
    """The (mount, operation) pairs most like `method path`, best first; `path` includes the mount.

    Under its own mount a path is compared without it, so the segments that tell operations
    apart weigh as much as they do in the spec.
    """
    scored: list[tuple[float, str, Operation]] = []
    for mount, operations in mounted:
        under = bool(mount) and path.startswith(mount + "/")
        sent = path[len(mount) :] if under else path
        for operation in operations:
            score = path_score(sent, operation.path if under else mount + operation.path)
            if score < MIN_PATH_SCORE:
                continue
            scored.append((score + (METHOD_BONUS if operation.method == method else 0.0), mount, operation))
    if not scored:
        return []
    scored.sort(key=lambda found: (-found[0], found[1] + found[2].path, found[2].method))
    best = scored[0][0]
    return [(mount, op) for score, mount, op in scored[:MAX_SUGGESTIONS] if best - score <= CLOSE_TO_BEST]


def suggestion(method: str, path: str, mounted: Sequence[tuple[str, Iterable[Operation]]]) -> str:
    """`; did you mean GET /m/x/{id}?` (or `` when nothing is close), to end a 404 or 405 message.

    `mounted`: the operations to choose from, each with the mount path it is served under.
    """
    found = closest(method, path, mounted)
    if not found:
        return ""
    names = " or ".join(f"{operation.method} {mount}{operation.path}" for mount, operation in found)
    return f"; did you mean {names}?"

"""The operations a call that matched none probably meant, for 404 and 405 messages.

Runs only when routing fails, so it may compare the call with every
operation of the service. A path is compared segment by segment with each
operation's template: an equal segment scores 1, a `{param}` 0.8 (it matches
anything, so it says less), other segments their string similarity; segments
one side lacks score 0. The same method adds a little, so
`GET /v1/task/5001` suggests `GET /v1/tasks/{id}` before `DELETE /v1/tasks/{id}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

from sandbox.spec import Operation

PARAM_SCORE = 0.8
METHOD_BONUS = 0.2
MIN_PATH_SCORE = 0.5  # below this a suggestion is more noise than help
MAX_SUGGESTIONS = 3
CLOSE_TO_BEST = 0.15  # suggest the runners-up only when they are about as close as the best


def segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def segment_score(sent: str, template: str) -> float:
    if template.startswith("{") and template.endswith("}"):
        return PARAM_SCORE
    if sent == template:
        return 1.0
    return SequenceMatcher(None, sent.lower(), template.lower()).ratio()


def path_score(path: str, template: str) -> float:
    sent, expected = segments(path), segments(template)
    longest = max(len(sent), len(expected))
    if longest == 0:
        return 1.0
    return sum(segment_score(a, b) for a, b in zip(sent, expected, strict=False)) / longest


def closest_operations(method: str, path: str, operations: Iterable[Operation]) -> list[Operation]:
    """The operations most like `method path` (relative to the service's mount), best first."""
    scored: list[tuple[float, Operation]] = []
    for operation in operations:
        score = path_score(path, operation.path)
        if score < MIN_PATH_SCORE:
            continue
        scored.append((score + (METHOD_BONUS if operation.method == method else 0.0), operation))
    if not scored:
        return []
    scored.sort(key=lambda pair: (-pair[0], pair[1].path, pair[1].method))
    best = scored[0][0]
    return [operation for score, operation in scored[:MAX_SUGGESTIONS] if best - score <= CLOSE_TO_BEST]


def suggestion(method: str, path: str, mount: str, operations: Iterable[Operation]) -> str:
    """`; did you mean GET /m/x/{id}?` (or `` when nothing is close), to end a 404 or 405 message."""
    relative = path[len(mount) :] if path.startswith(mount) else path
    closest = closest_operations(method, relative, operations)
    if not closest:
        return ""
    names = " or ".join(f"{operation.method} {mount}{operation.path}" for operation in closest)
    return f"; did you mean {names}?"

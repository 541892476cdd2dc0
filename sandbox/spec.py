"""Loading an OpenAPI 3.1 document into operations the engine can serve.

A `Spec` keeps the file's text (served as is under `/__sandbox/specs/`), a
copy with every local `$ref` inlined (what validators and the router use), and
one `Operation` per path and method.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The specs shipped with the sandbox; `specs/sandbox.yaml` is the admin API's.
SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
ADMIN_SPEC = SPECS_DIR / "sandbox.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class SpecError(Exception):
    """A spec file that cannot be served."""


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header
    required: bool
    schema: dict[str, Any]
    style: str
    explode: bool


@dataclass
class Operation:
    operation_id: str
    method: str  # upper case
    path: str  # template relative to the service mount, e.g. /v1/tasks/{id}
    parameters: list[Parameter]
    body_required: bool
    body_schemas: dict[str, dict[str, Any]]  # media type -> schema
    responses: dict[str, dict[str, Any]]  # status or "default" -> response object
    scopes: tuple[str, ...] = ()  # what the operation's security requirement demands
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def response_schema(self, status: int) -> tuple[bool, dict[str, Any] | None]:
        """(documented, JSON schema or None) for a status, with 4XX / default fallbacks."""
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in self.responses:
                content = self.responses[key].get("content") or {}
                media = content.get("application/json") or next(iter(content.values()), None)
                return True, (media or {}).get("schema")
        return False, None


class Spec:
    """One OpenAPI document: its text, its inlined form and its operations."""

    def __init__(self, name: str, text: str, source: str) -> None:
        self.name = name
        self.source = source
        self.text = text
        try:
            self.raw: dict[str, Any] = load_yaml(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(self.raw, dict) or not str(self.raw.get("openapi", "")).startswith("3."):
            raise SpecError(f"{source}: not an OpenAPI 3.x document")
        self.resolved: dict[str, Any] = inline_refs(self.raw, self.raw, source)
        self.operations = list(self._operations())

    @classmethod
    def load(cls, path: Path) -> Spec:
        return cls(path.stem, path.read_text(encoding="utf-8"), str(path))

    def component_schema(self, name: str) -> dict[str, Any]:
        try:
            return self.resolved["components"]["schemas"][name]
        except KeyError:
            raise SpecError(f"{self.source}: no schema components/schemas/{name}") from None

    def _operations(self):
        for path, item in (self.resolved.get("paths") or {}).items():
            shared = item.get("parameters", [])
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                raw = item[method]
                if "operationId" not in raw:
                    raise SpecError(f"{self.source}: {method.upper()} {path} has no operationId")
                params = merge_parameters(shared, raw.get("parameters", []))
                body = raw.get("requestBody") or {}
                yield Operation(
                    operation_id=raw["operationId"],
                    method=method.upper(),
                    path=path,
                    parameters=[to_parameter(p) for p in params],
                    body_required=bool(body.get("required", False)),
                    body_schemas={
                        media: (content.get("schema") or {}) for media, content in (body.get("content") or {}).items()
                    },
                    responses={str(k): v for k, v in (raw.get("responses") or {}).items()},
                    scopes=required_scopes(raw.get("security", self.resolved.get("security", []))),
                    raw=raw,
                )


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, with libyaml's C parser when PyYAML has it (about ten times faster).

    On an error the text is parsed again by the pure-Python loader, so the
    message is the one `yaml.safe_load` gives.
    """
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


def required_scopes(security: list[dict[str, list[str]]]) -> tuple[str, ...]:
    """Scopes (or role names, OpenAPI 3.1) listed by the first security requirement."""
    if not security:
        return ()
    return tuple(scope for scopes in security[0].values() for scope in scopes)


def merge_parameters(shared: list[dict], own: list[dict]) -> list[dict]:
    merged = {(p["name"], p["in"]): p for p in shared}
    merged.update({(p["name"], p["in"]): p for p in own})
    return list(merged.values())


def to_parameter(raw: dict[str, Any]) -> Parameter:
    location = raw["in"]
    default_style = {"query": "form", "cookie": "form"}.get(location, "simple")
    style = raw.get("style", default_style)
    return Parameter(
        name=raw["name"],
        location=location,
        required=bool(raw.get("required", location == "path")),
        schema=raw.get("schema") or {},
        style=style,
        explode=bool(raw.get("explode", style == "form")),
    )


_IMMUTABLE = (str, int, float, bool, type(None))


def inline_refs(
    node: Any, root: dict[str, Any], source: str, stack: tuple[str, ...] = (), targets: dict[str, Any] | None = None
) -> Any:
    """A deep copy of `node` with every local `$ref` replaced by its target.

    Each target is inlined once per call and shared by every `$ref` to it
    (the result is read, never changed), which keeps loading the larger specs fast.
    """
    if targets is None:
        targets = {}
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in stack:
                raise SpecError(f"{source}: recursive $ref {ref} is not supported")
            target = targets.get(ref)
            if target is None:
                target = inline_refs(resolve_pointer(root, ref, source), root, source, (*stack, ref), targets)
                targets[ref] = target
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if siblings and isinstance(target, dict):
                return {**target, **inline_refs(siblings, root, source, stack, targets)}
            return target
        return {key: inline_refs(value, root, source, stack, targets) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(item, root, source, stack, targets) for item in node]
    if isinstance(node, _IMMUTABLE):
        return node
    return copy.copy(node)


def resolve_pointer(root: dict[str, Any], ref: str, source: str) -> Any:
    if not ref.startswith("#/"):
        raise SpecError(f"{source}: only local $refs are supported, not {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[part]
        except (KeyError, TypeError):
            raise SpecError(f"{source}: $ref {ref} points nowhere") from None
    return node


_PARAM = re.compile(r"\{([^}/]+)\}")


@dataclass
class Route:
    template: str
    pattern: re.Pattern[str]
    param_names: list[str]
    operations: dict[str, Operation]  # method -> operation

    @property
    def specificity(self) -> tuple[int, int]:
        literal = _PARAM.sub("", self.template)
        return (len(literal), -len(self.param_names))


_UNSEEN = object()
MATCHES_REMEMBERED = 4096  # paths per router; the memory is dropped whole when full
REMEMBERED_PATH_LENGTH = 256  # longer paths are matched every time (they would make the memory large)


class Router:
    """Matches a request path to the operations declared for it.

    Templates with more literal text win, so `/api/invoices/{id}:send` is tried
    before `/api/invoices/{id}`.
    """

    def __init__(self, operations: list[Operation]) -> None:
        routes: dict[str, Route] = {}
        for operation in operations:
            route = routes.get(operation.path)
            if route is None:
                pattern, names = compile_template(operation.path)
                route = routes[operation.path] = Route(operation.path, pattern, names, {})
            route.operations[operation.method] = operation
        self.routes = sorted(routes.values(), key=lambda r: r.specificity, reverse=True)
        self._static = {r.template: r for r in self.routes if not r.param_names}
        # Templated routes in regex alternations, tried in specificity order by the regex engine itself: a spec
        # with many resources does not make every request scan its templates one by one in Python. A parameter
        # never holds a `/`, so a template matches only paths with as many `/` as it has, and one whose last
        # segment is literal (`/cases/{id}/tasks`) only paths ending in that segment: a request tries only the
        # templates of its depth whose last segment is its own or holds a parameter.
        by_ending: dict[int, dict[str | None, list[Route]]] = {}
        for route in self.routes:
            if route.param_names:
                depth, last = route_ending(route.template)
                by_ending.setdefault(depth, {}).setdefault(last, []).append(route)
        # Per depth: the alternation for each literal last segment (with the depth's templated endings, in
        # specificity order), and the one for any other last segment (None when there is no such template).
        self._templated: dict[int, tuple[dict[str, Alternation], Alternation | None]] = {}
        for depth, endings in by_ending.items():
            anywhere = endings.pop(None, [])
            literal = {
                last: alternation(sorted(routes + anywhere, key=self.routes.index)) for last, routes in endings.items()
            }
            self._templated[depth] = (literal, alternation(anywhere) if anywhere else None)
        self._matched: dict[str, tuple[Route, dict[str, str]] | None] = {}

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and its parameters (a dict the caller must not change: it is remembered), or None."""
        found = self._matched.get(path, _UNSEEN)
        if found is _UNSEEN:  # clients repeat paths: the alternation of every template is run once per path
            if len(path) > REMEMBERED_PATH_LENGTH:
                return self._match(path)
            if len(self._matched) >= MATCHES_REMEMBERED:
                self._matched.clear()
            found = self._matched[path] = self._match(path)
        return found  # type: ignore[return-value]

    def _match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        static = self._static.get(path)
        if static is not None:
            return static, {}
        at_depth = self._templated.get(path.count("/"))
        if at_depth is None:
            return None
        literal, templated = at_depth
        if literal:
            templated = literal.get(path[path.rfind("/") + 1 :], templated)
        if templated is None:
            return None
        pattern, alternatives = templated
        found = pattern.fullmatch(path)
        if found is None:
            return None
        # The route's own group closes after its parameters', so it is the last group matched.
        route, first, count = alternatives[int(found.lastgroup[1:])]  # type: ignore[index]
        values = found.group(*range(first, first + count)) if count > 1 else (found.group(first),)
        return route, dict(zip(route.param_names, values, strict=True))


def route_ending(template: str) -> tuple[int, str | None]:
    """A template's depth (its `/` count) and its last segment when that is literal (None: it holds a parameter)."""
    last = template[template.rfind("/") + 1 :]
    return template.count("/"), None if "{" in last else last


Alternation = tuple[re.Pattern[str], list[tuple[Route, int, int]]]  # the regex; per alternative: route, group, count


def alternation(routes: list[Route]) -> Alternation:
    """One regex matching any of the routes, tried in their order, and per alternative: its route, the
    group of its first parameter, its parameter count."""
    parts, alternatives, group = [], [], 1
    for index, route in enumerate(routes):
        parts.append(f"(?P<r{index}>{route.pattern.pattern})")
        alternatives.append((route, group + 1, len(route.param_names)))
        group += 1 + len(route.param_names)
    return re.compile("|".join(parts)), alternatives


def compile_template(template: str) -> tuple[re.Pattern[str], list[str]]:
    names: list[str] = []
    parts: list[str] = []
    position = 0
    for found in _PARAM.finditer(template):
        parts.append(re.escape(template[position : found.start()]))
        parts.append("([^/]+)")
        names.append(found.group(1))
        position = found.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts)), names

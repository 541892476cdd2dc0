"""Drift: does a live API still answer the way the sandbox's spec of its provider says?

For each operation of the spec (reading ones only, unless writes are allowed)
a request is built from the spec's documented examples: each required
parameter from its or its schema's `example`/`examples`, else its `default`
or first `enum` value, else a value of its type; a body from the media
type's or the schema's example, else from the schema's required fields.
Optional parameters are left out, so the answer is the operation's plain
one (an example such as a sparse-field selection would narrow what is
checked, or be refused by an API that changed). Reads go first and deletes last, so
a write does not take away what a read looks for. Each answer is checked
against the operation's responses: a documented status, the documented
required headers and their schemas, the documented media type, and the body
against its schema. Every break is a finding naming the operation and the
rule (`status`, `header`, `content-type`, `json`, or the JSON Schema keyword
that failed, such as `required` or `additionalProperties`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

from sandbox.credentials import scheme_of
from sandbox.spec import Operation, Spec
from sandbox.validation import compile_schema

READ_METHODS = ("GET", "HEAD", "OPTIONS")
WRITE_ORDER = {"GET": 0, "HEAD": 0, "OPTIONS": 0, "POST": 1, "PUT": 2, "PATCH": 2, "DELETE": 3}
MAX_FINDINGS_PER_ANSWER = 10
TYPE_SAMPLES: dict[str, Any] = {"string": "1", "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}


@dataclass
class DriftOptions:
    base_url: str
    credential: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    allow_writes: bool = False
    timeout: float = 30.0


@dataclass
class Sent:
    """One request drift sent, and what came back."""

    operation: str
    method: str
    url: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Finding:
    operation: str
    method: str
    url: str
    status: int
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_drift(spec_path: Path, options: DriftOptions) -> tuple[list[Finding], list[Sent]]:
    """Send the spec's examples to `options.base_url`; the findings, and every request sent."""
    spec = Spec.load(spec_path)
    auth = credential_headers(spec, options.credential)
    findings: list[Finding] = []
    sent: list[Sent] = []
    for operation in sorted(spec.operations, key=lambda op: WRITE_ORDER.get(op.method, 1)):
        if operation.method not in READ_METHODS and not options.allow_writes:
            continue
        exchange = send(spec, operation, options, auth)
        sent.append(exchange)
        findings.extend(answer_problems(operation, exchange))
    return findings, sent


def credential_headers(spec: Spec, credential: str | None) -> dict[str, str]:
    """The headers that carry `credential` as the spec's first security requirement says."""
    if credential is None:
        return {}
    declared = (spec.resolved.get("components") or {}).get("securitySchemes") or {}
    for requirement in spec.resolved.get("security") or []:
        for name in requirement:
            scheme = scheme_of(declared.get(name))
            if scheme is None:
                continue
            if scheme.kind == "bearer":
                return {"Authorization": f"Bearer {credential}"}
            if scheme.kind == "basic":
                user_password = credential if ":" in credential else f"{credential}:"
                return {"Authorization": "Basic " + base64.b64encode(user_password.encode()).decode()}
            return {scheme.header: credential}
    raise ValueError(f"{spec.source}: its security schemes say no way to send a credential; use --header instead")


def send(spec: Spec, operation: Operation, options: DriftOptions, auth: dict[str, str]) -> Sent:
    path, query, headers = operation.path, [], {}
    for parameter in parameters_of(spec, operation):
        if not parameter.get("required"):
            continue
        value = example_of(parameter)
        location, name = parameter.get("in"), parameter["name"]
        if location == "path":
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        elif location == "query":
            query.append((name, wire_text(value)))
        elif location == "header" and name.lower() != "authorization":
            headers[name] = wire_text(value)
    url = options.base_url + path + (f"?{urlencode(query)}" if query else "")
    data, media_type = request_body(operation)
    if media_type is not None:
        headers["Content-Type"] = media_type
    request = Request(url, data=data, method=operation.method, headers={**headers, **auth, **options.headers})
    exchange = Sent(operation.operation_id, operation.method, url)
    try:
        with urlopen(request, timeout=options.timeout) as response:
            exchange.status, exchange.body = response.status, response.read()
            exchange.headers = {name.lower(): value for name, value in response.headers.items()}
    except HTTPError as error:
        with error:  # an error answer is still an answer; closing it closes its connection
            exchange.status, exchange.body = error.code, error.read()
            exchange.headers = {name.lower(): value for name, value in error.headers.items()}
    except (URLError, OSError) as error:
        raise ValueError(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None
    return exchange


def parameters_of(spec: Spec, operation: Operation) -> list[dict[str, Any]]:
    """The operation's parameter objects as written (with their examples), path-level ones included."""
    item = (spec.resolved.get("paths") or {}).get(operation.path) or {}
    merged = {(p["name"], p.get("in")): p for p in item.get("parameters", [])}
    merged.update({(p["name"], p.get("in")): p for p in operation.raw.get("parameters", [])})
    return list(merged.values())


def example_of(described: dict[str, Any]) -> Any:
    """A documented example of a parameter, media type or schema, else a value its schema allows."""
    if "example" in described:
        return described["example"]
    examples = described.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(examples, dict) and examples:
        first = next(iter(examples.values()))
        if isinstance(first, dict) and "value" in first:
            return first["value"]
    schema = described.get("schema", described)
    if schema is not described:
        return example_of(schema)
    return sample_of(schema)


def sample_of(schema: dict[str, Any]) -> Any:
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("oneOf", "anyOf", "allOf"):
        if schema.get(combinator):
            return example_of(schema[combinator][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_of(properties.get(name, {})) for name in schema.get("required", [])}
    if kind == "string" and schema.get("format") == "date":
        return "2026-01-01"
    if kind == "string" and schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    return TYPE_SAMPLES.get(kind)


def wire_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def request_body(operation: Operation) -> tuple[bytes | None, str | None]:
    body = operation.raw.get("requestBody") or {}
    content = body.get("content") or {}
    if not content:
        return None, None
    media_type = "application/json" if "application/json" in content else next(iter(content))
    value = example_of(content[media_type])
    if media_type == "application/x-www-form-urlencoded" and isinstance(value, dict):
        return urlencode({key: wire_text(item) for key, item in value.items()}).encode(), media_type
    return json.dumps(value).encode(), media_type


def answer_problems(operation: Operation, sent: Sent) -> list[Finding]:
    """How an answer breaks the operation's documented responses."""

    def finding(rule: str, message: str) -> Finding:
        return Finding(operation.operation_id, sent.method, sent.url, sent.status, rule, message)

    response = response_object(operation, sent.status)
    if response is None:
        documented = ", ".join(sorted(operation.responses))
        return [finding("status", f"status {sent.status} is not documented (documented: {documented})")]
    findings = [finding("header", problem) for problem in header_problems(response, sent.headers)]
    content = response.get("content") or {}
    if not content or not sent.body:
        return findings
    media_type = sent.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in content:
        findings.append(finding("content-type", f"content type {media_type!r} is not one of {sorted(content)}"))
        return findings
    schema = content[media_type].get("schema")
    if schema is None or not (media_type == "application/json" or media_type.endswith("+json")):
        return findings
    try:
        body = json.loads(sent.body)
    except ValueError as exc:
        return [*findings, finding("json", f"the body is not JSON: {exc}")]
    errors = sorted(compile_schema(schema).iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors[:MAX_FINDINGS_PER_ANSWER]:
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        findings.append(finding(str(error.validator), f"body at {where}: {error.message}"))
    return findings


def response_object(operation: Operation, status: int) -> dict[str, Any] | None:
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in operation.responses:
            return operation.responses[key]
    return None


def header_problems(response: dict[str, Any], headers: dict[str, str]) -> list[str]:
    problems = []
    for name, header in (response.get("headers") or {}).items():
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                problems.append(f"required header {name} is missing")
            continue
        schema = header.get("schema")
        if schema and not compile_schema(schema).is_valid(header_value(value, schema)):
            problems.append(f"header {name}: {value!r} does not match its schema {json.dumps(schema)}")
    return problems


def header_value(value: str, schema: dict[str, Any]) -> Any:
    """A header's text as its schema's type (headers are text on the wire)."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    for kind, convert in (("integer", int), ("number", float)):
        if kind in kinds:
            try:
                return convert(value)
            except ValueError:
                return value
    return value


def render_drift(findings: list[Finding], sent: list[Sent], form: str) -> str:
    if form == "json":
        requests = [{"operation": s.operation, "method": s.method, "url": s.url, "status": s.status} for s in sent]
        return json.dumps({"findings": [f.to_dict() for f in findings], "requests": requests}, indent=2)
    lines = [f"{s.method} {s.url} ({s.operation}) -> {s.status}" for s in sent]
    if not findings:
        lines.append(f"no drift: {len(sent)} answers match the spec")
        return "\n".join(lines)
    lines.append(f"drift: {len(findings)} finding(s) in {len(sent)} answers")
    lines.extend(f"  {f.operation} {f.method} {f.url} -> {f.status}: [{f.rule}] {f.message}" for f in findings)
    return "\n".join(lines)

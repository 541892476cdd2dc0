"""Turning a raw HTTP request into validated, typed values for one operation.

Query, path and header values arrive as strings; they are coerced to the types
their schemas declare (integers, numbers, booleans, arrays, deepObject maps)
and then validated with JSON Schema. Bodies are JSON or form-urlencoded (with
`a[b]=c` / `a[]=x` / `a[0][b]=c` nesting). Any failure is an `ApiError` of
kind INVALID naming the field; the operation's handler never runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from sandbox.clock import parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.spec import Operation, Parameter

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

format_checker = FormatChecker(formats=())


@format_checker.checks("date-time", raises=ValueError)
def is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    parse_iso8601(value.upper())
    return True


@format_checker.checks("date", raises=ValueError)
def is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.fullmatch(value):
        return False
    from datetime import date

    date.fromisoformat(value)
    return True


def compile_schema(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=format_checker)


@dataclass
class ParsedRequest:
    path: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, Any]
    body: Any
    media_type: str | None


class RequestValidator:
    """Validates requests for one operation; built once, used for every call."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.by_location: dict[str, list[Parameter]] = {"path": [], "query": [], "header": []}
        for parameter in operation.parameters:
            self.by_location.setdefault(parameter.location, []).append(parameter)
        self.param_validators = {
            location: compile_schema(params_schema(params)) for location, params in self.by_location.items() if params
        }
        self.body_validators = {media: compile_schema(schema) for media, schema in operation.body_schemas.items()}

    def parse(
        self,
        path_params: dict[str, str],
        query_items: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        content_type: str | None,
    ) -> ParsedRequest:
        path = self._coerce_path(path_params)
        query = self._coerce_query(query_items)
        header_values = self._coerce_headers(headers)
        for location, values in (("path", path), ("query", query), ("header", header_values)):
            validator = self.param_validators.get(location)
            if validator is not None:
                raise_first_error(validator, values, prefix="")
        parsed_body, media_type = self._parse_body(body, content_type)
        return ParsedRequest(path, query, header_values, parsed_body, media_type)

    def _coerce_path(self, raw: dict[str, str]) -> dict[str, Any]:
        return {p.name: coerce_scalar(raw[p.name], p.schema) for p in self.by_location["path"] if p.name in raw}

    def _coerce_query(self, items: list[tuple[str, str]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for parameter in self.by_location["query"]:
            if parameter.style == "deepObject":
                found = deep_object(parameter.name, items)
                if found is not None:
                    values[parameter.name] = coerce_tree(found, parameter.schema)
                continue
            raw = [value for key, value in items if key == parameter.name]
            if not raw:
                continue
            if "array" in schema_types(parameter.schema):
                if not parameter.explode:
                    raw = [part for value in raw for part in value.split(",")]
                values[parameter.name] = [coerce_scalar(v, parameter.schema.get("items", {})) for v in raw]
            else:
                values[parameter.name] = coerce_scalar(raw[-1], parameter.schema)
        return values

    def _coerce_headers(self, headers: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for parameter in self.by_location["header"]:
            raw = headers.get(parameter.name.lower())
            if raw is not None:
                values[parameter.name] = coerce_scalar(raw, parameter.schema)
        return values

    def _parse_body(self, body: bytes, content_type: str | None) -> tuple[Any, str | None]:
        if not self.body_validators:
            return None, None
        media_type = (content_type or "").split(";")[0].strip().lower() or None
        if not body.strip():
            if self.operation.body_required and not self._accepts_empty_object():
                raise ApiError(ErrorKind.INVALID, "A request body is required.")
            media_type = media_type if media_type in self.body_validators else next(iter(self.body_validators))
            data: Any = {}
        else:
            if media_type is None:
                media_type = JSON if JSON in self.body_validators else next(iter(self.body_validators))
            if media_type not in self.body_validators:
                accepted = " or ".join(self.body_validators)
                raise ApiError(ErrorKind.INVALID, f"Unsupported Content-Type '{media_type}': send {accepted}.")
            data = decode_body(body, media_type, self.operation.body_schemas[media_type])
        raise_first_error(self.body_validators[media_type], data, prefix="")
        return data, media_type

    def _accepts_empty_object(self) -> bool:
        return all(schema_types(s) <= {"object"} for s in self.operation.body_schemas.values())


def decode_body(body: bytes, media_type: str, schema: dict[str, Any]) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(ErrorKind.INVALID, "The request body is not valid UTF-8.") from None
    if media_type == FORM:
        return coerce_tree(parse_form(text), schema)
    if "yaml" in media_type:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ApiError(ErrorKind.INVALID, f"The request body is not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(ErrorKind.INVALID, f"The request body is not valid JSON: {exc}.") from None


def params_schema(params: list[Parameter]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {p.name: p.schema for p in params},
        "required": [p.name for p in params if p.required],
    }


def raise_first_error(validator: Draft202012Validator, instance: Any, prefix: str) -> None:
    if validator.is_valid(instance):
        return
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), str(e.message)))
    raise to_api_error(errors[0], prefix)


def to_api_error(error: ValidationError, prefix: str = "") -> ApiError:
    field = field_name(error, prefix)
    if error.validator == "required":
        missing = re.match(r"'(.+?)' is a required property", error.message)
        name = missing.group(1) if missing else "a field"
        field = f"{field}.{name}" if field else name
        return ApiError(ErrorKind.INVALID, f"{field} is missing", field=field)
    if error.validator == "additionalProperties":
        return ApiError(ErrorKind.INVALID, f"{field or 'body'}: {error.message}", field=field or None)
    subject = field or "body"
    return ApiError(ErrorKind.INVALID, f"{subject} is invalid: {describe(error)}", field=field or None)


def describe(error: ValidationError) -> str:
    """A validation message short enough to read (no dumps of long patterns or enums)."""
    if error.validator == "pattern":
        return f"{error.instance!r} does not have the expected format"
    if error.validator == "enum" and len(str(error.validator_value)) > 200:
        return f"{error.instance!r} is not one of the allowed values"
    if error.validator in ("oneOf", "anyOf"):
        return f"{error.instance!r} is not valid under any of the allowed schemas"
    return error.message


def field_name(error: ValidationError, prefix: str = "") -> str:
    name = prefix
    for part in error.absolute_path:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name = f"{name}.{part}" if name else str(part)
    return name


def schema_types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= schema_types(sub)
    return found


def coerce_scalar(value: str, schema: dict[str, Any]) -> Any:
    """A query/path/header/form string as the type its schema wants, when it reads as one."""
    types = schema_types(schema)
    if "integer" in types and _INTEGER.fullmatch(value):
        return int(value)
    if "number" in types and _NUMBER.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    if "null" in types and value == "" and "string" not in types:
        return None
    return value


def coerce_tree(value: Any, schema: dict[str, Any]) -> Any:
    """Coerce the strings of a parsed form (nested dicts and lists) by walking its schema."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        extra_schema = extra if isinstance(extra, dict) else {}
        return {key: coerce_tree(item, properties.get(key, extra_schema)) for key, item in value.items()}
    if isinstance(value, list):
        return [coerce_tree(item, schema.get("items", {})) for item in value]
    if isinstance(value, str):
        types = schema_types(schema)
        if "array" in types and "string" not in types:
            return [coerce_scalar(value, schema.get("items", {}))]
        return coerce_scalar(value, schema)
    return value


_KEY_PART = re.compile(r"\[([^\]]*)\]")


def parse_form(text: str) -> dict[str, Any]:
    """Parse form fields, nesting `a[b]=1`, `a[]=1` and `a[0][b]=1` the way Rack does."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        try:
            assign(result, parts, value)
        except (TypeError, ValueError, IndexError):
            raise ApiError(ErrorKind.INVALID, f"Form field '{key}' conflicts with another field.", field=head) from None
    return {key: lists_from_indexes(value) for key, value in result.items()}


def assign(container: dict[str, Any], parts: list[str], value: str) -> None:
    node: Any = container
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":
            if not isinstance(node, list):
                raise TypeError("mixed list and map")
            if last:
                node.append(value)
                return
            node.append({})
            node = node[-1]
            continue
        if not isinstance(node, dict):
            raise TypeError("mixed list and map")
        if last:
            node[part] = value
            return
        following = parts[index + 1]
        node = node.setdefault(part, [] if following == "" else {})


def lists_from_indexes(value: Any) -> Any:
    """`{"0": .., "1": ..}` maps built from `a[0][b]` keys become lists."""
    if isinstance(value, dict):
        converted = {k: lists_from_indexes(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    if isinstance(value, list):
        return [lists_from_indexes(v) for v in value]
    return value


def deep_object(name: str, items: list[tuple[str, str]]) -> dict[str, Any] | None:
    prefix = name + "["
    found = {key[len(prefix) : -1]: value for key, value in items if key.startswith(prefix) and key.endswith("]")}
    return found or None

"""Turning a raw HTTP request into validated, typed values for one operation.

Query, path and header values arrive as strings; they are coerced to the types
their schemas declare (integers, numbers, booleans, arrays, deepObject maps)
and then validated with JSON Schema. Bodies are JSON or form-urlencoded (with
`a[b]=c` / `a[]=x` / `a[0][b]=c` nesting), YAML, or multipart/form-data (see
`sandbox.multipart`). Any failure is an `ApiError` of
kind INVALID naming the field; the operation's handler never runs.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema._utils import equal
from jsonschema.exceptions import ValidationError

from sandbox.clock import parse_iso8601
from sandbox.errors import ApiError, ErrorKind
from sandbox.messages import describe, missing
from sandbox.multipart import MULTIPART, parse_multipart
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


_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@{_EMAIL_LABEL}(?:\.{_EMAIL_LABEL})*")


@format_checker.checks("email")
def is_email(value: object) -> bool:
    """An address `local@domain` as RFC 5321 writes most of them (dot-atoms, hostname labels, its lengths)."""
    if not isinstance(value, str):
        return True
    local, _, domain = value.rpartition("@")
    return len(value) <= 254 and len(local) <= 64 and _EMAIL.fullmatch(value) is not None and len(domain) <= 253


def compile_schema(schema: dict[str, Any]) -> SchemaValidator:
    return SchemaValidator(schema)


class SchemaValidator:
    """A Draft 2020-12 validator that answers valid instances without running jsonschema.

    `compile_check` turns the schema, when it only uses the keywords most specs
    use, into a plain Python predicate that accepts exactly what jsonschema
    accepts. A valid instance is answered by the predicate (about 20 times
    faster); an invalid one, or any instance of a schema outside that subset,
    goes to jsonschema, so every error message stays jsonschema's.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.jsonschema = Draft202012Validator(schema, format_checker=format_checker)
        self.check = compile_check(schema)

    def is_valid(self, instance: Any) -> bool:
        if self.check is not None:
            return self.check(instance)
        return self.jsonschema.is_valid(instance)

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self.check is not None and self.check(instance):
            return iter(())
        return self.jsonschema.iter_errors(instance)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jsonschema, name)


Check = Callable[[Any], bool]
# Keywords that never make an instance invalid.
ANNOTATIONS = frozenset(
    {"description", "title", "default", "examples", "example", "deprecated", "readOnly", "writeOnly", "$comment"}
)


def compile_check(schema: Any) -> Check | None:
    """An exact predicate for `schema` (same answers as jsonschema), or None outside the supported subset.

    Supported: boolean schemas, `type`, `enum`, `const`, `minLength`,
    `maxLength`, `pattern`, `format`, `minimum`, `maximum`, `exclusiveMinimum`,
    `exclusiveMaximum`, `properties`, `required`, `additionalProperties`,
    `items` (without `prefixItems`), `minItems`, `maxItems`, `allOf`, `anyOf`,
    `oneOf`, `not`, `if`/`then`/`else`, `minProperties`, `maxProperties`, `propertyNames`, and
    annotations (including `x-` extensions). `$ref`s are already inlined by the spec loader.
    """
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        return None
    fused = _fused_check(schema)
    if fused is not None:
        return fused
    checks: list[Check] = []
    properties: dict[str, Check] = {}
    extra: Check | None = None
    object_keywords = False
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS or keyword.startswith("x-"):
            continue
        if keyword == "type":
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not all(name in TYPE_CHECKS for name in names):
                return None
            checks.append(_any_type([TYPE_CHECKS[name] for name in names]))
        elif keyword == "enum":
            if not isinstance(value, list):
                return None
            if all(item is None or isinstance(item, str) for item in value):
                checks.append(_enum(frozenset(item for item in value if item is not None), None in value))
            else:
                checks.append(_equals_one_of(value))
        elif keyword == "const":
            checks.append(_equals_one_of([value]))
        elif keyword in ("minProperties", "maxProperties"):
            if type(value) is not int:
                return None
            checks.append(_min_properties(value) if keyword == "minProperties" else _max_properties(value))
        elif keyword == "propertyNames":
            name_check = compile_check(value)
            if name_check is None:
                return None
            checks.append(_property_names(name_check))
        elif keyword in ("minLength", "maxLength"):
            if type(value) is not int:
                return None
            checks.append(_min_length(value) if keyword == "minLength" else _max_length(value))
        elif keyword == "pattern":
            if not isinstance(value, str):
                return None
            checks.append(_pattern(re.compile(value)))
        elif keyword == "format":
            checks.append(_format(value))
        elif keyword in BOUNDS:
            if type(value) not in (int, float):
                return None
            checks.append(_bound(BOUNDS[keyword], value))
        elif keyword == "properties":
            if not isinstance(value, dict):
                return None
            for name, subschema in value.items():
                compiled = compile_check(subschema)
                if compiled is None:
                    return None
                properties[name] = compiled
            object_keywords = True
        elif keyword == "required":
            if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
                return None
            checks.append(_required(tuple(value)))
        elif keyword == "additionalProperties":
            extra = compile_check(value)
            if extra is None:
                return None
            object_keywords = True
        elif keyword == "items":
            if "prefixItems" in schema:
                return None
            item_check = compile_check(value)
            if item_check is None:
                return None
            checks.append(_items(item_check))
        elif keyword in ("minItems", "maxItems"):
            if type(value) is not int:
                return None
            checks.append(_min_items(value) if keyword == "minItems" else _max_items(value))
        elif keyword in ("allOf", "anyOf", "oneOf"):
            if not isinstance(value, list) or not value:
                return None
            subchecks = [compile_check(subschema) for subschema in value]
            if any(check is None for check in subchecks):
                return None
            checks.append(COMBINATORS[keyword](subchecks))  # type: ignore[arg-type]
        elif keyword == "not":
            negated = compile_check(value)
            if negated is None:
                return None
            checks.append(_not(negated))
        elif keyword == "if":
            branches = [compile_check(schema[name]) if name in schema else _always for name in ("if", "then", "else")]
            if any(branch is None for branch in branches):
                return None
            checks.append(_conditional(*branches))  # type: ignore[arg-type]
        elif keyword in ("then", "else"):
            continue  # read with `if`; without one they change nothing
        else:
            return None
    if object_keywords:
        checks.append(_object(properties, extra))
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    return _all(checks)


STRING_KEYWORDS = frozenset({"type", "minLength", "maxLength", "pattern"})
OBJECT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"})


def _fused_check(schema: dict[str, Any]) -> Check | None:
    """One predicate for the two shapes most schemas are made of, else None (`compile_check` combines its parts).

    A string with length bounds and a pattern, and an object with properties and
    required names: the same test as the parts combined, in one call instead of
    one per keyword (the parts all pass or the schema fails, in any order).
    """
    kind = schema.get("type")
    if kind not in ("string", "object"):
        return None
    keywords = {k for k in schema if k not in ANNOTATIONS and not k.startswith("x-")}
    if kind == "string" and keywords <= STRING_KEYWORDS:
        low, high, pattern = schema.get("minLength", 0), schema.get("maxLength"), schema.get("pattern")
        if type(low) is not int or (high is not None and type(high) is not int):
            return None
        if pattern is not None and not isinstance(pattern, str):
            return None
        return _text(low, high, re.compile(pattern) if pattern is not None else None)
    if kind == "object" and keywords <= OBJECT_KEYWORDS:
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
            return None
        raw = schema.get("properties", {})
        if not isinstance(raw, dict):
            return None
        properties = {name: compile_check(subschema) for name, subschema in raw.items()}
        extra = compile_check(schema["additionalProperties"]) if "additionalProperties" in schema else None
        if any(check is None for check in properties.values()) or ("additionalProperties" in schema and not extra):
            return None
        return _record(tuple(required), properties, extra)  # type: ignore[arg-type]
    return None


def _text(low: int, high: int | None, pattern: re.Pattern[str] | None) -> Check:
    def check(instance: Any) -> bool:
        if not isinstance(instance, str):
            return False
        size = len(instance)
        if size < low or (high is not None and size > high):
            return False
        return pattern is None or pattern.search(instance) is not None

    return check


def _record(required: tuple[str, ...], properties: dict[str, Check], extra: Check | None) -> Check:
    def check(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return False
        for name in required:
            if name not in instance:
                return False
        for name, value in instance.items():
            test = properties.get(name, extra)
            if test is not None and not test(value):
                return False
        return True

    return check


def _always(instance: Any) -> bool:
    return True


def _never(instance: Any) -> bool:
    return False


def _is_integer(instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, float):
        return instance.is_integer()
    return isinstance(instance, int)


def _is_number(instance: Any) -> bool:
    return isinstance(instance, numbers.Number) and not isinstance(instance, bool)


def _is_string(instance: Any) -> bool:
    return isinstance(instance, str)


TYPE_CHECKS: dict[str, Check] = {
    "string": _is_string,
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda instance: isinstance(instance, bool),
    "null": lambda instance: instance is None,
    "object": lambda instance: isinstance(instance, dict),
    "array": lambda instance: isinstance(instance, list),
}
# When a number breaks a bound, written as jsonschema tests it (so NaN compares the same way).
BOUNDS = {
    "minimum": lambda value, bound: value < bound,
    "maximum": lambda value, bound: value > bound,
    "exclusiveMinimum": lambda value, bound: value <= bound,
    "exclusiveMaximum": lambda value, bound: value >= bound,
}


def _any_type(tests: list[Check]) -> Check:
    if len(tests) == 1:
        return tests[0]
    return lambda instance: any(test(instance) for test in tests)


def _enum(strings: frozenset[str], allows_null: bool) -> Check:
    def check(instance: Any) -> bool:
        if instance is None:
            return allows_null
        return isinstance(instance, str) and instance in strings

    return check


def _equals_one_of(values: list[Any]) -> Check:
    return lambda instance: any(equal(value, instance) for value in values)


def _min_properties(limit: int) -> Check:
    return lambda instance: not isinstance(instance, dict) or len(instance) >= limit


def _max_properties(limit: int) -> Check:
    return lambda instance: not isinstance(instance, dict) or len(instance) <= limit


def _property_names(test: Check) -> Check:
    return lambda instance: not isinstance(instance, dict) or all(test(name) for name in instance)


def _min_length(limit: int) -> Check:
    return lambda instance: not isinstance(instance, str) or len(instance) >= limit


def _max_length(limit: int) -> Check:
    return lambda instance: not isinstance(instance, str) or len(instance) <= limit


def _pattern(compiled: re.Pattern[str]) -> Check:
    return lambda instance: not isinstance(instance, str) or compiled.search(instance) is not None


def _format(name: str) -> Check:
    if name not in format_checker.checkers:
        return _always
    return lambda instance: format_checker.conforms(instance, name)


def _bound(breaks: Callable[[Any, Any], bool], bound: float) -> Check:
    return lambda instance: not _is_number(instance) or not breaks(instance, bound)


def _required(names: tuple[str, ...]) -> Check:
    def check(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return True
        for name in names:  # noqa: SIM110 (a loop is faster than all() over a generator)
            if name not in instance:
                return False
        return True

    return check


def _object(properties: dict[str, Check], extra: Check | None) -> Check:
    def check(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return True
        for name, value in instance.items():
            test = properties.get(name, extra)
            if test is not None and not test(value):
                return False
        return True

    return check


def _items(test: Check) -> Check:
    def check(instance: Any) -> bool:
        if not isinstance(instance, list):
            return True
        for item in instance:  # noqa: SIM110
            if not test(item):
                return False
        return True

    return check


def _min_items(limit: int) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) >= limit


def _max_items(limit: int) -> Check:
    return lambda instance: not isinstance(instance, list) or len(instance) <= limit


def _all(checks: list[Check]) -> Check:
    def check(instance: Any) -> bool:
        for test in checks:  # noqa: SIM110
            if not test(instance):
                return False
        return True

    return check


def _not(test: Check) -> Check:
    return lambda instance: not test(instance)


def _conditional(condition: Check, then: Check, otherwise: Check) -> Check:
    return lambda instance: then(instance) if condition(instance) else otherwise(instance)


COMBINATORS: dict[str, Callable[[list[Check]], Check]] = {
    "allOf": _all,
    "anyOf": lambda checks: lambda instance: any(test(instance) for test in checks),
    "oneOf": lambda checks: lambda instance: sum(1 for test in checks if test(instance)) == 1,
}


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
        # What every call would otherwise work out again from the schemas: how each value is coerced.
        self._path = [(p.name, scalar_coercer(p.schema)) for p in self.by_location["path"]]
        self._query = [query_reader(p) for p in self.by_location["query"]]
        self._headers = [(p.name, p.name.lower(), scalar_coercer(p.schema)) for p in self.by_location["header"]]
        self._checked = [(location, self.param_validators.get(location)) for location in ("path", "query", "header")]

    def parse(
        self,
        path_params: dict[str, str],
        query_items: Sequence[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
        content_type: str | None,
    ) -> ParsedRequest:
        path = {name: coerce(path_params[name]) for name, coerce in self._path if name in path_params}
        query = self._coerce_query(query_items)
        header_values = self._coerce_headers(headers)
        for (_, validator), values in zip(self._checked, (path, query, header_values), strict=True):
            if validator is not None and not (validator.check is not None and validator.check(values)):
                raise_first_error(validator, values, prefix="")
        parsed_body, media_type = self._parse_body(body, content_type)
        return ParsedRequest(path, query, header_values, parsed_body, media_type)

    def _coerce_query(self, items: Sequence[tuple[str, str]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for read in self._query:
            read(items, values)
        return values

    def _coerce_headers(self, headers: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, key, coerce in self._headers:
            raw = headers.get(key)
            if raw is not None:
                values[name] = coerce(raw)
        return values

    def _parse_body(self, body: bytes, content_type: str | None) -> tuple[Any, str | None]:
        if not self.body_validators:
            return None, None
        media_type = (content_type or "").split(";")[0].strip().lower() or None
        if not body.strip():
            if self.operation.body_required:  # before anything looks at state: a missing body is invalid
                raise ApiError(ErrorKind.INVALID, "A request body is required.")
            media_type = media_type if media_type in self.body_validators else next(iter(self.body_validators))
            data: Any = {}
        else:
            if media_type is None:
                media_type = JSON if JSON in self.body_validators else next(iter(self.body_validators))
            if media_type not in self.body_validators:
                accepted = " or ".join(self.body_validators)
                raise ApiError(ErrorKind.INVALID, f"Unsupported Content-Type '{media_type}': send {accepted}.")
            if media_type == MULTIPART:  # the boundary is a parameter of the Content-Type
                data = parse_multipart(body, content_type or "")
            else:
                data = decode_body(body, media_type, self.operation.body_schemas[media_type])
        raise_first_error(self.body_validators[media_type], data, prefix="")
        return data, media_type


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
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        data = JSON_DECODER.decode(text)
    except ValueError as exc:
        raise ApiError(ErrorKind.INVALID, f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ApiError(ErrorKind.INVALID, "The request body is nested too deeply.") from None
    if "\\u" in text.lower():
        reject_lone_surrogates(data)
    return data


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a number")
    return number


# `json.loads(text, parse_constant=..., parse_float=...)` builds a decoder on every call (half its cost
# for a small body); this one is built once.
JSON_DECODER = json.JSONDecoder(parse_constant=reject_constant, parse_float=finite_float)


def reject_lone_surrogates(value: Any, field: str = "") -> None:
    """`\\ud800` escapes decode to text that is not Unicode: refuse it before anything stores it."""
    if isinstance(value, str):
        if any("\ud800" <= char <= "\udfff" for char in value):
            raise ApiError(
                ErrorKind.INVALID,
                f"{field or 'body'} is invalid: it contains an unpaired surrogate escape",
                field=field or None,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_lone_surrogates(key, field)
            reject_lone_surrogates(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_lone_surrogates(item, f"{field}[{index}]")


def params_schema(params: list[Parameter]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {p.name: p.schema for p in params},
        "required": [p.name for p in params if p.required],
    }


MAX_REPORTED_ERRORS = 20


def raise_first_error(validator: SchemaValidator, instance: Any, prefix: str) -> None:
    if validator.is_valid(instance):
        return
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), str(e.message)))
    problems = [to_api_error(error, prefix) for error in errors[:MAX_REPORTED_ERRORS]]
    first = problems[0]
    # Every failing field (its first problem), for providers whose envelope lists them all (Wethod's `failures`).
    by_field: dict[str, dict[str, str]] = {}
    for problem in problems:
        by_field.setdefault(problem.field or "body", {"field": problem.field or "body", "message": problem.message})
    first.details = list(by_field.values())
    raise first


def to_api_error(error: ValidationError, prefix: str = "") -> ApiError:
    field = field_name(error, prefix)
    if error.validator == "required":
        name = next(iter(missing(error)), "a field")
        field = f"{field}.{name}" if field else name
        return ApiError(ErrorKind.INVALID, f"{field} is missing", field=field, rule="required")
    rule = str(error.validator)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return ApiError(ErrorKind.INVALID, f"{field or 'body'}: {describe(error)}", field=field or None, rule=rule)
    subject = field or "body"
    return ApiError(ErrorKind.INVALID, f"{subject} is invalid: {describe(error)}", field=field or None, rule=rule)


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


QueryReader = Callable[[Sequence[tuple[str, str]], dict[str, Any]], None]


def query_reader(parameter: Parameter) -> QueryReader:
    """What reads one query parameter from the query's (name, value) pairs into `values`, coerced."""
    name, schema = parameter.name, parameter.schema
    if parameter.style == "deepObject":

        def read_deep_object(items: Sequence[tuple[str, str]], values: dict[str, Any]) -> None:
            found = deep_object(name, items)
            if found is not None:
                values[name] = coerce_tree(found, schema)

        return read_deep_object
    if "array" in schema_types(schema):
        coerce_item, explode = scalar_coercer(schema.get("items", {})), parameter.explode

        def read_array(items: Sequence[tuple[str, str]], values: dict[str, Any]) -> None:
            raw = [value for key, value in items if key == name]
            if raw:
                if not explode:
                    raw = [part for value in raw for part in value.split(",")]
                values[name] = [coerce_item(value) for value in raw]

        return read_array
    coerce = scalar_coercer(schema)

    def read_scalar(items: Sequence[tuple[str, str]], values: dict[str, Any]) -> None:
        last = None
        for key, value in items:
            if key == name:
                last = value
        if last is not None:
            values[name] = coerce(last)  # the last one sent wins

    return read_scalar


def scalar_coercer(schema: dict[str, Any]) -> Callable[[str], Any]:
    """`coerce_scalar` for one schema, its types read once."""
    types = frozenset(schema_types(schema))
    if not types & {"integer", "number", "boolean", "null"}:
        return _unchanged
    return lambda value: coerce_typed(value, types)


def _unchanged(value: str) -> str:
    return value


def coerce_scalar(value: str, schema: dict[str, Any]) -> Any:
    """A query/path/header/form string as the type its schema wants, when it reads as one."""
    return coerce_typed(value, schema_types(schema))


def coerce_typed(value: str, types: set[str] | frozenset[str]) -> Any:
    """`coerce_scalar` given the schema's types."""
    if "integer" in types and _INTEGER.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits): not coerced, so a 400
            return value
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


def deep_object(name: str, items: Sequence[tuple[str, str]]) -> Any:
    """A deepObject parameter as sent: `p[a]=1` is {"a": "1"}, `p[a][b]=1` nests, a repeated key or `p[]=1` lists.

    The shape is kept as the client sent it, so a value the schema does not
    allow (an object or a list where it wants a string) is refused, not flattened.
    """
    prefix = name + "["
    tree: dict[str, Any] = {}
    listed: list[Any] = []
    for key, value in items:
        if not key.startswith(prefix):
            continue
        rest = key[len(name) :]
        parts = _KEY_PART.findall(rest)
        if "".join(f"[{part}]" for part in parts) != rest:
            parts = [rest[1:].removesuffix("]")]  # not a clean `[a][b]` chain: the whole text is the key
        if parts[0] == "":
            listed.append(value)  # `p[]=x`: a list, not an object
            continue
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ApiError(ErrorKind.INVALID, f"Query parameter '{key}' conflicts with another.", field=name)
            node = child
        last = parts[-1]
        if last in node:
            previous = node[last]
            node[last] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            node[last] = value
    if listed:
        return listed
    return tree or None

"""The fast schema predicates accept exactly what jsonschema accepts.

`compile_check` answers valid instances without running jsonschema, so a
predicate that accepted something jsonschema refuses would let a bad request
through. Every schema of every spec is checked against jsonschema on instances
built from the schema and then broken in many small ways.
"""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sandbox.spec import Spec
from sandbox.validation import compile_check, format_checker, params_schema

SPECS = sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.yaml"))


def spec_schemas(spec: Spec) -> list[tuple[str, Any]]:
    found = [(f"components/{name}", schema) for name, schema in spec.resolved["components"]["schemas"].items()]
    for operation in spec.operations:
        for location in ("path", "query", "header"):
            params = [p for p in operation.parameters if p.location == location]
            if params:
                found.append((f"{operation.operation_id} {location}", params_schema(params)))
        for media, schema in operation.body_schemas.items():
            found.append((f"{operation.operation_id} body {media}", schema))
        for status in operation.responses:
            if status.isdigit():
                _, schema = operation.response_schema(int(status))
                if schema is not None:
                    found.append((f"{operation.operation_id} {status}", schema))
    return found


SAMPLES: list[Any] = [None, True, False, 0, 1, -1, 2.5, 1.0, math.nan, "", "x", "2026-01-01", "2026-01-01T00:00:00Z"]
SAMPLES += ["2026-13-45T99:00:00Z", "not a date", "a" * 300, [], [1], {}, {"id": "1"}, 10**6, -(10**6)]


def build(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """An instance shaped like the schema (often valid, sometimes not)."""
    if not isinstance(schema, dict) or depth > 6:
        return rng.choice(SAMPLES)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return build(rng.choice(schema[key]), rng, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        merged.update({k: v for k, v in schema.items() if k != "allOf"})
        return build(merged, rng, depth + 1)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: build(sub, rng, depth + 1) for name, sub in properties.items() if rng.random() < 0.8}
    if kind == "array":
        return [build(schema.get("items", {}), rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "string":
        if schema.get("format") == "date-time":
            return rng.choice(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123+02:00", "2026-02-30T00:00:00Z"])
        if schema.get("format") == "date":
            return rng.choice(["2026-01-01", "2026-02-30", "20260101"])
        low = schema.get("minLength", 0)
        high = schema.get("maxLength", low + 12)
        return "".join(rng.choice("abc-_:09") for _ in range(rng.randint(max(0, low - 1), min(high + 1, low + 20))))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -5))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 10))
        value = rng.randint(int(low) - 1, int(high) + 1)
        return float(value) if rng.random() < 0.2 else value
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return rng.choice(SAMPLES)


def mutate(instance: Any, rng: random.Random) -> Any:
    """The instance with one random change somewhere inside it."""
    instance = copy.deepcopy(instance)
    if isinstance(instance, dict) and instance and rng.random() < 0.7:
        key = rng.choice(list(instance))
        choice = rng.random()
        if choice < 0.3:
            del instance[key]
        elif choice < 0.5:
            instance["unexpected_" + key] = rng.choice(SAMPLES)
        else:
            instance[key] = mutate(instance[key], rng)
        return instance
    if isinstance(instance, list) and instance and rng.random() < 0.7:
        index = rng.randrange(len(instance))
        instance[index] = mutate(instance[index], rng)
        return instance
    return rng.choice(SAMPLES)


@pytest.mark.parametrize("spec_path", SPECS, ids=[path.stem for path in SPECS])
def test_fast_predicates_agree_with_jsonschema(spec_path: Path) -> None:
    spec = Spec.load(spec_path)
    rng = random.Random(spec_path.stem)
    compiled = 0
    for where, schema in spec_schemas(spec):
        check = compile_check(schema)
        if check is None:
            continue
        compiled += 1
        reference = Draft202012Validator(schema, format_checker=format_checker)
        for _ in range(60):
            instance = build(schema, rng)
            for candidate in (instance, mutate(instance, rng), mutate(instance, rng)):
                expected = reference.is_valid(candidate)
                assert check(candidate) == expected, f"{spec_path.name} {where}: {candidate!r} (jsonschema: {expected})"
    assert compiled, f"no schema of {spec_path.name} compiled to a fast predicate"


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"type": "integer"}, 1.0),
        ({"type": "integer"}, True),
        ({"type": "number"}, False),
        ({"minimum": 1}, math.nan),
        ({"enum": ["a", None]}, None),
        ({"enum": ["a"]}, ["a"]),
        ({"enum": [1, 2]}, True),
        ({"enum": [1, 2]}, 1.0),
        ({"const": False}, 0),
        ({"maxProperties": 1}, {"a": 1, "b": 2}),
        ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"A": 1}),
        ({"minLength": 2}, 5),
        ({"pattern": "^a"}, "ba"),
        ({"format": "date-time"}, "2026-01-01t00:00:00z"),
        ({"format": "date"}, "2026-02-30"),
        ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "x"),
        ({"not": {"type": "null"}}, None),
        ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}),
        ({"type": "array", "items": {"type": "string"}, "maxItems": 1}, ["a", "b"]),
        ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "b"}, "ab"),
        ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "b"}, "abcb"),
        ({"type": "string", "minLength": 2, "pattern": "b"}, "a"),
        ({"type": "string", "pattern": "^b"}, "ab"),
        ({"type": "string", "maxLength": 1}, 5),
        ({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}, {"a": 1}),
        ({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}, {"b": "x"}),
        ({"type": "object", "required": ["a"]}, ["a"]),
        ({"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "integer"}}, {"b": "x"}),
        ({"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "integer"}}, {"a": "x", "b": 1}),
        ({"type": "object", "additionalProperties": False}, {}),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"c": 1}),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"required": ["c"]}}, {"d": 1}),
        ({"if": {"required": ["a"]}, "else": {"required": ["c"]}}, {"a": 1}),
        ({"if": {"required": ["a"]}, "else": {"required": ["c"]}}, {"b": 1}),
        ({"then": {"required": ["b"]}, "else": {"required": ["c"]}}, {"a": 1}),
        (
            {"if": {"properties": {"to": {"const": "Paid"}}}, "then": {"properties": {"amount": {"minimum": 1}}}},
            {"to": "Paid", "amount": 0},
        ),
    ],
)
def test_edge_cases_agree(schema: dict[str, Any], instance: Any) -> None:
    check = compile_check(schema)
    assert check is not None
    assert check(instance) == Draft202012Validator(schema, format_checker=format_checker).is_valid(instance)


def test_unsupported_keywords_fall_back_to_jsonschema() -> None:
    assert compile_check({"type": "object", "patternProperties": {"^x": {}}}) is None
    assert compile_check({"properties": {"a": {"unevaluatedProperties": False}}}) is None
    assert compile_check({"dependentRequired": {"a": ["b"]}}) is None
    assert compile_check({"if": {"type": "string"}, "then": {"patternProperties": {"^x": {}}}}) is None

"""Validation messages that speak JSON: `null`, `true`, `["a", "b"]`, never Python's `None` or `['a']`.

jsonschema writes its messages with Python's `repr` (`None is not of type
'string'`); a client of a JSON API reads them, so every message the sandbox
sends about a value shows the value, and the schema's words, as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema.exceptions import ValidationError

MAX_SHOWN = 80  # characters of a value a message shows before cutting it short
MAX_LISTED = 200  # an enum longer than this (as JSON) is not listed in full


def as_json(value: Any, limit: int = MAX_SHOWN) -> str:
    """`value` written as JSON, cut to about `limit` characters (a long value ends in `…`)."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (ValueError, TypeError):  # a float too large for JSON, a key JSON cannot write
        text = json.dumps(str(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(count: Any, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def _listed(names: Any) -> str:
    return ", ".join(as_json(name) for name in names)


def describe(error: ValidationError) -> str:
    """What is wrong with the value at `error`'s place, in JSON words (no field name: the caller adds it)."""
    keyword, expected, value = error.validator, error.validator_value, error.instance
    shown = as_json(value)
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"{shown} is not of type {' or '.join(as_json(name) for name in types)}"
    if keyword == "enum":
        listed = as_json(expected, limit=MAX_LISTED + 1)
        if len(listed) > MAX_LISTED:
            return f"{shown} is not one of the allowed values"
        return f"{shown} is not one of {listed}"
    if keyword == "const":
        return f"{shown} is not {as_json(expected)}"
    if keyword == "pattern":
        return f"{shown} does not have the expected format"
    if keyword == "format":
        return f"{shown} is not a valid {expected}"
    if keyword == "minLength":
        return f"{shown} is shorter than {_plural(expected, 'character')}"
    if keyword == "maxLength":
        return f"{shown} is longer than {_plural(expected, 'character')}"
    if keyword in BOUNDS:
        return f"{shown} is {BOUNDS[keyword]} {as_json(expected)}"
    if keyword == "multipleOf":
        return f"{shown} is not a multiple of {as_json(expected)}"
    if keyword == "minItems":
        return f"{shown} has fewer than {_plural(expected, 'item')}"
    if keyword == "maxItems":
        return f"{shown} has more than {_plural(expected, 'item')}"
    if keyword == "uniqueItems":
        return f"{shown} has repeated items"
    if keyword == "minProperties":
        return f"{shown} has fewer than {_plural(expected, 'property', 'properties')}"
    if keyword == "maxProperties":
        return f"{shown} has more than {_plural(expected, 'property', 'properties')}"
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return f"unknown {'property' if len(unexpected(error)) == 1 else 'properties'} {_listed(unexpected(error))}"
    if keyword in ("required", "dependentRequired"):
        return f"{_listed(missing(error))} is missing"
    if keyword in ("oneOf", "anyOf"):
        return f"{shown} is not valid under any of the allowed schemas"
    if keyword == "not":
        return f"{shown} is not allowed here"
    if keyword is None or expected is False:  # a `false` schema: nothing is allowed here
        return f"{shown} is not allowed here"
    return f"{shown} is invalid ({keyword})"


BOUNDS = {
    "minimum": "less than the minimum of",
    "maximum": "greater than the maximum of",
    "exclusiveMinimum": "not greater than",
    "exclusiveMaximum": "not less than",
}


def unexpected(error: ValidationError) -> list[str]:
    """The property names an additionalProperties/unevaluatedProperties error is about, in the order sent."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = set(schema.get("properties", {}))
    patterns = schema.get("patternProperties", {})
    if error.validator == "unevaluatedProperties" or patterns:
        # Which properties other keywords evaluated is not on the error: read the names from its message.
        quoted = [name for name in instance if repr(name) in error.message]
        return quoted or [name for name in instance if name not in known]
    return [name for name in instance if name not in known]


def missing(error: ValidationError) -> list[str]:
    """The property names a required/dependentRequired error is about."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    expected = error.validator_value
    if error.validator == "dependentRequired" and isinstance(expected, dict):
        names = [name for present, needed in expected.items() if present in instance for name in needed]
    else:
        names = list(expected) if isinstance(expected, list) else []
    absent = [name for name in names if name not in instance]
    # jsonschema reports one missing name per error: the one its message names.
    named = [name for name in absent if repr(name) in error.message]
    return named[:1] or absent[:1]

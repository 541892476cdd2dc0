"""The JSON Schema of a spec's `x-sandbox` block: a misspelt or misplaced key stops start-up, naming where it is.

Every mapping is closed (`additionalProperties: false`), so a typo such as
`not_found` for `not-found` is an error instead of a silently ignored setting.
"""

from __future__ import annotations

from typing import Any

STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
STATE: dict[str, Any] = {"type": ["string", "boolean", "integer", "null"]}  # a state machine's value
KINDS = [
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "invalid",
    "precondition",
    "conflict",
    "rate_limited",
    "internal",
    "unavailable",
]


def closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties, "required": required or []}


REFUSAL = closed({"kind": {"enum": KINDS}, "message": {"type": "string"}, "code": {"type": "string"}})

FILTER = closed(
    {
        "field": {"type": "string"},
        "match": {
            "enum": ["equals", "one-of", "after", "before", "at-most", "at-least", "operators", "fields", "metadata"]
        },
        "type": {"enum": ["string", "integer", "date", "date-time"]},
        "values": {"type": "object", "additionalProperties": {"type": "string"}},
        "default": {},
        "case-insensitive": {"type": "boolean"},
        "fields": STRINGS,
        "booleans": STRINGS,
        "unknown": REFUSAL,
    }
)

OPERATION = {
    "oneOf": [
        {"enum": ["list", "retrieve", "create", "update", "delete", "action"]},
        closed(
            {
                "role": {"enum": ["list", "retrieve", "create", "update", "delete", "action"]},
                "by": {"type": "string"},
                "param": {"type": "string"},
                "parent": closed(
                    {"resource": {"type": "string"}, "field": {"type": "string"}, "param": {"type": "string"}},
                    ["resource", "field"],
                ),
                "paging": {"enum": ["cursor", "page-links", "offset-limit", "page-metadata", "none"]},
                "not-found": REFUSAL,
            },
            ["role"],
        ),
    ]
}

TRANSITION = closed(
    {
        "from": {"oneOf": [STATE, {"type": "array", "items": STATE}]},
        "to": STATE,
        "requirement": {"type": "string"},
        "set": {"type": "object"},
        "from-body": STRINGS,
        "permission": {"type": "string"},
    }
)

RESOURCE = closed(
    {
        "id": {"enum": ["integer", "string-sequence", "uuid"]},
        "schema": {"type": "string"},
        "fixtures": {"type": "string"},
        "scoped": {"type": "boolean"},
        "timestamps": closed(
            {"created": {"type": "string"}, "updated": {"type": "string"}, "touch": {"enum": ["always"]}}
        ),
        "order": {"oneOf": [{"type": "string"}, STRINGS]},
        "partitions": STRINGS,
        "filters": {"type": "object", "additionalProperties": {"oneOf": [{"type": "string"}, FILTER]}},
        "sort": closed(
            {
                "param": {"type": "string"},
                "grammar": {"enum": ["space", "colon", "suffix"]},
                "fields": STRINGS,
                "unknown": {"enum": ["refuse", "ignore"]},
                "nulls": {"enum": ["first", "last"]},
                "dates": STRINGS,
            },
            ["fields"],
        ),
        "references": {
            "type": "object",
            "additionalProperties": closed(
                {"resource": {"type": "string"}, "missing": REFUSAL, "nullable": {"type": "boolean"}}, ["resource"]
            ),
        },
        "keys": {
            "type": "object",
            "additionalProperties": {
                "oneOf": [{"type": "null"}, closed({"case-insensitive": {"type": "boolean"}, "duplicate": REFUSAL})]
            },
        },
        "hidden": STRINGS,
        "optional": STRINGS,
        "defaults": {"type": "object"},
        "not-found": REFUSAL,
        "retention": closed(
            {"field": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}, ["field", "days"]
        ),
        "operations": {"type": "object", "additionalProperties": OPERATION},
        "states": closed(
            {
                "field": {"type": "string"},
                "initial": {},
                "refused": REFUSAL,
                "transitions": {"type": "object", "additionalProperties": TRANSITION},
            }
        ),
    }
)

X_SANDBOX: dict[str, Any] = closed(
    {
        "mount": {"type": "string"},
        "timestamps": {"enum": ["iso8601", "iso8601-ms", "unix"]},
        "absent-fields": {"enum": ["null", "omit"]},
        "uuid-namespace": {"type": "string", "format": "uuid"},
        "error-codes": {"type": "object", "propertyNames": {"enum": KINDS}, "additionalProperties": {"type": "string"}},
        "error-statuses": {
            "type": "object",
            "propertyNames": {"enum": KINDS},
            "additionalProperties": {"type": "integer", "minimum": 400, "maximum": 599},
        },
        "paging": closed(
            {
                "style": {"enum": ["cursor", "page-links", "offset-limit", "page-metadata", "none"]},
                "size": {"type": "string"},
                "position": {"type": "string"},
                "default-size": {"type": "integer", "minimum": 1},
                "max-size": {"type": "integer", "minimum": 1},
                "items": {"type": "string"},
            },
            ["style"],
        ),
        "sparse-fields": closed({"from": STRINGS}, ["from"]),
        "scope": closed(
            {
                "collection": {"type": "string"},
                "field": {"type": "string"},
                "from": {"oneOf": [{"type": "string"}, STRINGS]},
                "grant": {"type": "string"},
                "internal": {"type": "boolean"},
                "unknown": REFUSAL,
                "denied": REFUSAL,
                "denied-first": {"type": "boolean"},
            },
            ["collection", "field", "from"],
        ),
        "resources": {"type": "object", "additionalProperties": RESOURCE},
    }
)

"""Every error message speaks JSON: `null`, `true`, `["a"]`, never Python's `None`, `True`, `['a']`.

The sweep sends every operation of every served spec (providers, their admin
helpers, the admin API) bodies whose fields hold values of the wrong JSON type
(null, booleans, arrays, objects, at the top level and one level down) and
reads every string of every error body that comes back.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema.exceptions import ValidationError
from starlette.testclient import TestClient

from sandbox.messages import as_json, describe
from sandbox.spec import Operation

PYTHON_WORDS = re.compile(r"\b(None|True|False)\b|[\[{(]'|'[\]})]|', '|': ")
CREDENTIAL = "message-sweep"
HEADERS = {
    "payt": {"Authorization": f"Bearer {CREDENTIAL}"},
    "wethod": {"Authorization": f"Bearer {CREDENTIAL}", "Wethod-Company": "acme", "Wethod-Version": "2024-06-15"},
    "invoiced": {"Authorization": "Basic " + base64.b64encode(f"{CREDENTIAL}:".encode()).decode()},
    "debitura": {"XApiKey": CREDENTIAL},
}
WRONG_VALUES: list[Any] = [None, True, False, [None, True, "x"], {"key": None, "flag": False, "list": ["a"]}]


def properties(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema's properties, those of its allOf/anyOf/oneOf branches included."""
    found = dict(schema.get("properties", {}))
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            if isinstance(branch, dict):
                found.update(properties(branch))
    return found


def wrong_bodies(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    fields = properties(schema)
    for value in WRONG_VALUES:
        yield dict.fromkeys(fields, value)
        for name, field in fields.items():
            inner = properties(field) if isinstance(field, dict) else {}
            if inner:
                yield {name: dict.fromkeys(inner, value)}


def path_of(operation: Operation, mount: str) -> str:
    path = operation.path
    for parameter in operation.parameters:
        if parameter.location == "path":
            value = CREDENTIAL if parameter.name == "credential" else "1"
            path = path.replace("{" + parameter.name + "}", value)
    return mount + path


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_every_validation_message_is_written_in_json(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    checked, python = 0, []
    for service in engine.services:
        headers = HEADERS.get(service.provider.name, {})
        for operation in service.operations:
            schema = operation.body_schemas.get("application/json")
            if schema is None:
                continue
            url = path_of(operation, service.mount)
            for body in wrong_bodies(schema):
                response = client.request(operation.method, url, json=body, headers=headers)
                assert response.status_code < 500, (operation.operation_id, body, response.text)
                if response.status_code < 400 or not response.content:
                    continue
                for message in strings(response.json()):
                    checked += 1
                    if PYTHON_WORDS.search(message):
                        python.append(f"{operation.operation_id}: {message}")
    assert checked > 500, "the sweep read too few messages to mean anything"
    assert python == []


@pytest.mark.parametrize(
    ("keyword", "expected", "instance", "message"),
    [
        ("type", "string", None, 'null is not of type "string"'),
        ("type", ["integer", "null"], True, 'true is not of type "integer" or "null"'),
        ("enum", ["a", "b"], False, 'false is not one of ["a", "b"]'),
        ("const", {"x": None}, [1], '[1] is not {"x": null}'),
        ("minimum", 1, 0, "0 is less than the minimum of 1"),
        ("format", "date-time", "yesterday", '"yesterday" is not a valid date-time'),
        ("minItems", 1, [], "[] has fewer than 1 item"),
    ],
)
def test_a_schema_failure_reads_as_json(keyword: str, expected: Any, instance: Any, message: str) -> None:
    error = ValidationError("python words", validator=keyword, validator_value=expected, instance=instance)
    assert describe(error) == message


def test_long_values_are_cut_short() -> None:
    assert as_json("x" * 500).endswith("…")
    assert len(as_json(list(range(1000)))) <= 80

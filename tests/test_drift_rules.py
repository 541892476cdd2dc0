"""The rules drift checks an answer against, one by one (the CLI's runs are in test_drift.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.drift import Sent, answer_problems, credential_headers, example_of
from sandbox.spec import Spec

SPEC = Spec(
    "shop",
    """
openapi: 3.1.0
info: {title: shop, version: "1"}
security: [{key: []}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
paths:
  /items:
    get:
      operationId: listItems
      parameters:
        - {name: page, in: query, required: true, schema: {type: integer, minimum: 1}}
        - {name: when, in: query, schema: {type: string, format: date}, example: "2026-02-03"}
      responses:
        "200":
          description: Items
          headers:
            X-Total-Count: {required: true, schema: {type: integer, minimum: 0}}
            X-Page: {schema: {type: integer}}
          content:
            application/json:
              schema:
                type: array
                items:
                  type: object
                  required: [id]
                  properties: {id: {type: integer}}
        "404": {description: None}
""",
    "shop.yaml",
)
LIST = SPEC.operations[0]


def problems(status: int, headers: dict[str, str], body: bytes) -> list[tuple[str, str]]:
    sent = Sent("listItems", "GET", "http://x/items", status, headers, body)
    return [(finding.rule, finding.message) for finding in answer_problems(LIST, sent)]


JSON = {"content-type": "application/json", "x-total-count": "1"}


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(200, JSON, b'[{"id": 1}]', [], id="conforms"),
        pytest.param(404, {}, b"", [], id="documented-error"),
        pytest.param(
            418, {}, b"", [("status", "status 418 is not documented (documented: 200, 404)")], id="undocumented-status"
        ),
        pytest.param(
            200,
            {"content-type": "application/json"},
            b"[]",
            [("header", "required header X-Total-Count is missing")],
            id="missing-header",
        ),
        pytest.param(
            200,
            {**JSON, "x-page": "two"},
            b"[]",
            [("header", 'header X-Page: \'two\' does not match its schema {"type": "integer"}')],
            id="header-schema",
        ),
        pytest.param(
            200,
            {**JSON, "content-type": "text/html"},
            b"<p>",
            [("content-type", "content type 'text/html' is not one of ['application/json']")],
            id="content-type",
        ),
        pytest.param(200, JSON, b"[{", [("json", "the body is not JSON: …")], id="not-json"),
        pytest.param(
            200, JSON, b'[{"id": "1"}]', [("type", "body at 0/id: '1' is not of type 'integer'")], id="body-schema"
        ),
    ],
)
def test_each_rule(status: int, headers: dict[str, str], body: bytes, expected: list[tuple[str, str]]) -> None:
    found = problems(status, headers, body)
    assert [rule for rule, _ in found] == [rule for rule, _ in expected]
    for (_, message), (_, wanted) in zip(found, expected, strict=True):
        assert message.startswith(wanted.removesuffix("…"))


def test_requests_are_built_from_examples_and_the_security_scheme() -> None:
    parameters: dict[str, Any] = {p["name"]: p for p in LIST.raw["parameters"]}
    assert example_of(parameters["when"]) == "2026-02-03"  # documented
    assert example_of(parameters["page"]) == 1  # none documented: a value of its type
    assert credential_headers(SPEC, "k-1") == {"X-Key": "k-1"}
    assert credential_headers(SPEC, None) == {}

"""The providers' own published OpenAPI documents, as a check on the sandbox.

They are read where they lie (`make conformance REFERENCE=DIR`), never copied
into the repository. `ReferenceDocument.response_errors` says why a response
the sandbox sent breaks the provider's own schema for that operation and status.
"""

from __future__ import annotations

import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REFERENCE_ENV = "SANDBOX_REFERENCE"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def reference_dir() -> Path:
    """The folder of the providers' documents; a missing folder is an error, not a skip."""
    configured = os.environ.get(REFERENCE_ENV)
    if not configured:
        raise RuntimeError(f"{REFERENCE_ENV} is not set: run the checks with `make conformance REFERENCE=DIR`")
    folder = Path(configured).resolve()
    if not folder.is_dir():
        raise RuntimeError(f"{REFERENCE_ENV}={configured}: no such folder (the providers' documents live there)")
    return folder


def nullable_to_type(schema: Any, nullable_refs: bool = False) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema draft 4 understands it.

    With `nullable_refs`, a property that is only a `$ref` may be null too:
    OpenAPI 3.0 ignores every keyword beside a `$ref`, so a generator such as
    Swashbuckle (ASP.NET) writes a nullable object-typed property as a bare
    `$ref`, and the SDK generated from the document reads null there.
    """
    if isinstance(schema, list):
        return [nullable_to_type(item, nullable_refs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: nullable_to_type(value, nullable_refs) for key, value in schema.items()}
    if nullable_refs and isinstance(converted.get("properties"), dict):
        converted["properties"] = {
            name: {"anyOf": [value, {"type": "null"}]} if isinstance(value, dict) and set(value) == {"$ref"} else value
            for name, value in converted["properties"].items()
        }
    if converted.pop("nullable", False):
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
        elif "enum" in converted and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
        elif kind is None:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def anchored(schema: Any) -> Any:
    """A schema lifted out of the document, with its local `$ref`s pointing back into it."""
    if isinstance(schema, list):
        return [anchored(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: "reference" + value if key == "$ref" and value.startswith("#") else anchored(value)
        for key, value in schema.items()
    }


class ReferenceDocument:
    """One provider's published OpenAPI document."""

    def __init__(self, path: Path, nullable_refs: bool = False) -> None:
        self.path = path
        self.nullable_refs = nullable_refs
        text = path.read_text(encoding="utf-8")
        self.document: dict[str, Any] = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)

    @cached_property
    def _registry(self) -> Registry:
        resource = Resource.from_contents(
            nullable_to_type(self.document, self.nullable_refs), default_specification=DRAFT4
        )
        return Registry().with_resource("reference", resource)

    @cached_property
    def _routes(self) -> list[tuple[str, re.Pattern[str], str]]:
        routes = []
        for template, item in self.document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            routes.extend((method, pattern, template) for method in item if method in METHODS)
        # Literal paths win over templated ones (`/v1/invoices/deleted` before `/v1/invoices/{id}`).
        return sorted(routes, key=lambda route: route[2].count("{"))

    def operation_template(self, method: str, path: str) -> str | None:
        """The document's path template for a concrete request path, or None if it documents none."""
        method = method.lower()
        for route_method, pattern, template in self._routes:
            if route_method == method and pattern.match(path):
                return template
        return None

    def operation(self, method: str, template: str) -> dict[str, Any]:
        return self.document["paths"][template][method.lower()]

    def response_schema(self, method: str, template: str, status: int) -> Any | None:
        """The schema the document gives for a status (or its range, or `default`), else None."""
        responses = self.operation(method, template).get("responses", {})
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if response is None:
            return None
        response = self._resolve(response)
        media = (response.get("content") or {}).get("application/json") or {}
        return media.get("schema")

    def documents_status(self, method: str, template: str, status: int) -> bool:
        responses = self.operation(method, template).get("responses", {})
        return any(key in responses for key in (str(status), f"{str(status)[0]}XX", "default"))

    def response_errors(
        self, method: str, path: str, status: int, body: Any, selected_fields: bool = False
    ) -> list[str]:
        """Why `body` breaks the document's schema for this request and status ([] when it conforms).

        A request path the document has no operation for, or a status it has no
        schema for, is reported too: the sandbox then serves something the
        provider does not document. An answer to a sparse-fields selection
        (`selected_fields`) holds only the fields asked for, so the schema's
        `required` lists do not apply to it; everything else does.
        """
        template = self.operation_template(method, path)
        if template is None:
            return [f"{method.upper()} {path}: the document has no such operation"]
        schema = self.response_schema(method, template, status)
        if schema is None:
            return []
        validator = Draft4Validator(anchored(nullable_to_type(schema, self.nullable_refs)), registry=self._registry)
        where = f"{method.upper()} {template} {status}"
        return [
            f"{where}: {'/'.join(map(str, error.absolute_path)) or '(body)'}: {error.message}"
            for error in validator.iter_errors(body)
            if not (selected_fields and error.validator == "required")
        ]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self._registry.resolver().lookup("reference" + node["$ref"]).contents
        return node

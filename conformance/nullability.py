"""Where a provider's document says a field may be null, the sandbox's spec must say so too.

`nullable_paths` lists the places (property names, `[]` for an array's items)
a reference schema marks `nullable: true`; `refuses_null` says whether the
sandbox's schema refuses null at such a place. A place the sandbox's schema does
not describe is not compared (the sandbox does not model that field).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator

Path = tuple[str, ...]
MAX_DEPTH = 8  # the documents' schemas nest a few levels; recursive ones stop here


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def nullable_paths(document: dict[str, Any], schema: Any, path: Path = ()) -> Iterator[Path]:
    """Every place in a reference (OpenAPI 3.0) schema whose value the document allows to be null."""
    schema = resolve(document, schema)
    if not isinstance(schema, dict) or len(path) > MAX_DEPTH:
        return
    if path and schema.get("nullable"):
        yield path
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            yield from nullable_paths(document, branch, path)
    for name, sub in (schema.get("properties") or {}).items():
        yield from nullable_paths(document, sub, (*path, name))
    if "items" in schema:
        yield from nullable_paths(document, schema["items"], (*path, "[]"))


def places(schema: Any, path: Path) -> list[Any] | None:
    """The subschemas of an (inlined, JSON Schema 2020-12) sandbox schema that constrain the value at `path`.

    None when the schema does not describe that place.
    """
    if not path:
        return [schema]
    if not isinstance(schema, dict):
        return None
    head, rest = path[0], path[1:]
    found: list[Any] = []
    described = False
    children = [schema.get("items")] if head == "[]" else [(schema.get("properties") or {}).get(head)]
    for child in children:
        if child is not None:
            below = places(child, rest)
            if below is not None:
                described = True
                found.extend(below)
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key, []):
            below = places(branch, path)
            if below is not None:
                described = True
                found.extend(below)
    return found if described else None


def refuses_null(schema: Any, path: Path) -> bool:
    """True when the sandbox's schema describes `path` and some constraint there refuses null."""
    constraints = places(schema, path)
    if not constraints:
        return False
    return any(not Draft202012Validator(constraint).is_valid(None) for constraint in constraints)

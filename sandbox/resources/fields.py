"""Sparse field selection: a parameter such as `fields={"only": ["id", {"assigned_to_user": ["name"]}]}`.

The selectable fields are the wire schema's properties; nested selections are
allowed for properties that are objects (or lists of objects).
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.errors import ApiError, ErrorKind

Selection = dict[str, set[str] | None]  # field -> chosen subfields (None: all of them)
Record = dict[str, Any]


def parse_selection(raw: str, selectable: dict[str, set[str] | None], param: str = "fields") -> Selection:
    """`{"only": [...]}` as a selection; a 4xx naming what is wrong otherwise."""

    def invalid(reason: str) -> ApiError:
        return ApiError(ErrorKind.INVALID, f"{param} is invalid: {reason}", field=param)

    try:
        parsed = json.loads(raw)
    except ValueError:
        raise invalid('expected a JSON object such as {"only": ["id", "subject"]}') from None
    if not isinstance(parsed, dict) or set(parsed) != {"only"} or not isinstance(parsed["only"], list):
        raise invalid('expected a JSON object with one key, "only", holding a list')
    selection: Selection = {}
    for item in parsed["only"]:
        if isinstance(item, str):
            if item not in selectable:
                raise invalid(f"unknown field {item!r}")
            selection[item] = None
        elif isinstance(item, dict):
            for name, subfields in item.items():
                allowed = selectable.get(name)
                if allowed is None:
                    raise invalid(f"{name!r} has no nested fields")
                if not isinstance(subfields, list) or not all(isinstance(s, str) for s in subfields):
                    raise invalid(f"the fields of {name!r} must be a list of names")
                unknown = sorted(set(subfields) - allowed)
                if unknown:
                    raise invalid(f"unknown field {name}.{unknown[0]}")
                selection[name] = set(subfields)
        else:
            raise invalid("each entry of only must be a field name or an object")
    return selection


def select(
    record: Record,
    selection: Selection,
    hidden: frozenset[str] = frozenset(),
    defaults: Record | None = None,
    omit_absent: bool = False,
) -> Record:
    """The selected fields of a record; a field the record does not hold shows its default (else null, or
    nothing at all with `omit_absent`)."""
    shown: Record = {}
    for name, subfields in selection.items():
        if name in hidden:
            continue
        if name not in record and omit_absent and name not in (defaults or {}):
            continue
        value = record.get(name, (defaults or {}).get(name))
        if subfields is not None and isinstance(value, dict):
            value = {key: v for key, v in value.items() if key in subfields}
        elif subfields is not None and isinstance(value, list):
            value = [{key: v for key, v in item.items() if key in subfields} for item in value]
        shown[name] = value
    return shown

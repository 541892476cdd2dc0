"""Fixture files: YAML records that seed every new tenant, validated against the specs.

A fixtures file is a mapping from collection name to a list of records. Each
record must satisfy the schema its provider declares for that collection; every
problem is reported with the file, the record and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sandbox.provider import Provider
from sandbox.spec import Spec, inline_refs, load_yaml
from sandbox.store import Record, Store
from sandbox.validation import compile_schema, to_api_error

Fixtures = dict[str, list[Record]]


class FixtureError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_fixture_text(text: str, source: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise FixtureError([f"{source}: not valid YAML or JSON: {exc}"]) from None


def read_fixture_file(path: Path) -> Any:
    return parse_fixture_text(path.read_text(encoding="utf-8"), str(path))


def record_schema(provider: Provider, spec: Spec, collection: str) -> dict[str, Any]:
    declared = provider.fixture_schemas[collection]
    if isinstance(declared, str):
        return spec.component_schema(declared)
    return inline_refs(declared, spec.raw, spec.source)


def fixture_problems(provider: Provider, spec: Spec, data: Any, source: str, store: Store | None = None) -> list[str]:
    """Every problem with a provider's fixture data; an empty list when it is valid."""
    if data is None:
        return []
    if not isinstance(data, dict):
        return [f"{source}: expected a mapping of collection name to a list of records"]
    problems: list[str] = []
    for collection, records in data.items():
        if collection not in provider.fixture_schemas:
            known = ", ".join(sorted(provider.fixture_schemas))
            problems.append(f"{source}: unknown collection '{collection}' for {provider.name} (known: {known})")
            continue
        if not isinstance(records, list):
            problems.append(f"{source}: {collection}: expected a list of records")
            continue
        validator = compile_schema(record_schema(provider, spec, collection))
        seen: set[str] = set()
        for index, record in enumerate(records):
            where = describe_record(source, collection, index, record)
            if not isinstance(record, dict):
                problems.append(f"{where}: expected a mapping of field to value")
                continue
            for error in sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path))):
                problem = to_api_error(error)
                problems.append(f"{where}: field '{problem.field or '(record)'}': {problem.message}")
            try:
                key = str(provider.fixture_key(collection, record))
            except KeyError:
                continue  # the schema's `required` already reported the missing key
            if key in seen:
                problems.append(f"{where}: duplicate key {key!r} in {collection}")
            seen.add(key)
    if not problems:
        declared = provider.resources.fixture_references(data, store) if provider.resources is not None else []
        own = provider.fixture_references(data, store)
        ordered = sorted([*declared, *own], key=lambda problem: record_position(problem, list(data)))
        problems.extend(f"{source}: {problem}" for problem in ordered)
    return problems


_POSITION = re.compile(r"(\w+)\[(\d+)\]")


def record_position(problem: str, collections: list[str]) -> tuple[int, int]:
    """Where a problem's record stands in the data (`tasks[2] ...`), so problems read in file order."""
    found = _POSITION.match(problem)
    if found is None or found.group(1) not in collections:
        return (-1, -1)
    return (collections.index(found.group(1)), int(found.group(2)))


def describe_record(source: str, collection: str, index: int, record: Any) -> str:
    label = ""
    if isinstance(record, dict):
        for key in ("id", "token", "slug", "name"):
            if key in record:
                label = f" ({key}={record[key]!r})"
                break
    return f"{source}: {collection}[{index}]{label}"


def validated(provider: Provider, spec: Spec, data: Any, source: str) -> Fixtures:
    problems = fixture_problems(provider, spec, data, source)
    if problems:
        raise FixtureError(problems)
    return data or {}


def load_fixture_dir(
    directory: Path | None, providers: dict[str, Provider], specs: dict[str, Spec]
) -> dict[str, Fixtures]:
    """Read and validate `<provider>.yaml` for each provider; raise FixtureError listing every problem."""
    loaded: dict[str, Fixtures] = {}
    problems: list[str] = []
    for name, provider in providers.items():
        path = directory / f"{name}.yaml" if directory else None
        if path is None or not path.exists():
            loaded[name] = {}
            continue
        try:
            data = read_fixture_file(path)
            problems.extend(fixture_problems(provider, specs[name], data, str(path)))
            loaded[name] = data or {}
        except FixtureError as exc:
            problems.extend(exc.problems)
    if problems:
        raise FixtureError(problems)
    return loaded

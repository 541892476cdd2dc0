"""Providers declare their own admin test helpers (`@admin_action` + `specs/<name>.admin.yaml`).

The admin API itself (sandbox/admin.py, specs/sandbox.yaml) names no provider;
the engine mounts each provider's admin spec under /__sandbox.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import providers
from sandbox.engine import Engine, Settings
from sandbox.spec import SPECS_DIR, SpecError

ROOT = SPECS_DIR.parent
PROVIDERS = sorted(providers.discover())


def test_the_admin_module_imports_no_provider() -> None:
    tree = ast.parse((ROOT / "sandbox" / "admin.py").read_text(encoding="utf-8"))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if name.startswith("sandbox.providers")]
    source = (ROOT / "sandbox" / "admin.py").read_text(encoding="utf-8").lower()
    assert not [name for name in PROVIDERS if name in source]


def test_the_admin_spec_declares_nothing_of_a_provider() -> None:
    spec = yaml.safe_load((SPECS_DIR / "sandbox.yaml").read_text(encoding="utf-8"))
    names = [*spec["paths"], *spec["components"]["schemas"]]
    names += [op["operationId"] for item in spec["paths"].values() for op in item.values() if "operationId" in op]
    assert not [name for name in names for provider in PROVIDERS if provider in name.lower()]


def test_every_admin_action_is_served_under_its_providers_prefix() -> None:
    engine = Engine(Settings())
    assert sorted(engine.admin_specs) == ["debitura"]
    served = {op.operation_id: op for op in engine.admin.operations}
    for name, spec in engine.admin_specs.items():
        assert set(engine.providers[name].admin_actions) == {op.operation_id for op in spec.operations}
        for op in spec.operations:
            assert served[op.operation_id] is op
            assert op.path.startswith(f"/tenants/{{credential}}/{name}/")


def specs_copy(tmp_path: Path, change: Any) -> Path:
    specs = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, specs)
    path = specs / "debitura.admin.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(spec)
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return specs


def test_an_admin_spec_outside_its_providers_prefix_is_refused(tmp_path: Path) -> None:
    def move(spec: dict[str, Any]) -> None:
        spec["paths"]["/tenants/{credential}/elsewhere/{id}/resolve"] = spec["paths"].pop(
            "/tenants/{credential}/debitura/tasks/{id}/resolve"
        )

    with pytest.raises(SpecError, match=re.escape("must be served under /tenants/{credential}/debitura/")):
        Engine(Settings(specs_dir=specs_copy(tmp_path, move), fixtures_dir=None))


def test_an_admin_operation_without_an_action_is_refused(tmp_path: Path) -> None:
    def rename(spec: dict[str, Any]) -> None:
        spec["paths"]["/tenants/{credential}/debitura/tasks/{id}/resolve"]["post"]["operationId"] = "nobodysAction"

    with pytest.raises(SpecError, match="nobodysAction"):
        Engine(Settings(specs_dir=specs_copy(tmp_path, rename), fixtures_dir=None))


def test_admin_actions_without_their_spec_are_refused(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(SPECS_DIR, specs)
    (specs / "debitura.admin.yaml").unlink()
    with pytest.raises(SpecError, match="declares admin actions"):
        Engine(Settings(specs_dir=specs, fixtures_dir=None))

"""No import cycles between the modules of `sandbox/`.

Every `import sandbox...` / `from sandbox... import ...` counts, wherever it
is written: at the top, inside a function, or under `if TYPE_CHECKING:`. A
cycle hidden behind TYPE_CHECKING or a function-level import is still two
modules that need each other; break it by moving the shared type to the
module that owns it or by passing the thing in (see `sandbox.provider.Sandbox`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import sandbox

PACKAGE = Path(sandbox.__file__).resolve().parent
Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = ["sandbox", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The `sandbox.*` modules a module imports (for `from x import y`, `x.y` when that is a module)."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # `import sandbox.a.b` also runs sandbox/a/__init__.py: count the deepest module named.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> Graph:
    paths = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    modules = set(paths)
    return {
        name: imported_modules(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", modules)
        for name, path in paths.items()
    }


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None (depth-first search, deterministic order)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(sorted(graph.get(start, ())))]
        while stack:
            successor = next(stack[-1], None)
            if successor is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
                continue
            if successor in on_path:
                return [*path[path.index(successor) :], successor]
            if successor not in done:
                path.append(successor)
                on_path.add(successor)
                stack.append(iter(sorted(graph.get(successor, ()))))
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_every_kind_of_import() -> None:
    source = """
from typing import TYPE_CHECKING
import sandbox.spec
from sandbox import store
from . import clock
from .providers import payt
if TYPE_CHECKING:
    from sandbox.engine import Engine
def late():
    from sandbox.errors import ApiError
"""
    modules = {"sandbox", "sandbox.spec", "sandbox.store", "sandbox.clock", "sandbox.engine", "sandbox.errors",
               "sandbox.providers", "sandbox.providers.payt", "sandbox.provider"}
    found = imported_modules(ast.parse(source), "sandbox.provider", False, modules)
    assert found == modules - {"sandbox.provider"}


def test_sandbox_has_no_import_cycles() -> None:
    graph = import_graph()
    assert "sandbox.engine" in graph and "sandbox.provider" in graph["sandbox.engine"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])

"""Provider modules. Each module here defines one `Provider` subclass; they are found at start-up."""

from __future__ import annotations

import importlib
import pkgutil

from sandbox.provider import Provider


def discover() -> dict[str, type[Provider]]:
    """Every Provider subclass defined in this package, by name."""
    found: dict[str, type[Provider]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Provider) and value.__module__ == module.__name__:
                found[value.name] = value
    return dict(sorted(found.items()))

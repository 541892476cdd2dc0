"""A provider made of a spec alone: for specs whose `x-sandbox` block says everything.

A spec in the specs folder with an `x-sandbox` block and no module in
`sandbox/providers/` is served by a `DeclaredProvider`: credentials as its
security schemes say (sandbox.credentials), errors `{"code", "message"}` (statuses overridable with
`x-sandbox.error-statuses`, e.g. `{invalid: 422}`), and the generic handlers
of its declared resources.
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Provider
from sandbox.spec import Spec


class DeclaredProvider(Provider):
    name = "declared"

    def __init__(self, spec: Spec) -> None:
        block = spec.raw.get("x-sandbox") or {}
        self.name = spec.name  # type: ignore[misc]
        self.mount = block.get("mount", f"/{spec.name}")  # type: ignore[misc]
        self.error_statuses = {ErrorKind(kind): status for kind, status in (block.get("error-statuses") or {}).items()}  # type: ignore[misc]

    def error_body(self, error: ApiError, status: int) -> Any:
        return {"code": self.error_code(error), "message": error.message}

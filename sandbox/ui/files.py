"""The dashboard's files, read from the package (`sandbox/ui/static/`, shipped as package data)."""

from __future__ import annotations

import functools
from importlib import resources

from sandbox.errors import ApiError, ErrorKind
from sandbox.reply import Reply

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page runs only its own scripts and styles and talks only to this server.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}


@functools.cache
def read_static(name: str) -> str | None:
    """A file of `static/` by name (no directories), or None; read once."""
    found = resources.files(__package__).joinpath("static", name)
    return found.read_text(encoding="utf-8") if found.is_file() else None


def static_reply(name: str) -> Reply:
    suffix = name[name.rfind(".") :]
    text = read_static(name) if suffix in MEDIA_TYPES else None
    if text is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"The dashboard has no file {name}.")
    return Reply(text, headers={"content-type": MEDIA_TYPES[suffix], **SECURITY_HEADERS})

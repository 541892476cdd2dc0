"""`sandbox serve --access-log`: uvicorn's access log, with credentials in admin URLs masked.

Admin paths name a tenant by its credential (`/__sandbox/tenants/<credential>/...`);
the log shows it masked the way the journal masks secret headers
(`****` and, for long credentials, their last four characters).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from sandbox.journal import mask

_TENANT_PATH = re.compile(r"(/__sandbox/tenants/)([^/?#]+)")


def masked_path(path: str) -> str:
    return _TENANT_PATH.sub(lambda match: match.group(1) + mask(unquote(match.group(2))), path)


class MaskCredentials(logging.Filter):
    """Masks the credential in the path argument of uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], masked_path(args[2]), *args[3:])
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(MaskCredentials())

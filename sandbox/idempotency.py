"""`Idempotency-Key` replay, for providers whose writes accept one.

The first successful answer to a key is kept in the tenant's store and
returned again for a retry of the same request (same operation, path and
body). The same key with another request is refused with the provider's own
error. Refused requests are not kept: they changed nothing, so a retry runs
them again.

A provider sets `idempotency = idempotent(...)` on its class: the engine then wraps the handler
(its own or a generic one) of every operation whose spec declares the `Idempotency-Key` header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from sandbox.errors import ApiError
from sandbox.provider import Call, Handler, Reply
from sandbox.store import ENGINE_COLLECTION_PREFIX, Store, thaw

COLLECTION = ENGINE_COLLECTION_PREFIX + "idempotency"
HEADER = "Idempotency-Key"

# (key, operationId of the first request) -> the provider's error for a reused key
ConflictError = Callable[[str, str], ApiError]


def idempotent(conflict: ConflictError, ttl_seconds: float | None = None) -> Callable[[Handler], Handler]:
    """Make a handler replay its first success for an `Idempotency-Key` (kept `ttl_seconds`, or for ever)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        def run(provider: Any, call: Call) -> Any:
            key = call.headers.get(HEADER)
            if key is None:
                return handler(provider, call)
            now = call.clock_now.timestamp()
            store = call.records
            drop_expired(store, now)
            saved = store.collection(COLLECTION)
            fingerprint = request_fingerprint(call)
            previous = saved.get(key)
            if previous is not None:
                if previous["request"] != fingerprint:
                    raise conflict(key, previous["operation"])
                return Reply(thaw(previous["body"]), previous["status"])
            result = handler(provider, call)
            reply = result if isinstance(result, Reply) else Reply(result)
            if 200 <= reply.status < 300:
                store.put(
                    COLLECTION,
                    {
                        "id": key,
                        "operation": call.operation.operation_id,
                        "request": fingerprint,
                        "status": reply.status,
                        "body": reply.body,
                        "expires_at": None if ttl_seconds is None else now + ttl_seconds,
                    },
                )
            return reply

        return run

    return decorate


def drop_expired(store: Store, now: float) -> None:
    """Remove expired keys; they are kept oldest first, so stop at the first live one."""
    saved = store.collection(COLLECTION)
    while saved:
        oldest = next(iter(saved.values()))
        if oldest["expires_at"] is None or oldest["expires_at"] > now:
            return
        store.remove(COLLECTION, oldest["id"])


def request_fingerprint(call: Call) -> str:
    request = [call.operation.operation_id, call.path, call.body]
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

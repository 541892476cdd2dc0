"""Sending webhook deliveries: HTTP POSTs off the request path, retried on the tenant clock.

The engine owns one `Dispatcher`. After each call it `flush`es the tenants
the call emitted events for, and before each call (and after a clock change)
it `pump`s the tenant: every delivery due by the tenant's time is signed as
its provider signs and handed to worker threads, which post it and queue the
outcome. Outcomes are written back into the tenant's store by the next pump,
on the thread that serves requests, so the store is only ever changed there.

A failed attempt schedules the next one after the provider's retry delay on
the tenant clock (`events.DUE`): advancing the clock drives retries. A
receiver that is slow or never answers holds a worker thread, never a request.

Fault rules with `target: deliveries` (see sandbox.faults) fail, delay or
time out attempts whose subscriber URL matches their glob.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from sandbox import events
from sandbox.clock import iso8601, precise
from sandbox.faults import FaultRule, FaultSet
from sandbox.schedule import scheduled
from sandbox.store import Record, Store

logger = logging.getLogger("sandbox.webhooks")

WORKERS = 8
RESPONSE_EXCERPT = 512  # bytes of a receiver's answer kept with a failed attempt


class WebhookProvider(Protocol):
    name: str
    webhooks: events.WebhookStyle | None


class Tenants(Protocol):
    def find(self, credential: str) -> Any: ...


@dataclass
class Job:
    """One attempt to post a delivery, with everything the worker needs (it never reads the store)."""

    credential: str
    provider: str
    store: Store
    delivery_id: str
    number: int
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: float
    fault: FaultRule | None = None
    strict: bool = False
    loop: asyncio.AbstractEventLoop | None = None


@dataclass
class Outcome:
    job: Job
    response_code: int | None
    error: str | None
    duration_ms: float
    succeeded: bool = field(init=False)

    def __post_init__(self) -> None:
        self.succeeded = self.error is None and self.response_code is not None and 200 <= self.response_code < 300


class Dispatcher:
    def __init__(
        self, tenants: Tenants, providers: Mapping[str, WebhookProvider], faults: FaultSet, strict: bool = False
    ) -> None:
        self.tenants = tenants
        self.styles = {name: p.webhooks for name, p in providers.items() if getattr(p, "webhooks", None)}
        self.faults = faults
        self.strict = strict
        self.touched: dict[str, Any] = {}  # credential -> tenant with new deliveries
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._in_flight = 0
        # (store, delivery) of the attempts under way: a delivery marked `sending` but not here was
        # interrupted (a snapshot or a persisted store restored mid-attempt) and is attempted again.
        self._sending: set[tuple[int, str]] = set()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    # -- the request path -----------------------------------------------------

    def touch(self, tenant: Any) -> None:
        self.touched[tenant.credential] = tenant

    def flush(self) -> None:
        """Send what the calls just answered emitted."""
        touched, self.touched = self.touched, {}
        for tenant in touched.values():
            self.pump(tenant)

    def pump(self, tenant: Any) -> None:
        """Write back finished attempts, then start every delivery of the tenant due by its time."""
        self.collect()
        now: datetime | None = None
        for name in self.styles:  # only providers that send webhooks keep events (this runs before every call)
            store = tenant.stores.get(name)
            if store is None:
                continue
            events.bound(store, tenant.history_limit)  # outside any transaction: see events.bound
            if not store.count(events.DELIVERIES):
                continue
            now = now or tenant.clock.now()
            for _, _, key in scheduled(store, (events.DELIVERIES,), events.DUE).due(now.timestamp()):
                if (id(store), key) not in self._sending:
                    self.start(tenant, name, store, key, now)

    def collect(self) -> list[Any]:
        """Write the outcome of every finished attempt into its tenant's store (if that store still exists).

        Answers the tenants written to.
        """
        written: list[Any] = []
        if self._outcomes.empty():
            return written  # the usual case, before every call: no exception raised and caught
        while True:
            try:
                outcome = self._outcomes.get_nowait()
            except queue.Empty:
                return written
            job = outcome.job
            self._sending.discard((id(job.store), job.delivery_id))
            tenant = self.tenants.find(job.credential)
            if tenant is not None and tenant.stores.get(job.provider) is job.store:
                self.finish(tenant, job.store, outcome)
                written.append(tenant)

    def wake(self) -> None:
        """On the serving thread, when an attempt has finished: record it, and send what is due now.

        A retry whose time the tenant clock passed while the attempt was under
        way goes out at once, not at the tenant's next call.
        """
        for tenant in {id(tenant): tenant for tenant in self.collect()}.values():
            self.pump(tenant)
        if self.tenants.persistent:
            self.tenants.flush()  # outcomes written outside any request are on disk too (`serve --state`)

    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- attempts -------------------------------------------------------------

    def start(self, tenant: Any, provider: str, store: Store, key: str, now: datetime) -> None:
        delivery = store.get(events.DELIVERIES, key)
        if delivery is None:
            return
        target = events.subscription(store, delivery["subscription"])
        if target is None or not target["active"]:
            store.update(events.DELIVERIES, key, {"status": "failed", "error": "subscription removed or disabled"})
            events.unschedule(store, key)
            return
        if target["paused"]:
            return  # held until the subscription is resumed
        if delivery["status"] == "sending":
            delivery = interrupted(store, delivery)
        try:
            job = self.prepare(tenant, provider, store, delivery, target, now)
        except Exception as exc:  # a sandbox bug: fail this delivery, never the call that triggered the pump
            logger.exception("webhook delivery %s could not be prepared", key)
            store.update(events.DELIVERIES, key, {"status": "failed", "error": f"sandbox error: {exc}"})
            events.unschedule(store, key)
            return
        self.submit(job)

    def prepare(self, tenant: Any, provider: str, store: Store, delivery: Record, target: Record, now: datetime) -> Job:
        """Mark the delivery as being sent (attempt n started now) and build its signed request."""
        style = self.styles[provider]
        number = len(delivery["attempts"]) + 1
        attempt = {
            "number": number,
            "time": iso8601(now),
            "status": "sending",
            "response_code": None,
            "duration_ms": None,
            "error": None,
        }
        # The delivery stays due: while the attempt is under way `pump` skips it (`_sending`).
        changes = {"status": "sending", "attempts": [*delivery["attempts"], attempt]}
        store.update(events.DELIVERIES, delivery["id"], changes)
        body = delivery["body"].encode("utf-8")
        headers = {"Content-Type": "application/json", **style.headers}
        headers.update(style.sign(target, delivery, body, int(now.timestamp())))
        fault = tenant.faults.firing("POST", target["url"], target="deliveries") or self.faults.firing(
            "POST", target["url"], target="deliveries"
        )
        self._sending.add((id(store), delivery["id"]))
        return Job(
            credential=tenant.credential,
            provider=provider,
            store=store,
            delivery_id=delivery["id"],
            number=number,
            url=target["url"],
            headers=headers,
            body=body,
            timeout=style.timeout_seconds,
            fault=fault,
            strict=self.strict,
        )

    def finish(self, tenant: Any, store: Store, outcome: Outcome, retry: bool = True) -> Record | None:
        """Record an attempt's outcome; a failure schedules the next attempt, or gives up after the last."""
        job = outcome.job
        delivery = store.get(events.DELIVERIES, job.delivery_id)
        if delivery is None or len(delivery["attempts"]) != job.number:
            return None
        style = self.styles[job.provider]
        attempts = [dict(attempt) for attempt in delivery["attempts"]]
        attempt = attempts[-1]
        attempt.update(
            status="succeeded" if outcome.succeeded else "failed",
            response_code=outcome.response_code,
            duration_ms=round(outcome.duration_ms, 3),
            error=None if outcome.succeeded else outcome.error or f"the receiver answered {outcome.response_code}",
        )
        changes: Record = {"attempts": attempts, "error": attempt["error"]}
        started = datetime.fromisoformat(attempt["time"].replace("Z", "+00:00"))
        if outcome.succeeded:
            changes.update(status="delivered", deliveredAt=iso8601(tenant.clock.now()))
        elif retry and job.number <= len(style.retry_delays):
            changes.update(status="pending")
            changes[events.DUE] = precise(started + timedelta(seconds=style.retry_delays[job.number - 1]))
        else:
            changes.update(status="failed")
            target = events.subscription(store, delivery["subscription"])
            if retry and style.disable_after_final_failure and target is not None:
                reason = f"Disabled after the final attempt of delivery {delivery['id']} failed."
                events.change_subscription(
                    store, tenant.clock.now(), target["id"], {"active": False, "disabledReason": reason}
                )
        store.update(events.DELIVERIES, job.delivery_id, changes)
        if changes["status"] != "pending":
            events.unschedule(store, job.delivery_id)
        return store.get(events.DELIVERIES, job.delivery_id)

    # -- sending ----------------------------------------------------------------

    def submit(self, job: Job) -> None:
        with self._lock:
            self._in_flight += 1
            busy = self._in_flight
        if busy > len(self._workers) and len(self._workers) < WORKERS:
            worker = threading.Thread(target=self._work, name="sandbox-webhooks", daemon=True)
            self._workers.append(worker)
            worker.start()
        try:
            job.loop = asyncio.get_running_loop()  # where `wake` runs when the attempt is over
        except RuntimeError:
            job.loop = None  # no loop (a synchronous caller): the outcome waits for the tenant's next call
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                outcome = send(job)
            except Exception as exc:  # a sandbox bug must not kill the worker
                logger.exception("webhook delivery %s failed unexpectedly", job.delivery_id)
                outcome = Outcome(job, None, f"sandbox error: {exc}", 0.0)
            self._outcomes.put(outcome)
            with self._lock:
                self._in_flight -= 1
            if job.loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop has closed (an in-process test client)
                    job.loop.call_soon_threadsafe(self.wake)

    async def deliver_now(
        self, tenant: Any, provider: str, store: Store, delivery: Record, retry: bool = True
    ) -> Record | None:
        """Attempt one delivery and wait for its outcome without holding up other calls (a thread posts it)."""
        current = store.get(events.DELIVERIES, delivery["id"])
        target = events.subscription(store, delivery["subscription"])
        if current is None or target is None:
            return None
        job = self.prepare(tenant, provider, store, current, target, tenant.clock.now())
        outcome = await asyncio.get_running_loop().run_in_executor(None, send, job)
        self._sending.discard((id(store), job.delivery_id))
        if tenant.stores.get(provider) is not store:
            return None
        return self.finish(tenant, store, outcome, retry=retry)


def interrupted(store: Store, delivery: Record) -> Record:
    """A delivery whose attempt never finished here (restored mid-attempt): that attempt counts as failed."""
    attempts = [dict(attempt) for attempt in delivery["attempts"]]
    if attempts and attempts[-1]["status"] == "sending":
        attempts[-1].update(status="failed", error="interrupted: the sandbox's state was restored mid-attempt")
    return store.update(events.DELIVERIES, delivery["id"], {"status": "pending", "attempts": attempts})


class NoRedirects(HTTPRedirectHandler):
    """A redirect is an answer like any other (the attempt fails with its 3xx), not something to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = build_opener(NoRedirects())


def send(job: Job) -> Outcome:
    """Post one delivery (or play the fault rule that fired for it); never raises."""
    started = time.perf_counter()
    fault = job.fault

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    if fault is not None:
        if fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        if fault.timeout:
            return Outcome(job, None, f"timed out after {job.timeout:g} s (fault {fault.id})", elapsed())
        if fault.drop:
            return Outcome(job, None, f"the connection was closed without an answer (fault {fault.id})", elapsed())
        if fault.status is not None:
            return Outcome(job, fault.status, f"the receiver answered {fault.status} (fault {fault.id})", elapsed())
    if job.strict:
        problem = resolves_privately(job.url)
        if problem is not None:
            return Outcome(job, None, problem, elapsed())
    request = Request(job.url, data=job.body, method="POST", headers=job.headers)
    try:
        with OPENER.open(request, timeout=job.timeout) as response:
            response.read(RESPONSE_EXCERPT)
            return Outcome(job, response.status, None, elapsed())
    except HTTPError as error:
        excerpt = error.read(RESPONSE_EXCERPT).decode("utf-8", errors="replace")
        message = f"the receiver answered {error.code}" + (f": {excerpt}" if excerpt else "")
        return Outcome(job, error.code, message, elapsed())
    except TimeoutError:
        return Outcome(job, None, f"timed out after {job.timeout:g} s", elapsed())
    except (URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError | socket.timeout):
            return Outcome(job, None, f"timed out after {job.timeout:g} s", elapsed())
        return Outcome(job, None, f"could not connect: {reason}", elapsed())


def resolves_privately(url: str) -> str | None:
    """Strict mode: why a host may not be posted to (it resolves to a private address), or None."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        return f"could not resolve {host}: {error}"
    if any(events.private_host(str(address)) for address in addresses):
        return f"{host} resolves to a private address; strict mode does not post there"
    return None

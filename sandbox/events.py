"""Events and webhook subscriptions: what a provider tells its subscribers, kept in the tenant's store.

A provider records a state change with `emit(call, type, payload)` (or
`emit_in(store, now, ...)` where no call runs, as in `settle`). The event is
kept, with its time on the tenant clock and the payload in the provider's own
event shape, and one delivery is queued for every subscription that wants
its type. Sending happens elsewhere (`sandbox.delivery`), off the request path.

Everything is stored in the provider's store of the tenant, in three
collections (`EVENTS`, `SUBSCRIPTIONS`, `DELIVERIES`): written inside the
request's transaction, so a refused request emits nothing; exported and
restored with the tenant's state like any other records. Events and
deliveries are bounded like the journal, by the tenant's history limit
(`--journal-limit`, 1,000 by default): the oldest go first. An event about
something deleted for good goes with it (`forget`).

A provider that sends webhooks says how in `webhooks` (a `WebhookStyle`): the
event types it documents, how it signs a delivery and when it retries one.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from sandbox.clock import precise
from sandbox.errors import ApiError, ErrorKind
from sandbox.journal import DEFAULT_JOURNAL_LIMIT
from sandbox.store import ENGINE_COLLECTION_PREFIX, Record, Store

EVENTS = ENGINE_COLLECTION_PREFIX + "events"
SUBSCRIPTIONS = ENGINE_COLLECTION_PREFIX + "subscriptions"
DELIVERIES = ENGINE_COLLECTION_PREFIX + "deliveries"
DUE = "_deliverAt"  # a pending delivery's next attempt (tenant clock), see sandbox.schedule
ALL_EVENTS = "*"
ID_NAMESPACE = uuid.UUID("8f0e7c52-3b1d-4c59-9a86-5d2f4e0b7a31")

# (subscription, delivery, body, unix time on the tenant clock) -> the headers that sign the delivery
Signer = Callable[[Record, Record, bytes, int], dict[str, str]]
# (received headers with lower-cased names, raw body, secret) -> whether the signature holds
Verifier = Callable[[Mapping[str, str], bytes, str], bool]


def hex_secret() -> str:
    return secrets.token_hex(24)


@dataclass(frozen=True)
class WebhookStyle:
    """How a provider's webhooks work: its event catalogue, its signature, its retry schedule."""

    event_types: tuple[str, ...]
    sign: Signer
    signature_header: str  # the header carrying the signature (how a receiver tells the provider)
    verify: Verifier  # what a receiver does with it (the webhook_receiver test fixture uses it)
    # Seconds from a failed attempt to the next one; after the last, the delivery has failed for good.
    retry_delays: tuple[float, ...]
    timeout_seconds: float = 30.0
    # Invoiced disables an endpoint whose final attempt failed.
    disable_after_final_failure: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # sent with every delivery (User-Agent, ...)
    new_secret: Callable[[], str] = hex_secret  # a subscription's secret, in the provider's format


class Touches(Protocol):
    """What `emit` tells that a tenant has new deliveries (the engine's `Dispatcher`)."""

    def touch(self, tenant: Any) -> None: ...


class Emitting(Protocol):
    """What `emit` needs of a call (a `sandbox.provider.Call`)."""

    @property
    def records(self) -> Store: ...

    @property
    def clock_now(self) -> datetime: ...

    tenant: Any
    engine: Any


# -- recording ----------------------------------------------------------------


def emit(
    call: Emitting, event_type: str, payload: Any, *, event_id: str | int | None = None, subject: str | None = None
) -> Record:
    """Record an event of the call's tenant and queue it for its subscribers; sent once the call is answered."""
    event = emit_in(call.records, call.clock_now, event_type, payload, event_id=event_id, subject=subject)
    webhooks: Touches | None = getattr(call.engine, "webhooks", None)
    if webhooks is not None and call.tenant is not None:
        webhooks.touch(call.tenant)
    return event


def emit_in(
    store: Store,
    now: datetime,
    event_type: str,
    payload: Any,
    *,
    event_id: str | int | None = None,
    subject: str | None = None,
) -> Record:
    """`emit` for a store and a time (delayed work: the engine sends what is due after `settle`)."""
    event = record(store, now, event_type, payload, event_id=event_id, subject=subject)
    enqueue(store, now, event, subscribers(store, event_type))
    return event


def next_event_id(store: Store) -> int:
    """The next integer event id of this store (for providers whose event ids are integers)."""
    return store.next_id(EVENTS)


def record(
    store: Store,
    now: datetime,
    event_type: str,
    payload: Any,
    *,
    event_id: str | int | None = None,
    subject: str | None = None,
) -> Record:
    """Keep an event (not delivered); `bound` drops the oldest beyond the history limit once the call is answered."""
    key = event_id if event_id is not None else next_event_id(store)
    # `time`: seconds since the epoch on the tenant clock (a number: cheaper to write on every emit than text)
    event = {"id": key, "type": event_type, "time": now.timestamp(), "subject": subject, "body": encode(payload)}
    return store.put(EVENTS, event)


def encode(payload: Any) -> str:
    """The payload as the JSON text delivered (kept as text: the exact bytes signed, and cheap to store)."""
    return orjson.dumps(payload).decode("utf-8")


def payload_of(record: Record) -> Any:
    """The payload of an event or a delivery, as JSON data."""
    return orjson.loads(record["body"])


def events(store: Store) -> list[Record]:
    """The store's events, oldest first."""
    return list(store.collection(EVENTS).values())


def bound(store: Store, limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
    """Drop the oldest events and deliveries beyond `limit` each (the tenant's `history_limit`).

    Run outside the request's transaction (by the dispatcher, after the call):
    inside one, each removal would be logged for undoing, at a cost growing
    with the collection, on every call that emits.
    """
    limit = max(limit, 1)  # a tenant keeping no journal (`--journal-limit 0`) still sends its newest webhook
    for collection in (EVENTS, DELIVERIES):
        if store.count(collection) <= limit:
            continue
        records = store.collection(collection)
        while len(records) > limit:
            store.remove(collection, next(iter(records)))


def forget(store: Store, subjects: Iterable[str]) -> None:
    """Drop the events about these subjects (deleted for good, so nothing can ask about them again).

    Deliveries carry their own copy of the payload, so those sent or pending are unchanged.
    """
    gone = set(subjects)
    if not gone or not store.count(EVENTS):
        return
    for event in [event for event in store.collection(EVENTS).values() if event["subject"] in gone]:
        store.remove(EVENTS, event["id"])


# -- subscriptions ------------------------------------------------------------


def subscribers(store: Store, event_type: str) -> list[Record]:
    """The subscriptions that receive an event of this type (active ones; paused ones hold their deliveries)."""
    if not store.count(SUBSCRIPTIONS):
        return []  # the usual case, on every emit
    return [
        subscription
        for subscription in store.collection(SUBSCRIPTIONS).values()
        if subscription["active"] and wants(subscription, event_type)
    ]


def wants(subscription: Record, event_type: str) -> bool:
    return ALL_EVENTS in subscription["events"] or event_type in subscription["events"]


def subscribe(
    store: Store,
    now: datetime,
    provider: str,
    url: str,
    event_types: Iterable[str],
    secret: str,
    extra: Record | None = None,
) -> Record:
    """A new active subscription; `extra` holds provider fields the engine does not read (Debitura's test mode)."""
    number = store.next_id(SUBSCRIPTIONS)
    subscription = {
        "id": str(uuid.uuid5(ID_NAMESPACE, f"{provider}:subscription:{number}")),
        "provider": provider,
        "url": url,
        "events": list(event_types),
        "secret": secret,
        "active": True,
        "paused": False,
        "disabledReason": None,
        "created": precise(now),
        "updated": precise(now),
        "extra": extra or {},
    }
    return store.insert(SUBSCRIPTIONS, subscription)


def subscription(store: Store, subscription_id: str) -> Record | None:
    return store.get(SUBSCRIPTIONS, subscription_id.lower())


def subscriptions(store: Store) -> list[Record]:
    return list(store.collection(SUBSCRIPTIONS).values())


def change_subscription(store: Store, now: datetime, subscription_id: str, changes: Record) -> Record:
    return store.update(SUBSCRIPTIONS, subscription_id, {**changes, "updated": precise(now)})


def unsubscribe(store: Store, subscription_id: str) -> None:
    """Remove a subscription; its deliveries still pending are dropped (there is nowhere to send them)."""
    store.remove(SUBSCRIPTIONS, subscription_id)
    for delivery in list(store.collection(DELIVERIES).values()):
        if delivery["subscription"] == subscription_id and delivery["status"] == "pending":
            store.update(DELIVERIES, delivery["id"], {"status": "failed", "error": "subscription deleted"})
            unschedule(store, delivery["id"])


def check_event_types(
    style: WebhookStyle, event_types: Iterable[str], field: str, allow_all: bool = True, report_field: bool = True
) -> list[str]:
    """The event types asked for, each one the provider documents or `*` (400 naming the first unknown one).

    `report_field` False leaves the field out of the error (for an envelope that has no place for it).
    """
    wanted = list(event_types)
    for event_type in wanted:
        if not (allow_all and event_type == ALL_EVENTS) and event_type not in style.event_types:
            known = ", ".join(style.event_types)
            raise ApiError(
                ErrorKind.INVALID,
                f"Unknown event type {event_type!r} in {field}; use one of {known}.",
                field=field if report_field else None,
                code="InvalidEventType",
            )
    return wanted


# -- receivers' addresses -----------------------------------------------------


def check_url(url: str, strict: bool, field: str = "url", report_field: bool = True) -> str:
    """A subscriber URL the sandbox will post to (400 naming why not).

    By default http:// and loopback or private hosts are accepted (a
    developer's receiver runs there); `strict` refuses them, as the real
    providers do.
    """
    problem = url_problem(url, strict)
    if problem is not None:
        reported = field if report_field else None
        raise ApiError(ErrorKind.INVALID, f"{field} {problem}", field=reported, code="InvalidWebhookUrl")
    return url


def url_problem(url: str, strict: bool) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL."
    if any(character.isspace() for character in url):
        return "must not contain spaces."
    if port == 0:
        return "has no valid port."
    if not strict:
        return None
    if parts.scheme != "https":
        return "must use HTTPS."
    if private_host(parts.hostname):
        return "must be publicly reachable: private, loopback and link-local addresses are blocked."
    return None


def private_host(host: str) -> bool:
    """A host that names this machine or a private network (literal addresses and `localhost` names)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost") or name.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return not address.is_global


# -- deliveries ---------------------------------------------------------------


def enqueue(
    store: Store, now: datetime, event: Record, targets: Iterable[Record], *, replay: bool = False
) -> list[Record]:
    """One pending delivery of the event per subscription, due now."""
    queued = []
    for target in targets:
        number = store.next_id(DELIVERIES)
        delivery = {
            "id": str(uuid.uuid5(ID_NAMESPACE, f"{target['provider']}:delivery:{number}")),
            "provider": target["provider"],
            "event": event["id"],
            "type": event["type"],
            "subject": event["subject"],
            "subscription": target["id"],
            "body": event["body"],
            "replay": replay,
            "status": "pending",
            "created": precise(now),
            "deliveredAt": None,
            "error": None,
            "attempts": [],
            DUE: precise(now),
        }
        queued.append(store.insert(DELIVERIES, delivery))
    return queued


def deliveries(store: Store) -> list[Record]:
    """The store's deliveries, oldest first."""
    return list(store.collection(DELIVERIES).values())


def delivery(store: Store, delivery_id: str) -> Record | None:
    return store.get(DELIVERIES, delivery_id.lower())


def redeliver(store: Store, now: datetime, original: Record) -> Record:
    """A fresh delivery (attempt 1, due now) of a delivery's payload to its subscription, marked as a replay."""
    event = {"id": original["event"], "type": original["type"], "subject": original["subject"]}
    event["body"] = original["body"]
    target = subscription(store, original["subscription"])
    if target is None:
        raise ApiError(ErrorKind.NOT_FOUND, "The subscription of this delivery no longer exists.")
    return enqueue(store, now, event, [target], replay=True)[0]


def unschedule(store: Store, delivery_id: str) -> None:
    current = store.get(DELIVERIES, delivery_id)
    if current is not None and DUE in current:
        store.put(DELIVERIES, {key: value for key, value in current.items() if key != DUE})


def shown_delivery(delivery: Record) -> Record:
    """A delivery as the admin API shows it."""
    return {
        "id": delivery["id"],
        "provider": delivery["provider"],
        "event": {"id": str(delivery["event"]), "type": delivery["type"]},
        "subscription": delivery["subscription"],
        "status": delivery["status"],
        "replay": delivery["replay"],
        "created": delivery["created"],
        "next_attempt_at": delivery.get(DUE),
        "delivered_at": delivery["deliveredAt"],
        "attempts": list(delivery["attempts"]),
        "payload": payload_of(delivery),
    }

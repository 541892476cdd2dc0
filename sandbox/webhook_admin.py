"""The admin API's webhook operations: subscriptions, deliveries with their attempts, redelivery, pausing.

A mixin of `sandbox.admin.Admin` (its `@handles` methods are collected with
the admin's own). Subscriptions and deliveries live in each provider's store
of the tenant (sandbox.events); these operations look across every provider.
"""

from __future__ import annotations

from typing import Any

from sandbox import events
from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Reply, handles
from sandbox.store import Record, Store
from sandbox.tenants import Tenant


class WebhookAdmin:
    @handles("listWebhookSubscriptions")
    def list_subscriptions(self, call: Call) -> Any:
        tenant = settled_tenant(call)
        found = [
            shown_subscription(subscription)
            for store in tenant.stores.values()
            for subscription in events.subscriptions(store)
        ]
        return {"subscriptions": found}

    @handles("createWebhookSubscription")
    def create_subscription(self, call: Call) -> Reply:
        engine, body = call.engine, call.body
        provider = engine.providers.get(body["provider"])
        style = provider.webhooks if provider is not None else None
        if provider is None or style is None:
            senders = ", ".join(sorted(name for name, p in engine.providers.items() if p.webhooks)) or "none"
            raise ApiError(
                ErrorKind.INVALID,
                f"{body['provider']!r} sends no webhooks here (providers that do: {senders}).",
                field="provider",
            )
        url = events.check_url(body["url"], engine.webhooks.strict)
        wanted = events.check_event_types(style, body.get("events", [events.ALL_EVENTS]), "events")
        tenant = tenant_of(call)
        store = engine.tenants.store(tenant, provider)
        secret = body.get("secret") or style.new_secret()
        if not signs_with(style, secret):
            raise ApiError(
                ErrorKind.INVALID,
                f"{provider.name} cannot sign with this secret; leave it out to get one.",
                field="secret",
            )
        with store.transaction():
            created = events.subscribe(store, tenant.clock.now(), provider.name, url, wanted, secret)
        return Reply(shown_subscription(created), status=201)

    @handles("updateWebhookSubscription")
    def update_subscription(self, call: Call) -> Any:
        tenant = settled_tenant(call)
        store, subscription = find_subscription(tenant, call.path["id"])
        changed = events.change_subscription(store, tenant.clock.now(), subscription["id"], call.body)
        call.engine.webhooks.pump(tenant)  # resumed: what waited goes out now
        return shown_subscription(changed)

    @handles("deleteWebhookSubscription")
    def delete_subscription(self, call: Call) -> Reply:
        tenant = settled_tenant(call)
        store, subscription = find_subscription(tenant, call.path["id"])
        events.unsubscribe(store, subscription["id"])
        return Reply(status=204)

    @handles("listWebhookDeliveries")
    def list_deliveries(self, call: Call) -> Any:
        tenant = settled_tenant(call)
        query = call.query
        found = [
            events.shown_delivery(delivery)
            for name, store in tenant.stores.items()
            if query.get("provider") in (None, name)
            for delivery in events.deliveries(store)
            if query.get("status") in (None, delivery["status"]) and query.get("type") in (None, delivery["type"])
        ]
        return {"deliveries": found}

    @handles("redeliverWebhook")
    def redeliver(self, call: Call) -> Reply:
        tenant = settled_tenant(call)
        for store in tenant.stores.values():
            original = events.delivery(store, call.path["id"])
            if original is not None:
                with store.transaction():
                    again = events.redeliver(store, tenant.clock.now(), original)
                call.engine.webhooks.pump(tenant)
                return Reply(events.shown_delivery(store.get(events.DELIVERIES, again["id"]) or again), status=201)
        raise ApiError(ErrorKind.NOT_FOUND, f"No webhook delivery {call.path['id']} in this tenant.")


def tenant_of(call: Call) -> Tenant:
    return call.engine.tenants.get(call.path["credential"])


def settled_tenant(call: Call) -> Tenant:
    """The tenant named in the path, with finished attempts written back and due deliveries started."""
    tenant = tenant_of(call)
    call.engine.settle(tenant)
    return tenant


def signs_with(style: events.WebhookStyle, secret: str) -> bool:
    """Whether the provider can sign with a secret given to the admin API (Debitura's must be Base64)."""
    probe = {"secret": secret}
    try:
        style.sign(probe, {"type": "probe", "replay": False}, b"{}", 0)
    except ValueError:  # binascii.Error is one
        return False
    return True


def find_subscription(tenant: Tenant, subscription_id: str) -> tuple[Store, Record]:
    for store in tenant.stores.values():
        found = events.subscription(store, subscription_id)
        if found is not None:
            return store, found
    raise ApiError(ErrorKind.NOT_FOUND, f"No webhook subscription {subscription_id} in this tenant.")


def shown_subscription(subscription: Record) -> Record:
    return {
        "id": subscription["id"],
        "provider": subscription["provider"],
        "url": subscription["url"],
        "events": list(subscription["events"]),
        "secret": subscription["secret"],
        "active": subscription["active"],
        "paused": subscription["paused"],
        "disabled_reason": subscription["disabledReason"],
        "created": subscription["created"],
        "updated": subscription["updated"],
    }

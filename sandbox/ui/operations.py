"""The admin operations the dashboard needs, mixed into `sandbox.admin.Admin` (`@handles` methods).

They are ordinary admin operations (documented in `specs/sandbox.yaml`, in the
dashboard's block), open to any script: tenant summaries, paged records with
fixture-validated edits, a clock move that says what settled, removing one
fault rule, and the dashboard's own files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, Reply, handles
from sandbox.store import Store
from sandbox.tenants import Tenant
from sandbox.ui import records, settling
from sandbox.ui.files import static_reply

LAST_CALL_FIELDS = ("id", "time", "provider", "method", "path", "status")


class DashboardOperations:
    """Mixed into the admin provider; `update_clock` and `error_body` are the admin API's own."""

    update_clock: Callable[[Call], Any]
    error_body: Callable[[ApiError, int], Any]

    # -- the dashboard's files ------------------------------------------------

    @handles("redirectToDashboard")
    def dashboard_redirect(self, call: Call) -> Reply:
        return Reply(status=308, headers={"Location": "/__sandbox/ui/"})

    @handles("getDashboard")
    def dashboard_page(self, call: Call) -> Reply:
        return static_reply("index.html")

    @handles("getDashboardFile")
    def dashboard_file(self, call: Call) -> Reply:
        return static_reply(call.path["file"])

    # -- tenants --------------------------------------------------------------

    @handles("listTenants")
    def list_tenants(self, call: Call) -> Any:
        registry = call.engine.tenants
        held = (registry.find(credential) for credential in reversed(registry.credentials()))
        tenants = [tenant for tenant in held if tenant is not None]  # find: listing neither creates nor touches one
        offset, limit = call.query.get("offset", 0), call.query.get("limit", 100)
        shown = [tenant_summary(tenant) for tenant in tenants[offset : offset + limit]]
        return {"total": len(tenants), "offset": offset, "limit": limit, "tenants": shown}

    @handles("getTenant")
    def get_tenant(self, call: Call) -> Any:
        return tenant_summary(call.engine.tenants.get(call.path["credential"]))

    # -- records --------------------------------------------------------------

    @handles("listCollections")
    def list_collections(self, call: Call) -> Any:
        provider, store = provider_store(call)
        names = records.collection_names(provider, store)
        return {"provider": provider.name, "collections": [{"name": n, "count": store.count(n)} for n in names]}

    @handles("listRecords")
    def list_records(self, call: Call) -> Any:
        provider, store = provider_store(call)
        collection = known_collection(provider, store, call.path["collection"])
        offset, limit = call.query.get("offset", 0), call.query.get("limit", 50)
        held = store.collection(collection)
        matched, shown = records.page(held, call.query.get("q"), offset, limit)
        return {
            "provider": provider.name,
            "collection": collection,
            "total": len(held),
            "matched": matched,
            "offset": offset,
            "limit": limit,
            "records": shown,
        }

    @handles("getRecord")
    def get_record(self, call: Call) -> Any:
        provider, store = provider_store(call)
        collection = known_collection(provider, store, call.path["collection"])
        return stored_record(provider, collection, call.path["key"], existing(store, collection, call.path["key"]))

    @handles("addRecord")
    def add_record(self, call: Call) -> Reply:
        return self._write_record(call, adding=True)

    @handles("replaceRecord")
    def replace_record(self, call: Call) -> Reply:
        return self._write_record(call, adding=False)

    def _write_record(self, call: Call, adding: bool) -> Reply:
        provider, store = provider_store(call)
        collection = known_collection(provider, store, call.path["collection"])
        key = call.path.get("key", "")
        old = None if adding else existing(store, collection, key)
        source = f"request body: {provider.name}"
        try:
            problems = records.key_problems(provider, collection, call.body, key, store, adding, source)
            if problems:
                raise records.RecordProblems(problems)
            spec = call.engine.specs[provider.name]
            key = records.save(provider, spec, store, collection, call.body, old, source)
        except records.RecordProblems as refused:
            return self._refusal(refused, "invalid_record", ErrorKind.INVALID, 400)
        call.engine.settle(tenant_of(call))  # as after a fixture load: work the record makes due is done
        saved = existing(store, collection, key)
        return Reply(stored_record(provider, collection, key, saved), status=201 if adding else 200)

    @handles("deleteRecord")
    def delete_record(self, call: Call) -> Reply:
        provider, store = provider_store(call)
        collection = known_collection(provider, store, call.path["collection"])
        key = call.path["key"]
        existing(store, collection, key)
        try:
            records.remove(provider, store, collection, key)
        except records.RecordProblems as refused:
            return self._refusal(refused, "record_referenced", ErrorKind.CONFLICT, 409)
        return Reply(status=204)

    def _refusal(self, refused: records.RecordProblems, code: str, kind: ErrorKind, status: int) -> Reply:
        details = [{"message": problem} for problem in refused.problems]
        body = self.error_body(ApiError(kind, refused.problems[0], code=code, details=details), status)
        if kind is ErrorKind.INVALID:
            body["error"]["invalid"] = refused.by_field()
        return Reply(body, status=status)

    # -- clock and faults -----------------------------------------------------

    @handles("moveClock")
    def move_clock(self, call: Call) -> Any:
        tenant = tenant_of(call)
        call.engine.settle(tenant)
        before = settling.picture(tenant.stores)
        clock = self.update_clock(call)
        changed = settling.settled(before, tenant.stores)
        attempts = settling.attempts_started(before, tenant.stores)
        return {
            "clock": clock,
            "settled": changed[: settling.SHOWN_AT_MOST],
            "settled_count": len(changed),
            "webhook_attempts": attempts[: settling.SHOWN_AT_MOST],
        }

    @handles("removeFault")
    def remove_fault(self, call: Call) -> Reply:
        faults = tenant_of(call).faults
        kept = [rule for rule in faults.rules if rule.id != call.path["id"]]
        if len(kept) == len(faults.rules):
            raise ApiError(ErrorKind.NOT_FOUND, f"The tenant has no fault rule {call.path['id']}.")
        faults.rules = kept
        return Reply(status=204)


def tenant_of(call: Call) -> Tenant:
    return call.engine.tenants.get(call.path["credential"])


def tenant_summary(tenant: Tenant) -> dict[str, Any]:
    latest = tenant.journal.latest()
    return {
        "credential": tenant.credential,
        "providers": {
            name: {collection: store.count(collection) for collection in store.names()}
            for name, store in sorted(tenant.stores.items())
        },
        "clock": tenant.clock.to_dict(),
        "calls": len(tenant.journal),
        "last_call": {name: latest[name] for name in LAST_CALL_FIELDS} if latest else None,
    }


def provider_store(call: Call) -> tuple[Provider, Store]:
    """The named provider and the tenant's store for it (seeded on first use, due work finished)."""
    provider = call.engine.providers.get(call.path["provider"])
    if provider is None:
        served = ", ".join(sorted(call.engine.providers))
        raise ApiError(ErrorKind.NOT_FOUND, f"No provider named {call.path['provider']} (served: {served}).")
    tenant = tenant_of(call)
    store = call.engine.tenants.store(tenant, provider)
    call.engine.settle(tenant)
    return provider, store


def known_collection(provider: Provider, store: Store, name: str) -> str:
    known_names = records.collection_names(provider, store)
    if name not in known_names:
        known = ", ".join(known_names)
        raise ApiError(ErrorKind.NOT_FOUND, f"{provider.name} has no collection {name} (known: {known}).")
    return name


def existing(store: Store, collection: str, key: str) -> dict[str, Any]:
    record = store.get(collection, key)
    if record is None:
        raise ApiError(ErrorKind.NOT_FOUND, f'{collection} holds no record "{key}".')
    return record


def stored_record(provider: Provider, collection: str, key: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": provider.name,
        "collection": collection,
        "key": key,
        "record": records.shown(record),
        "internal": records.bookkeeping(record),
    }

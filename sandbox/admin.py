"""The admin API under /__sandbox: health, resets, clocks, journals, fixtures, specs.

It is served like a provider (from `specs/sandbox.yaml`, validated the same
way) but needs no credential: the tenant it acts on is named in the path.
Providers add their own test helpers to it (`@admin_action` methods and
`specs/<name>.admin.yaml`); `provider_action` runs them.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from typing import Any

from sandbox.clock import Clock, in_range, parse_iso8601
from sandbox.coverage import Hits, coverage_report, hits_of_entries
from sandbox.errors import ApiError, ErrorKind
from sandbox.fixtures import fixture_problems
from sandbox.har import har_log
from sandbox.provider import Call, Handler, Provider, Reply, handles
from sandbox.store import Store
from sandbox.tenants import Tenant
from sandbox.ui.operations import DashboardOperations
from sandbox.webhook_admin import WebhookAdmin


class Admin(DashboardOperations, Provider, WebhookAdmin):  # the dashboard's operations: sandbox.ui.operations
    name = "sandbox"
    mount = "/__sandbox"
    authenticated = False

    def error_body(self, error: ApiError, status: int) -> Any:
        body: dict[str, Any] = {"code": error.code or error.kind.value, "message": error.message}
        if error.field:
            body["field"] = error.field
        if error.details:
            body["problems"] = [detail["message"] for detail in error.details]
        return {"error": body}

    @handles("getHealth")
    def health(self, call: Call) -> Any:
        return {"status": "ok", "providers": sorted(call.engine.providers), "tenants": call.engine.tenants.held()}

    @handles("getSpec")
    def spec(self, call: Call) -> Reply:
        name = call.path["name"].removesuffix(".yaml")
        spec = call.engine.all_specs().get(name)
        if spec is None:
            raise ApiError(ErrorKind.NOT_FOUND, f"No spec named {call.path['name']}.")
        return Reply(spec.text, headers={"content-type": "application/yaml"})

    @handles("resetAll")
    def reset_all(self, call: Call) -> Any:
        return {"reset": call.engine.tenants.reset_all()}

    @handles("resetTenant")
    def reset_tenant(self, call: Call) -> Any:
        return {"reset": call.engine.tenants.reset(call.path["credential"])}

    @handles("getClock")
    def get_clock(self, call: Call) -> Any:
        return tenant_of(call).clock.to_dict()

    @handles("updateClock")
    def update_clock(self, call: Call) -> Any:
        tenant = tenant_of(call)
        change = call.body
        if not change:
            raise ApiError(ErrorKind.INVALID, "Send at least one of 'frozen', 'set' or 'advance'.")
        instant = None
        if "set" in change:
            try:
                instant = parse_iso8601(change["set"])
            except ValueError:
                raise ApiError(ErrorKind.INVALID, "set must be an ISO 8601 date-time.", field="set") from None
        target = instant.timestamp() if instant is not None else tenant.clock.timestamp()
        if not in_range(target + float(change.get("advance", 0))):
            raise ApiError(ErrorKind.INVALID, "The clock must stay between 1970-01-01 and 9999-12-31.")
        if change.get("frozen") is True:
            tenant.clock.freeze()
        elif change.get("frozen") is False:
            tenant.clock.unfreeze()
        if instant is not None:
            tenant.clock.set(instant)
        if "advance" in change:
            tenant.clock.advance(float(change["advance"]))
        call.engine.settle(tenant)
        return tenant.clock.to_dict()

    @handles("exportState")
    def export_state(self, call: Call) -> Any:
        tenant = tenant_of(call)
        return {
            "credential": tenant.credential,
            "clock": tenant.clock.to_state(),
            "providers": {name: store.to_json() for name, store in sorted(tenant.stores.items())},
        }

    @handles("restoreState")
    def restore_state(self, call: Call) -> Any:
        engine = call.engine
        unknown = sorted(set(call.body["providers"]) - set(engine.providers))
        if unknown:
            raise ApiError(ErrorKind.INVALID, f"Unknown provider in snapshot: {unknown[0]}.", field="providers")
        try:
            stores = {name: Store.from_json(data) for name, data in call.body["providers"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(ErrorKind.INVALID, f"Not a snapshot exported by this sandbox: {exc}.") from None
        clock = Clock()
        clock.restore(call.body["clock"])
        if not in_range(clock.timestamp()):
            raise ApiError(
                ErrorKind.INVALID, "The snapshot's clock is outside 1970-01-01 .. 9999-12-31.", field="clock"
            )
        tenant = tenant_of(call)
        tenant.clock = clock
        engine.tenants.replace_stores(tenant, stores)
        return self.export_state(call)

    @handles("listRequests")
    def list_requests(self, call: Call) -> Any:
        journal = tenant_of(call).journal
        if call.query.get("format") == "har":
            entries = (entry for entry in journal.raw_entries() if journal_entry_matches(entry, call.query))
            return har_log(entries, call.engine.render)
        entries = journal.entries()
        return {"requests": [entry for entry in entries if journal_entry_matches(entry, call.query)]}

    @handles("clearRequests")
    def clear_requests(self, call: Call) -> Reply:
        tenant_of(call).journal.clear()
        return Reply(status=204)

    @handles("verifyRequests")
    def verify_requests(self, call: Call) -> Reply:
        expectation = call.body
        matched = [
            entry
            for entry in tenant_of(call).journal.entries()
            if journal_entry_matches(entry, {key: expectation[key] for key in ("method", "path") if key in expectation})
        ]
        problem = expectation_problem(expectation, len(matched))
        if problem is None:
            return Reply({"matched": len(matched), "requests": matched})
        body = self.error_body(ApiError(ErrorKind.PRECONDITION, problem, code="verification_failed"), 417)
        body["requests"] = matched
        return Reply(body, status=417)

    @handles("listFaults")
    def list_faults(self, call: Call) -> Any:
        return {"faults": tenant_of(call).faults.to_list(), "global": call.engine.faults.to_list()}

    @handles("addFault")
    def add_fault(self, call: Call) -> Reply:
        return Reply(tenant_of(call).faults.add(call.body).to_dict(), status=201)

    @handles("clearFaults")
    def clear_faults(self, call: Call) -> Reply:
        tenant_of(call).faults.clear()
        return Reply(status=204)

    @handles("loadFixtures")
    def load_fixtures(self, call: Call) -> Any:
        engine = call.engine
        tenant = tenant_of(call)
        data = call.body
        problems: list[str] = []
        for provider_name, records in data.items():
            if provider_name not in engine.providers:
                served = ", ".join(sorted(engine.providers))
                problems.append(f"unknown provider '{provider_name}' (served: {served})")
                continue
            source = f"request body: {provider_name}"
            provider = engine.providers[provider_name]
            store = engine.tenants.store(tenant, provider)
            problems.extend(fixture_problems(provider, engine.specs[provider_name], records, source, store))
        if problems:
            raise ApiError(
                ErrorKind.INVALID,
                problems[0],
                code="invalid_fixtures",
                details=[{"message": problem} for problem in problems],
            )
        loaded: dict[str, dict[str, int]] = {}
        for provider_name, records in data.items():
            provider = engine.providers[provider_name]
            provider.seed(engine.tenants.store(tenant, provider), records or {})
            loaded[provider_name] = {collection: len(items) for collection, items in (records or {}).items()}
        engine.settle(tenant)
        return {"loaded": loaded}

    # Contract-testing reports (sandbox.coverage): which operations and statuses calls exercised.
    @handles("getCoverage")
    def get_coverage(self, call: Call) -> Any:
        return coverage_of(call, call.engine.hits)

    @handles("clearCoverage")
    def clear_coverage(self, call: Call) -> Reply:
        call.engine.hits.clear()
        return Reply(status=204)

    @handles("getTenantCoverage")
    def get_tenant_coverage(self, call: Call) -> Any:
        return coverage_of(call, hits_of_entries(tenant_of(call).journal.raw_entries()))


def coverage_of(call: Call, hits: Hits) -> Any:
    """The coverage report of `hits`, for every provider or the one `?provider=` names."""
    specs = call.engine.specs
    name = call.query.get("provider")
    if name is not None:
        if name not in specs:
            served = ", ".join(sorted(specs))
            raise ApiError(ErrorKind.INVALID, f"Unknown provider '{name}' (served: {served}).", field="provider")
        specs = {name: specs[name]}
    mounts = {provider: call.engine.providers[provider].mount for provider in specs}
    return coverage_report(specs, hits, mounts)


def tenant_of(call: Call) -> Tenant:
    return call.engine.tenants.get(call.path["credential"])


def provider_action(provider: Provider, action: Handler) -> Callable[[Call], Any]:
    """Run a provider's `@admin_action` on the tenant named by `{credential}`.

    The action gets the call with that tenant, its store for the provider
    (seeded on first use) after due work is finished, the tenant's time and the
    provider's resources; like any handler, it runs all or nothing.
    """

    def run(call: Call) -> Any:
        tenant = tenant_of(call)
        store = call.engine.tenants.store(tenant, provider)
        call.engine.settle(tenant)
        now = tenant.clock.now()
        with store.transaction():
            return action(
                provider,
                dataclasses.replace(call, tenant=tenant, store=store, now=now, resources=provider.resources),
            )

    return run


def expectation_problem(expectation: dict[str, Any], matched: int) -> str | None:
    """Why `matched` calls break the expected count, or None when they meet it."""
    what = f"{expectation.get('method', 'any method')} {expectation['path']}"
    if "count" in expectation and matched != expectation["count"]:
        return f"Expected exactly {expectation['count']} call(s) to {what}, but {matched} matched."
    if "at_least" in expectation and matched < expectation["at_least"]:
        return f"Expected at least {expectation['at_least']} call(s) to {what}, but {matched} matched."
    if "at_most" in expectation and matched > expectation["at_most"]:
        return f"Expected at most {expectation['at_most']} call(s) to {what}, but {matched} matched."
    if not {"count", "at_least", "at_most"} & set(expectation) and matched == 0:
        return f"Expected at least 1 call to {what}, but none matched."
    return None


def journal_entry_matches(entry: dict[str, Any], query: dict[str, Any]) -> bool:
    if "provider" in query and entry["provider"] != query["provider"]:
        return False
    if "method" in query and entry["method"] != query["method"].upper():
        return False
    if "status" in query and not status_matches(entry["status"], str(query["status"])):
        return False
    return "path" not in query or fnmatch.fnmatchcase(entry["path"], query["path"])


def status_matches(status: int, wanted: str) -> bool:
    """`404` matches 404 only; `4xx` every 4xx status."""
    if wanted[1:].lower() == "xx":
        return str(status)[0] == wanted[0]
    return str(status) == wanted

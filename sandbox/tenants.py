"""Tenants: one isolated world per credential.

A tenant is created on the first call that presents its credential. It has its
own clock, journal and fault rules, and one `Store` per provider. A new store
shares its provider's seeded records (one base store per provider, seeded from
the fixtures once) until it writes them (`Store` copies on write).

The registry can hold a bounded number of tenants (`Limits`): beyond
`max_tenants` the least recently used is let go, and with `idle_seconds` a
tenant unused that long is let go. Let go means dropped from this process's
memory: a persistent storage brings the tenant back from disk on its next call;
the in-memory storage starts it again from the fixtures.

A tenant with a call in flight is never let go (it would go on writing to
stores no longer held, which a reload from disk would not see): a call takes
its tenant with `enter` and gives it back with `leave`, and the registry passes
over tenants with calls in flight; they go at a later arrival or sweep, once
their calls are answered. The count is the engine's, not the server's: it holds
however the server schedules requests.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice, takewhile
from typing import Any, Protocol

from sandbox.clock import Clock
from sandbox.faults import FaultSet
from sandbox.journal import DEFAULT_JOURNAL_RESPONSES, Journal, ResponseBudget
from sandbox.store import MemoryStorage, Record, Storage, Store


class Seeds(Protocol):
    """What a tenant needs of a provider: a `sandbox.provider.Provider` (not imported: no import cycle)."""

    name: str

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None: ...


class Tenant:
    def __init__(self, credential: str, journal_limit: int, responses: ResponseBudget | None = None) -> None:
        self.credential = credential
        self.clock = Clock()
        self.journal = Journal(journal_limit, responses)
        self.stores: dict[str, Store] = {}
        # Short-lived counters a provider keeps per tenant (rate-limit windows).
        self.meters: dict[str, Any] = {}
        self.faults = FaultSet()
        self.used = 0.0  # when it last served a call (process time, for letting idle tenants go)
        self.saved: object = None  # the `state_key` last saved (persistent storage)
        self.calls = 0  # calls in flight, counted only by registries that let tenants go

    @property
    def history_limit(self) -> int:
        """How many entries each of the tenant's logs keeps (`--journal-limit`).

        One limit for every log: the journal, and per provider its events and
        webhook deliveries (sandbox.events) and a provider's own records of
        what was deleted (Debitura's deleted cases).
        """
        return self.journal.limit

    def state(self) -> dict[str, Any]:
        """What a persistent storage keeps of the tenant besides its stores."""
        return {"clock": self.clock.to_state(), "faults": self.faults.to_state()}

    def state_key(self) -> object:
        """Changes whenever `state()` does (cheaper to compare)."""
        return (self.clock.to_state(), self.faults.version)

    def restore(self, state: dict[str, Any]) -> None:
        self.clock.restore(state["clock"])
        self.faults.restore(state["faults"])


@dataclass(frozen=True)
class Limits:
    """How many tenants stay in memory, and how many journal entries keep their reply (None: no limit)."""

    max_tenants: int | None = None
    idle_seconds: float | None = None
    journal_responses: int | None = DEFAULT_JOURNAL_RESPONSES  # across all tenants (sandbox.journal)


class TenantRegistry:
    def __init__(
        self,
        providers: Mapping[str, Seeds],
        fixtures: Callable[[str], dict[str, list[Record]]],
        journal_limit: int,
        storage: Storage | None = None,
        limits: Limits | None = None,
        # Letting idle tenants go is about this process's memory, not about a tenant's time:
        # it reads the process's monotonic clock, never a tenant clock.
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.providers = providers
        self.fixtures = fixtures
        self.journal_limit = journal_limit
        self.storage: Storage = storage or MemoryStorage()
        self.persistent = self.storage.persistent
        self.limits = limits or Limits()
        budget = self.limits.journal_responses
        self.responses = ResponseBudget(budget) if budget is not None else None
        self._ordered = self.limits.max_tenants is not None or self.limits.idle_seconds is not None
        self._bookkeeping = self._ordered or self.persistent  # get() has more to do than a lookup
        self._monotonic = monotonic
        self._next_sweep = 0.0 if self.limits.idle_seconds is not None else math.inf
        self._tenants: dict[str, Tenant] = {}  # least recently used first, when `_ordered`
        self._bases: dict[str, Store] = {}
        self._touched: dict[str, Tenant] = {}  # tenants used since the last flush (persistent storage)
        self._busy: set[Tenant] = set()  # tenants with calls in flight, when `_ordered`

    def get(self, credential: str, calling: bool = False) -> Tenant:
        """The credential's tenant; `calling`: for a call, which must `leave` it when answered (see `enter`)."""
        tenant = self._tenants.get(credential)
        if tenant is not None and not self._bookkeeping:
            return tenant  # the common case: nothing to note
        if tenant is None:
            tenant = self._arrive(credential, calling)
        elif self._ordered:
            self._use(credential, tenant, calling)
        if self.persistent:
            self._touched[credential] = tenant
        return tenant

    def enter(self, credential: str) -> Tenant:
        """The tenant of a call, never let go until the call `leave`s it."""
        return self.get(credential, calling=True)

    def leave(self, tenant: Tenant) -> None:
        """A call `enter`ed with this tenant is answered."""
        if tenant.calls:
            tenant.calls -= 1
            if not tenant.calls:
                self._busy.discard(tenant)

    def find(self, credential: str) -> Tenant | None:
        return self._tenants.get(credential)

    def base(self, provider_name: str) -> Store:
        """The provider's records as its fixtures seed them: shared by every store until it writes.

        A name that is no provider's (a store of the tenant's own, say) has an empty base.
        """
        base = self._bases.get(provider_name)
        if base is None:
            base = self._bases[provider_name] = Store()
            provider = self.providers.get(provider_name)
            if provider is not None:
                provider.seed(base, copy.deepcopy(self.fixtures(provider_name)))
        return base

    def store(self, tenant: Tenant, provider: Seeds) -> Store:
        store = tenant.stores.get(provider.name)
        if store is None:
            store = self.storage.open(tenant.credential, provider.name, self.base(provider.name))
            tenant.stores[provider.name] = store
        return store

    def replace_stores(self, tenant: Tenant, stores: dict[str, Store]) -> None:
        self.storage.replace(tenant.credential, stores)
        tenant.stores = dict(stores)

    def reset(self, credential: str) -> bool:
        held = self._tenants.pop(credential, None) is not None
        self._touched.pop(credential, None)
        return self.storage.drop(credential) or held

    def reset_all(self) -> int:
        count = len(self._tenants)
        self._tenants.clear()
        self._touched.clear()
        self.storage.drop_all()
        return count

    def credentials(self) -> list[str]:
        return list(self._tenants)

    def held(self) -> int:
        """How many tenants are in memory."""
        return len(self._tenants)

    def flush(self) -> None:
        """Hand the storage the state of every tenant used since the last flush, and make it all durable."""
        for credential, tenant in self._touched.items():
            key = tenant.state_key()
            if key != tenant.saved:
                self.storage.save_tenant(credential, tenant.state())
                tenant.saved = key
        self._touched.clear()
        self.storage.flush()

    # -- holding a bounded number ---------------------------------------------------

    def _arrive(self, credential: str, calling: bool) -> Tenant:
        tenant = Tenant(credential, self.journal_limit, self.responses)
        if self.persistent:
            state = self.storage.load_tenant(credential)
            if state is not None:
                tenant.restore(state)
                tenant.saved = tenant.state_key()
            tenant.stores = self.storage.stores(credential, self.base)
        self._tenants[credential] = tenant
        if self._ordered:
            if calling:
                self._hold(tenant)  # before letting others go: the arriving tenant is in flight
            now = tenant.used = self._monotonic()
            self._let_go(now)
        return tenant

    def _use(self, credential: str, tenant: Tenant, calling: bool) -> None:
        tenants = self._tenants
        del tenants[credential]
        tenants[credential] = tenant  # to the end: the most recently used
        if calling:
            self._hold(tenant)
        now = tenant.used = self._monotonic()
        if now >= self._next_sweep:
            self._let_go(now)

    def _let_go(self, now: float) -> None:
        """Drop the least recently used tenants beyond `max_tenants`, and those idle too long, but none in flight."""
        tenants = self._tenants
        limit, idle = self.limits.max_tenants, self.limits.idle_seconds
        busy = self._busy
        if limit is not None and len(tenants) > limit:
            excess = len(tenants) - limit
            for credential in list(islice((c for c, t in tenants.items() if t not in busy), excess)):
                self._release(credential)
        if idle is not None:
            idle_ones = takewhile(lambda item: now - item[1].used >= idle, tenants.items())
            going = [credential for credential, tenant in idle_ones]
            if going:
                for credential in going:
                    if tenants[credential] not in busy:
                        self._release(credential)
            self._next_sweep = now + min(idle / 2, 1.0)

    def _hold(self, tenant: Tenant) -> None:
        tenant.calls += 1
        self._busy.add(tenant)

    def _release(self, credential: str) -> None:
        tenant = self._tenants.pop(credential)
        if self.persistent:
            self._touched[credential] = tenant
            self.flush()
        self.storage.release(credential)

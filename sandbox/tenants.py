"""Tenants: one isolated world per credential.

A tenant is created on the first call that presents its credential. It has its
own clock and journal, and one `Store` per provider, seeded from that
provider's fixtures the first time the tenant calls it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sandbox.clock import Clock
from sandbox.faults import FaultSet
from sandbox.journal import Journal
from sandbox.store import MemoryStorage, Record, Storage, Store


class Seeds(Protocol):
    """What a tenant needs of a provider: a `sandbox.provider.Provider` (not imported: no import cycle)."""

    name: str

    def seed(self, store: Store, fixtures: dict[str, list[Record]]) -> None: ...


class Tenant:
    def __init__(self, credential: str, journal_limit: int) -> None:
        self.credential = credential
        self.clock = Clock()
        self.journal = Journal(journal_limit)
        self.stores: dict[str, Store] = {}
        # Short-lived counters a provider keeps per tenant (rate-limit windows).
        self.meters: dict[str, Any] = {}
        self.faults = FaultSet()


class TenantRegistry:
    def __init__(
        self,
        providers: Mapping[str, Seeds],
        fixtures: Callable[[str], dict[str, list[Record]]],
        journal_limit: int,
        storage: Storage | None = None,
    ) -> None:
        self.providers = providers
        self.fixtures = fixtures
        self.journal_limit = journal_limit
        self.storage: Storage = storage or MemoryStorage()
        self._tenants: dict[str, Tenant] = {}

    def get(self, credential: str) -> Tenant:
        tenant = self._tenants.get(credential)
        if tenant is None:
            tenant = self._tenants[credential] = Tenant(credential, self.journal_limit)
        return tenant

    def find(self, credential: str) -> Tenant | None:
        return self._tenants.get(credential)

    def store(self, tenant: Tenant, provider: Seeds) -> Store:
        store = tenant.stores.get(provider.name)
        if store is None:
            store, new = self.storage.open(tenant.credential, provider.name)
            if new:
                provider.seed(store, copy.deepcopy(self.fixtures(provider.name)))
            tenant.stores[provider.name] = store
        return store

    def replace_stores(self, tenant: Tenant, stores: dict[str, Store]) -> None:
        self.storage.replace(tenant.credential, stores)
        tenant.stores = dict(stores)

    def reset(self, credential: str) -> bool:
        self.storage.drop(credential)
        return self._tenants.pop(credential, None) is not None

    def reset_all(self) -> int:
        count = len(self._tenants)
        for credential in list(self._tenants):
            self.storage.drop(credential)
        self._tenants.clear()
        return count

    def credentials(self) -> list[str]:
        return list(self._tenants)

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
from sandbox.store import Record, Store


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
    ) -> None:
        self.providers = providers
        self.fixtures = fixtures
        self.journal_limit = journal_limit
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
            store = tenant.stores[provider.name] = Store()
            provider.seed(store, copy.deepcopy(self.fixtures(provider.name)))
        return store

    def reset(self, credential: str) -> bool:
        return self._tenants.pop(credential, None) is not None

    def reset_all(self) -> int:
        count = len(self._tenants)
        self._tenants.clear()
        return count

    def credentials(self) -> list[str]:
        return list(self._tenants)

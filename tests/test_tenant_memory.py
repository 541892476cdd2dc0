"""Bounded memory: fresh tenants share the seeded records (copy on write); --max-tenants and --tenant-idle."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from time import sleep
from typing import Any

import httpx
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Engine, Settings
from sandbox.store import Store
from sandbox.tenants import Limits, TenantRegistry
from sandbox.testing import running_server

TASK = "/payt/v1/tasks/5002?administration_id=adm_1001"
MARK = "/payt/v1/tasks/5002/mark_completed"
FORM = {"administration_id": "adm_1001"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_fresh_tenants_share_the_seeded_records_until_they_write() -> None:
    app = create_app(Settings(validate_responses=True))
    engine: Engine = app.state.engine
    with TestClient(app) as client:
        for token in ("reader_a", "reader_b"):
            assert client.get(TASK, headers=bearer(token)).status_code == 200
        a, b = (engine.tenants.find(token).stores["payt"] for token in ("reader_a", "reader_b"))  # type: ignore[union-attr]
        base = engine.tenants.base("payt")
        assert a.get("tasks", "5002") is base.get("tasks", "5002") is b.get("tasks", "5002")
        assert a.collection("tasks") == base.collection("tasks")

        assert client.patch(MARK, data=FORM, headers=bearer("reader_a")).status_code == 200
        assert a.get("tasks", "5002")["completed_at"] is not None
        assert "completed_at" not in base.get("tasks", "5002")
        assert b.get("tasks", "5002") is base.get("tasks", "5002")
        assert "completed_at" not in client.get(TASK, headers=bearer("reader_b")).json()
        # The records a write did not touch are still shared (the collection was copied, not the records).
        assert a.get("tasks", "5001") is base.get("tasks", "5001")


def test_a_list_index_of_the_shared_records_is_built_once() -> None:
    app = create_app(Settings(validate_responses=True))
    engine: Engine = app.state.engine
    with TestClient(app) as client:
        for token in ("lister_a", "lister_b"):
            assert client.get("/payt/v1/tasks?administration_id=adm_1001", headers=bearer(token)).status_code == 200
        stores = [engine.tenants.find(token).stores["payt"] for token in ("lister_a", "lister_b")]  # type: ignore[union-attr]
        base_index = engine.tenants.base("payt")._derived["list:tasks"][0]
        assert all(store._derived["list:tasks"][0] is base_index for store in stores)  # both use the base's
        client.patch(MARK, data=FORM, headers=bearer("lister_a"))
        listed = client.get("/payt/v1/tasks?administration_id=adm_1001&per_page=100", headers=bearer("lister_a"))
        assert next(task for task in listed.json()["data"] if task["id"] == "5002")["completed_at"] is not None
        assert stores[0]._derived["list:tasks"][0] is not base_index  # its own, built after its write
        assert stores[1]._derived["list:tasks"][0] is base_index
        others = client.get("/payt/v1/tasks?administration_id=adm_1001&per_page=100", headers=bearer("lister_b"))
        assert "completed_at" not in next(task for task in others.json()["data"] if task["id"] == "5002")


def test_a_rolled_back_write_in_a_shared_store_changes_nothing() -> None:
    base = Store()
    base.put("tasks", {"id": "1", "done": False})
    store = Store(base)
    try:
        with store.transaction():
            store.update("tasks", "1", {"done": True})
            store.put("tasks", {"id": "2", "done": False})
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert (
        store.to_json()
        == base.to_json()
        == {
            "collections": {"tasks": [{"id": "1", "done": False}]},
            "sequences": {},
            "keys": {"tasks": ["1"]},
        }
    )


def health(client: TestClient) -> int:
    return client.get("/__sandbox/health").json()["tenants"]


def test_max_tenants_lets_the_least_recently_used_go_and_it_restarts_from_the_fixtures() -> None:
    with TestClient(create_app(Settings(validate_responses=True, max_tenants=2))) as client:
        assert client.patch(MARK, data=FORM, headers=bearer("lru_a")).status_code == 200
        client.get(TASK, headers=bearer("lru_b"))
        client.get(TASK, headers=bearer("lru_a"))  # a is now the most recently used
        assert health(client) == 2
        client.get(TASK, headers=bearer("lru_c"))  # b goes
        assert health(client) == 2
        assert client.get(TASK, headers=bearer("lru_a")).json()["completed_at"] is not None
        client.get(TASK, headers=bearer("lru_b"))  # c goes; b comes back fresh
        client.get(TASK, headers=bearer("lru_d"))  # a goes: without --state its write is lost
        assert "completed_at" not in client.get(TASK, headers=bearer("lru_a")).json()


def test_with_state_a_tenant_let_go_comes_back_from_disk(tmp_path: Path) -> None:
    settings = Settings(validate_responses=True, max_tenants=1, state_path=tmp_path / "sandbox.db")
    with TestClient(create_app(settings)) as client:
        assert client.patch(MARK, data=FORM, headers=bearer("disk_a")).status_code == 200
        client.post("/__sandbox/tenants/disk_a/clock", json={"frozen": True, "set": "2027-01-01T00:00:00Z"})
        client.get(TASK, headers=bearer("disk_b"))
        assert health(client) == 1
        assert client.get(TASK, headers=bearer("disk_a")).json()["completed_at"] is not None
        assert client.get("/__sandbox/tenants/disk_a/clock").json()["now"] == "2027-01-01T00:00:00Z"
        assert health(client) == 1


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tenant_idle_lets_tenants_go_after_that_long_unused() -> None:
    engine = Engine(Settings())
    time = FakeTime()
    registry = TenantRegistry(engine.providers, engine.fixtures_for, 10, limits=Limits(idle_seconds=60), monotonic=time)
    registry.get("idle_a")
    time.now += 30
    registry.get("idle_b")
    time.now += 31  # a: 61 s unused, b: 31 s
    registry.get("idle_b")
    assert registry.credentials() == ["idle_b"]
    time.now += 59
    registry.get("idle_c")
    assert registry.credentials() == ["idle_b", "idle_c"]
    time.now += 1
    registry.get("idle_c")
    assert registry.credentials() == ["idle_c"]


def test_a_tenant_with_a_call_in_flight_is_not_let_go(tmp_path: Path) -> None:
    """A mark waits out a fault's latency while other tenants arrive: it is not let go, so its write is not lost."""
    settings = Settings(validate_responses=True, max_tenants=1, state_path=tmp_path / "sandbox.db")
    admin = "/__sandbox/tenants/flight_a/faults"
    with running_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        slow = {"method": "PATCH", "path": "/payt/v1/tasks/*/mark_completed", "latency_ms": 1500, "times": 1}
        assert http.post(admin, json=slow).status_code == 201

        def mark() -> int:
            with httpx.Client(base_url=url, timeout=30) as other:
                return other.patch(MARK, data=FORM, headers=bearer("flight_a")).status_code

        with ThreadPoolExecutor(1) as pool:
            marked = pool.submit(mark)
            while waiting_to_fire(http.get(admin).json()["faults"]):  # until the mark is waiting out its latency
                sleep(0.01)
            assert http.get(TASK, headers=bearer("flight_b")).status_code == 200  # over the limit: a is in flight
            during = http.get(TASK, headers=bearer("flight_a"))
            assert marked.result() == 200
        assert "completed_at" not in during.json()
        assert http.get(TASK, headers=bearer("flight_a")).json()["completed_at"] is not None
        assert http.get("/__sandbox/health").json()["tenants"] == 2  # both kept while a was in flight
        http.get(TASK, headers=bearer("flight_c"))  # the next arrival lets the others go
        assert http.get("/__sandbox/health").json()["tenants"] == 1
        assert http.get(TASK, headers=bearer("flight_a")).json()["completed_at"] is not None  # from disk


def waiting_to_fire(rules: list[dict[str, Any]]) -> bool:
    """The rule is still listed and has not fired (a rule of `times: 1` that fired is no longer listed)."""
    return bool(rules) and rules[0]["fired"] == 0


def test_tenants_in_flight_outlast_max_tenants_and_tenant_idle() -> None:
    engine = Engine(Settings())
    clock = FakeTime()
    limits = Limits(max_tenants=1, idle_seconds=60)
    registry = TenantRegistry(engine.providers, engine.fixtures_for, 10, limits=limits, monotonic=clock)

    slow = registry.enter("slow")  # a call that has its tenant and waits
    clock.now += 61
    quick = registry.enter("quick")  # beyond max_tenants, and `slow` idle for 61 s: kept, in flight
    registry.leave(quick)
    assert registry.credentials() == ["slow", "quick"]
    registry.get("slow")  # an admin look is no call: it holds nothing, and gives nothing back
    registry.leave(slow)  # the call is answered
    clock.now += 61
    registry.leave(registry.enter("quick"))  # the sweep lets `slow` go now that its call is answered
    assert registry.credentials() == ["quick"]


def test_a_tenant_is_held_until_its_last_call_leaves() -> None:
    engine = Engine(Settings())
    registry = TenantRegistry(engine.providers, engine.fixtures_for, 10, limits=Limits(max_tenants=1))
    first, second = registry.enter("twice"), registry.enter("twice")
    registry.leave(first)
    registry.leave(registry.enter("other"))
    assert registry.credentials() == ["twice", "other"]  # one of its two calls is still in flight
    registry.leave(second)
    registry.leave(registry.enter("third"))  # the next arrival lets go of what is beyond the limit
    assert registry.credentials() == ["third"]

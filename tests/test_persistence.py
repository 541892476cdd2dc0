"""`sandbox serve --state PATH`: every tenant kept in SQLite, served again after a restart."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Engine, Settings
from sandbox.sqlite_storage import SqliteStorage

PAYT = {"Authorization": "Bearer persist_payt"}
INVOICED = {"Authorization": "Basic " + base64.b64encode(b"persist_invoiced:").decode()}
WETHOD = {
    "Authorization": "Bearer persist_wethod",
    "Wethod-Company": "acme",
    "Wethod-Version": "2024-06-15",
}
DEBITURA = {"XApiKey": "persist_debitura"}
ADMIN = "/__sandbox/tenants"


@contextmanager
def sandbox(state: Path | None, **settings: object) -> Iterator[TestClient]:
    app = create_app(Settings(validate_responses=True, state_path=state, **settings))  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield client
    engine: Engine = app.state.engine
    storage = engine.tenants.storage
    if hasattr(storage, "close"):
        storage.close()


def write_in_every_provider(client: TestClient) -> dict[str, object]:
    """One write per provider; returns what each answered."""
    comment = client.post(
        "/payt/v1/tasks/5002/comment", data={"administration_id": "adm_1001", "comment": "kept"}, headers=PAYT
    )
    customer = client.post("/invoiced/customers", json={"name": "Initrode"}, headers=INVOICED)
    invoice = client.post(
        "/wethod/api/invoices", json={"project_id": 1, "value": 1500, "issue_date": "2026-03-10"}, headers=WETHOD
    )
    chat = client.post(
        "/debitura/v1/cases/bab44264-2a9f-5092-951d-f786eaa4f5c2/chats",
        json={"message": "Kept on disk.", "userEmail": "anna.holm@nordlys-design.example"},
        headers=DEBITURA,
    )
    for answer in (comment, customer, invoice, chat):
        assert answer.status_code in (200, 201), answer.text
    return {"customer": customer.json(), "invoice": invoice.json(), "chat": chat.json()}


def test_a_restart_with_the_same_state_serves_the_same_worlds(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    with sandbox(state) as client:
        written = write_in_every_provider(client)
        client.post(f"{ADMIN}/persist_payt/clock", json={"frozen": True, "set": "2027-05-01T10:00:00Z"})
        client.post(f"{ADMIN}/persist_payt/faults", json={"path": "/payt/v1/tasks/5001", "status": 503, "times": 2})
        assert client.get("/payt/v1/tasks/5001?administration_id=adm_1001", headers=PAYT).status_code == 503
        before = {
            credential: client.get(f"{ADMIN}/{credential}/state").json()
            for credential in ("persist_payt", "persist_invoiced", "persist_wethod", "persist_debitura")
        }

    with sandbox(state) as client:
        after = {credential: client.get(f"{ADMIN}/{credential}/state").json() for credential in before}
        assert after == before
        task = next(t for t in after["persist_payt"]["providers"]["payt"]["collections"]["tasks"] if t["id"] == "5002")
        assert [comment["content"] for comment in task["comments"]][-1] == "kept"
        customer = written["customer"]
        assert client.get(f"/invoiced/customers/{customer['id']}", headers=INVOICED).json() == customer  # type: ignore[index]
        # The sequences came back too: the next customer gets the next id, not the same one.
        second = client.post("/invoiced/customers", json={"name": "Globex"}, headers=INVOICED).json()
        assert second["id"] == customer["id"] + 1  # type: ignore[index]
        invoice = written["invoice"]
        assert client.get(f"/wethod/api/invoices/{invoice['id']}", headers=WETHOD).json() == invoice  # type: ignore[index]
        assert client.get(f"{ADMIN}/persist_payt/clock").json() == {"now": "2027-05-01T10:00:00Z", "frozen": True}
        faults = client.get(f"{ADMIN}/persist_payt/faults").json()["faults"]
        assert [(fault["fired"], fault["remaining"]) for fault in faults] == [(1, 1)]
        assert client.get("/payt/v1/tasks/5001?administration_id=adm_1001", headers=PAYT).status_code == 503
        assert client.get("/payt/v1/tasks/5001?administration_id=adm_1001", headers=PAYT).status_code == 200


def test_a_refused_write_leaves_nothing_on_disk(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    with sandbox(state) as client:
        done = client.patch("/payt/v1/tasks/5002/mark_completed", data={"administration_id": "adm_1001"}, headers=PAYT)
        assert done.status_code == 200
        again = client.patch("/payt/v1/tasks/5002/mark_completed", data={"administration_id": "adm_1001"}, headers=PAYT)
        assert again.status_code == 422
        before = client.get(f"{ADMIN}/persist_payt/state").json()
    with sandbox(state) as client:
        assert client.get(f"{ADMIN}/persist_payt/state").json() == before


def test_reset_forgets_a_tenant_on_disk(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    with sandbox(state) as client:
        created = client.post("/invoiced/customers", json={"name": "Initrode"}, headers=INVOICED).json()
        assert client.post(f"{ADMIN}/persist_invoiced/reset").json() == {"reset": True}
    with sandbox(state) as client:
        assert client.get(f"/invoiced/customers/{created['id']}", headers=INVOICED).status_code == 404


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "sqlite"])
def test_snapshots_work_the_same_with_either_store(tmp_path: Path, on_disk: bool) -> None:
    state = tmp_path / "sandbox.db" if on_disk else None
    with sandbox(state) as client:
        write_in_every_provider(client)
        snapshot = client.get(f"{ADMIN}/persist_wethod/state").json()
        client.post(
            "/wethod/api/invoices", json={"project_id": 1, "value": 9, "issue_date": "2026-03-11"}, headers=WETHOD
        )
        assert client.get(f"{ADMIN}/persist_wethod/state").json() != snapshot
        restored = client.put(f"{ADMIN}/persist_wethod/state", json=snapshot)
        assert restored.status_code == 200 and restored.json() == snapshot
        assert client.get(f"{ADMIN}/persist_wethod/state").json() == snapshot
    if on_disk:
        with sandbox(state) as client:
            assert client.get(f"{ADMIN}/persist_wethod/state").json() == snapshot


def test_one_process_per_state_file(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    first = SqliteStorage(state)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        SqliteStorage(state)  # a second sandbox would serve worlds the first has moved on from
    first.close()
    SqliteStorage(state).close()

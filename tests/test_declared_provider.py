"""A provider made of a spec and a fixtures file alone (tests/declared/), driven over HTTP.

No provider module: the spec's x-sandbox block declares a CRUD resource, a
filtered list and a two-state machine with a refused action, and the engine's
generic handlers serve them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings
from sandbox.errors import ApiError, ErrorKind
from sandbox.provider import Call, Provider, hook
from sandbox.store import Record

HERE = Path(__file__).resolve().parent / "declared"
AUTH = {"Authorization": "Bearer reader-1"}


def library_client(tmp_path: Path) -> TestClient:
    (tmp_path / "specs").mkdir()
    (tmp_path / "fixtures").mkdir()
    shutil.copy(HERE / "library.yaml", tmp_path / "specs" / "library.yaml")
    shutil.copy(HERE / "library.fixtures.yaml", tmp_path / "fixtures" / "library.yaml")
    settings = Settings(specs_dir=tmp_path / "specs", fixtures_dir=tmp_path / "fixtures", validate_responses=True)
    return TestClient(create_app(settings))


@pytest.fixture
def library(tmp_path: Path) -> TestClient:
    return library_client(tmp_path)


def test_the_spec_alone_is_served_from_its_fixtures(library: TestClient) -> None:
    assert library.get("/__sandbox/health").json()["providers"] == ["library"]
    book = library.get("/library/books/2", headers=AUTH).json()
    assert book == {
        "id": 2,
        "title": "Emma",
        "author": "Austen",
        "status": "lent",
        "year": 1815,
        "isbn": None,
        "shelf_id": 1,
        "created_at": "2026-01-02T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
    }
    assert library.get("/library/books/1", headers=AUTH).json()["year"] is None  # nullable, left out: null
    missing = library.get("/library/books/9", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "No book 9."}
    assert library.get("/library/books/1").status_code == 401


def test_create_update_delete(library: TestClient) -> None:
    library.post("/__sandbox/tenants/reader-1/clock", json={"set": "2026-05-01T12:00:00Z", "frozen": True})
    created = library.post("/library/books", headers=AUTH, json={"title": "Ulysses", "author": "Joyce"})
    assert created.status_code == 201
    book = created.json()
    assert book == {
        "id": 4,
        "title": "Ulysses",
        "author": "Joyce",
        "status": "available",
        "year": None,
        "isbn": None,
        "shelf_id": None,
        "created_at": "2026-05-01T12:00:00Z",
        "updated_at": "2026-05-01T12:00:00Z",
    }
    assert library.get("/library/books/4", headers=AUTH).json() == book
    library.post("/__sandbox/tenants/reader-1/clock", json={"advance": 60})
    same = library.patch("/library/books/4", headers=AUTH, json={"title": "Ulysses"})
    assert same.json()["updated_at"] == "2026-05-01T12:00:00Z"  # nothing changed: the timestamp stays
    changed = library.patch("/library/books/4", headers=AUTH, json={"year": 1922.0})
    assert changed.json()["year"] == 1922 and changed.json()["updated_at"] == "2026-05-01T12:01:00Z"
    bad = library.patch("/library/books/4", headers=AUTH, json={"title": ""})
    assert bad.status_code == 400 and library.get("/library/books/4", headers=AUTH).json() == changed.json()
    assert library.delete("/library/books/4", headers=AUTH).status_code == 204
    assert library.get("/library/books/4", headers=AUTH).status_code == 404
    assert library.get("/library/books/4", headers={"Authorization": "Bearer reader-2"}).status_code == 404


def test_list_filters_and_pages(library: TestClient) -> None:
    def titles(query: str) -> list[str]:
        reply = library.get(f"/library/books{query}", headers=AUTH)
        assert reply.status_code == 200, reply.text
        return [book["title"] for book in reply.json()]

    assert titles("") == ["Dune", "Emma"]  # default page size 2, id order
    assert titles("?offset=2") == ["Persuasion"]
    assert titles("?author=Austen") == ["Emma", "Persuasion"]
    assert titles("?status=available") == ["Dune", "Persuasion"]
    assert titles("?status=lent,available&limit=5") == ["Dune", "Emma", "Persuasion"]
    assert titles("?author=Austen&status=available") == ["Persuasion"]
    library.post("/library/books/1/lend", headers=AUTH)
    assert titles("?status=lent") == ["Dune", "Emma"]  # the list follows the change


def test_alternate_keys_references_and_a_parent_s_list(library: TestClient) -> None:
    by_isbn = library.get("/library/books/by-isbn/978-0441013593", headers=AUTH)
    assert by_isbn.status_code == 200 and by_isbn.json()["title"] == "Dune"
    missing = library.get("/library/books/by-isbn/000", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["message"] == 'No book with ISBN "000".'
    copy = {"title": "Dune", "author": "Herbert", "isbn": "978-0441013593"}
    taken = library.post("/library/books", headers=AUTH, json=copy)
    assert taken.status_code == 409 and taken.json()["message"] == 'Another book has ISBN "978-0441013593".'
    nowhere = library.post("/library/books", headers=AUTH, json={"title": "Ivanhoe", "author": "Scott", "shelf_id": 9})
    assert nowhere.status_code == 400 and nowhere.json()["message"] == "No shelf 9."
    assert len(library.get("/library/books?limit=10", headers=AUTH).json()) == 3  # both refusals changed nothing

    def shelf(shelf_id: int) -> list[str]:
        reply = library.get(f"/library/shelves/{shelf_id}/books", headers=AUTH)
        assert reply.status_code == 200, reply.text
        return [book["title"] for book in reply.json()]

    assert shelf(1) == ["Emma", "Persuasion"]
    library.patch("/library/books/1", headers=AUTH, json={"shelf_id": 1})
    assert shelf(1) == ["Dune", "Emma", "Persuasion"]  # the parent's list follows a moved record
    unknown = library.get("/library/shelves/7/books", headers=AUTH)
    assert unknown.status_code == 404 and unknown.json() == {"code": "not_found", "message": "No shelf 7."}


def test_the_state_machine_moves_and_refuses(library: TestClient) -> None:
    lent = library.post("/library/books/1/lend", headers=AUTH)
    assert lent.status_code == 200 and lent.json()["status"] == "lent"
    before = library.get("/library/books/1", headers=AUTH).json()
    refused = library.post("/library/books/1/lend", headers=AUTH)
    assert refused.status_code == 409
    assert refused.json() == {"code": "conflict", "message": "Book 1 is lent: only available books can be lent."}
    assert library.get("/library/books/1", headers=AUTH).json() == before  # a refusal changes nothing
    returned = library.post("/library/books/1/return", headers=AUTH)
    assert returned.json()["status"] == "available"
    assert library.post("/library/books/1/return", headers=AUTH).status_code == 409


class Library(Provider):
    """The same spec with a provider module of a few lines: one business rule as a write hook."""

    name = "library"

    def error_body(self, error: ApiError, status: int) -> Any:
        return {"code": self.error_code(error), "message": error.message}

    @hook("books", "write")
    def no_sequels(self, call: Call, old: Record | None, draft: Record | None) -> None:
        if draft is None:
            return
        # Written first, refused after: the engine's transaction must leave neither behind.
        call.records.put("audit", {"id": call.records.next_id("audit"), "title": draft["title"]})
        if draft["title"].endswith(" II"):
            raise ApiError(ErrorKind.INVALID, "The library refuses sequels.", field="title")


def test_a_provider_module_adds_a_rule_and_a_refusal_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sandbox.engine.provider_package.discover", lambda: {"library": Library})
    client = library_client(tmp_path)
    assert client.post("/library/books", headers=AUTH, json={"title": "Dune", "author": "Herbert"}).status_code == 201
    refused = client.post("/library/books", headers=AUTH, json={"title": "Dune II", "author": "Herbert"})
    assert refused.status_code == 400
    assert refused.json() == {"code": "invalid", "message": "The library refuses sequels."}
    snapshot = client.get("/__sandbox/tenants/reader-1/state").json()["providers"]["library"]
    assert [book["title"] for book in snapshot["collections"]["books"]] == ["Dune", "Emma", "Persuasion", "Dune"]
    assert [entry["title"] for entry in snapshot["collections"]["audit"]] == ["Dune"]  # not "Dune II"
    assert snapshot["sequences"]["audit"] == 1 and snapshot["sequences"]["books"] == 4


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("books", "not_found"), "x-sandbox.resources.books: Additional properties are not allowed ('not_found'"),
        (("books", "id"), "x-sandbox.resources.books.id: 'serial' is not one of"),
    ],
)
def test_a_misspelt_declaration_stops_start_up_naming_where(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    import yaml

    from sandbox.spec import SpecError

    spec = yaml.safe_load((HERE / "library.yaml").read_text())
    resource, key = change
    spec["x-sandbox"]["resources"][resource][key] = "serial" if key == "id" else {"message": "typo"}
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "library.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError) as raised:
        create_app(Settings(specs_dir=tmp_path / "specs", fixtures_dir=None))
    assert problem in str(raised.value)

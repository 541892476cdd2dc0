"""Debitura through HTTP: auth, errors, cases, chats, tasks that resolve themselves, test-case helpers."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from sandbox.engine import Settings

BASE = "/debitura/v1"
FJORDLINE = "9fad543d-5f8c-54d9-9c9a-7100e29384fd"  # Active test case, open ReplyToChat
PENDING = "3922dbfa-773a-5552-afbe-f62e379e3630"  # Pending Verification Internal test case, no tasks
KASTANIE = "c7085dfa-7f0b-5b03-afc8-7a47ea6d4af5"  # More Info Required, open MoreInfoNeeded
SOLSIKKE = "0fdf9248-8932-5566-a79b-069d9e8c034b"  # production case, closed as Paid
FJORDLINE_REPLY_TASK = "a2bbe80a-2613-524d-9510-83d10d772c10"
BANK_ACCOUNT_TASK = "76f9f802-edb4-5618-9c86-92862160e594"
SIGN_CONTRACT_TASK = "d36f1e7d-e42c-5694-b5bd-f244e434e049"
ANNA = "anna.holm@nordlys-design.example"
START = "2026-12-01T09:00:00Z"


class World:
    """One fresh tenant with its clock frozen at START."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.key = f"test-{uuid.uuid4().hex}"
        self.headers = {"XApiKey": self.key}
        self.admin = f"/__sandbox/tenants/{self.key}"
        self.client.post(f"{self.admin}/clock", json={"frozen": True, "set": START})

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BASE + path, params=params, headers=self.headers)

    def post(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.post(BASE + path, json=body, headers={**self.headers, **headers})

    def delete(self, path: str, **params: Any) -> Any:
        return self.client.delete(BASE + path, params=params, headers=self.headers)

    def advance_clock(self, seconds: float) -> str:
        return self.client.post(f"{self.admin}/clock", json={"advance": seconds}).json()["now"]

    def reply(self, case_id: str, message: str = "Yes, we accept.") -> Any:
        response = self.post(f"/cases/{case_id}/chats", {"message": message, "userEmail": ANNA})
        assert response.status_code == 200, response.text
        return response.json()

    def partner_message(self, case_id: str, **body: Any) -> Any:
        return self.client.post(f"{self.admin}/debitura/cases/{case_id}/partner-messages", json=body)

    def case_tasks(self, case_id: str, **params: Any) -> list[dict[str, Any]]:
        response = self.get(f"/cases/{case_id}/tasks", **params)
        assert response.status_code == 200, response.text
        return response.json()

    def open_tasks(self, **params: Any) -> list[dict[str, Any]]:
        return self.get("/tasks", PageSize=100, **params).json()["tasks"]

    def sign_contract(self) -> None:
        """Resolve the demo account's SignContract task, as the person following its solutionUrl would."""
        response = self.client.post(f"{self.admin}/debitura/tasks/{SIGN_CONTRACT_TASK}/resolve")
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app for the module (it validates every response); each test works in its own tenant."""
    with TestClient(create_app(Settings(validate_responses=True))) as test_client:
        yield test_client


@pytest.fixture
def world(client: TestClient) -> World:
    return World(client)


@pytest.fixture
def signed(world: World) -> World:
    """A fresh tenant whose account has signed its debt-collection contract, so POST /cases succeeds."""
    world.sign_contract()
    return world


def case_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "currencyCode": "eur",
        "amountToRecover": 1250.5,
        "date": "2026-09-01",
        "dueDate": "2026-10-01T00:00:00",
        "creditorReference": f"INV-{uuid.uuid4().hex[:8]}",
        "isTest": True,
        "tag": "suite",
        "debtor": {"type": "Company", "name": "Debtor GmbH", "countryAlpha2": "de"},
    }
    body.update(overrides)
    return body


def business_error(response: Any) -> str:
    """The error's code, after checking the body has exactly the members Debitura's schema for its status allows."""
    body = response.json()
    if response.status_code == 422:
        assert set(body) == {"businessErrors", "signingHandoff"}  # BusinessErrorResponseApiDTO
    elif response.status_code == 429:
        assert set(body) == {"error", "message", "businessErrors", "retryAfter"}
    else:
        assert set(body) == {"error", "message", "businessErrors"}  # ApiErrorResponseDto
    return body["businessErrors"][0]["type"]


# -- auth and errors --------------------------------------------------------------


def test_either_xapikey_or_bearer_names_the_same_world(client: TestClient) -> None:
    key = f"auth-{uuid.uuid4().hex}"
    client.post(f"/__sandbox/tenants/{key}/debitura/tasks/{SIGN_CONTRACT_TASK}/resolve")
    created = client.post(f"{BASE}/cases", json=case_body(), headers={"XApiKey": key}).json()
    fetched = client.get(f"{BASE}/cases/{created['id']}", headers={"Authorization": f"Bearer {key}"})
    assert fetched.status_code == 200
    assert client.get(f"{BASE}/cases/{created['id']}", headers={"XApiKey": "someone-else"}).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"XApiKey": ""}, {"XApiKey": "a b"}, {"Authorization": "Basic eDp5"}])
def test_missing_or_malformed_credentials_are_401_in_debituras_envelope(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get(f"{BASE}/me", headers=headers)
    assert response.status_code == 401
    assert business_error(response) == "Unauthorized"
    assert response.json()["businessErrors"][0]["solutionUrl"] is None


def test_the_documentation_path_and_unknown_paths(world: World) -> None:
    assert world.get("/me").json()["companyName"] == "Nordlys Design ApS"
    response = world.client.get("/debitura/v1/nothing", headers=world.headers)
    assert response.status_code == 404
    assert business_error(response) == "NotFound"


def test_validation_errors_name_the_field(world: World) -> None:
    response = world.post("/cases", case_body(currencyCode="EURO"))
    assert response.status_code == 400
    assert business_error(response) == "ValidationFailed"
    assert response.json()["message"].startswith("currencyCode is invalid")

    response = world.post("/cases", case_body(debtor={"type": "Company", "name": "Blue", "countryAlpha2": "US"}))
    assert response.status_code == 400
    assert "stateAlpha2" in response.json()["message"]

    response = world.get("/cases/not-a-uuid")
    assert (response.status_code, business_error(response)) == (400, "ValidationFailed")
    assert response.json()["message"].startswith("id is invalid")
    assert world.get("/cases", PageSize=101).status_code == 400
    assert world.get("/cases", Page=0).status_code == 400
    assert world.get("/tasks", status="Done").status_code == 400
    assert world.get("/tasks", type="Nope").status_code == 400


# -- cases ------------------------------------------------------------------------


def test_create_takes_the_sdks_media_type_and_fills_the_case(signed: World) -> None:
    response = signed.client.post(
        f"{BASE}/cases",
        content=b'{"currencyCode":"dkk","amountToRecover":99,"debtor":{"type":"Private","name":"Ida",'
        b'"countryAlpha2":"dk"},"skipDebituraVerification":true,"comments":"Two reminders"}',
        headers={**signed.headers, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["lifecycle"] == "Pending Verification"
    assert (case["currency"], case["grossAmount"], case["remainder"], case["totalAddedFees"]) == ("DKK", 99, 99, 0)
    assert (case["date"], case["dueDate"], case["dateCreated"]) == (START, START, START)
    assert case["debtor"]["countryAlpha2"] == "DK"
    assert case["debtor"]["country"] == "Denmark"
    assert case["creditorComments"] == "Two reminders"
    assert case["isTestCase"] is False
    assert len(case["reference"]) == 8
    assert not any(key.startswith("_") for key in case)
    assert signed.get(f"/cases/case-reference/{case['reference'].lower()}").json() == case


def test_create_validates_age_buckets_and_team_members(signed: World) -> None:
    bad = [
        case_body(amountToRecoverOver24Months=10),
        case_body(amountToRecoverOver6Months=10, amountToRecoverOver12Months=5),
        case_body(amountToRecoverOver12Months=20, amountToRecoverOver24Months=30),
        case_body(amountToRecover=100, amountToRecoverOver12Months=200, amountToRecoverOver24Months=5),
        case_body(date="2026-02-30"),
        case_body(assignedUserEmail="stranger@example.com"),
    ]
    for body in bad:
        assert signed.post("/cases", body).status_code == 400, body
    good = signed.post("/cases", case_body(amountToRecoverOver12Months=200, assignedUserEmail=ANNA.upper()))
    assert good.status_code == 200
    assert good.json()["assignedUser"] == {"email": ANNA, "name": "Anna Holm"}
    assert signed.get("/cases").json()["page"]["totalResults"] == 8


def test_business_rules_are_422_and_create_nothing(world: World) -> None:
    duplicate = world.post("/cases", case_body(creditorReference="INV-2026-0412"))
    assert duplicate.status_code == 422
    assert business_error(duplicate) == "DuplicateCreditorReference"
    assert duplicate.json()["signingHandoff"] is None
    no_partner = world.post("/cases", case_body(debtor={"type": "Company", "name": "P", "countryAlpha2": "AQ"}))
    assert (no_partner.status_code, business_error(no_partner)) == (422, "NoPartnerAvailable")
    assert world.get("/cases").json()["page"]["totalResults"] == 7


def test_idempotency_key_replays_or_conflicts(signed: World) -> None:
    body = case_body()
    first = signed.post("/cases", body, **{"Idempotency-Key": "k-1"})
    again = signed.post("/cases", body, **{"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json()
    conflict = signed.post("/cases", {**body, "amountToRecover": 1}, **{"Idempotency-Key": "k-1"})
    assert (conflict.status_code, business_error(conflict)) == (422, "IdempotencyConflict")
    assert signed.get("/cases").json()["page"]["totalResults"] == 8


def test_list_pages_filters_and_sorts(world: World) -> None:
    first = world.get("/cases", PageSize=3).json()
    assert first["page"] == {"totalResults": 7, "pageSize": 3, "currentPage": 1, "responseCount": 3, "totalPages": 3}
    created = [case["dateCreated"] for case in first["cases"]]
    assert created == sorted(created, reverse=True)
    last = world.get("/cases", PageSize=3, Page=3).json()
    assert last["page"]["responseCount"] == 1
    beyond = world.get("/cases", PageSize=3, Page=9).json()
    assert (beyond["cases"], beyond["page"]["totalResults"]) == ([], 7)

    def references(**params: Any) -> list[str]:
        return [case["reference"] for case in world.get("/cases", **params).json()["cases"]]

    assert references(Statuses=["NeedsAdditionalDetails"]) == ["H2C9V5LR"]
    assert references(Statuses=["more info required", "Active"]) == ["H2C9V5LR", "K7Q2M9XD"]
    assert references(Statuses=["Closed"], Sort="Remainder:asc,DateFinished:desc") == ["M8T3J6QA", "R5N7B1YE"]
    assert references(Ids=[FJORDLINE.upper(), SOLSIKKE]) == ["K7Q2M9XD", "M8T3J6QA"]
    assert references(DivisionIds=["62889926-f3e4-582f-af56-f1360181ad79"]) == ["H2C9V5LR"]
    assert references(DebtorIds=["169e7dcc-fd15-5509-a9e2-d21beab78493"]) == ["K7Q2M9XD"]
    assert references(Sort="DateCollectionStarted:asc,Bogus:desc")[-3:] == ["P4WZ8N2T", "W3E6X8HP", "H2C9V5LR"]
    unknown = world.get("/cases", Statuses=["Sleeping"])
    assert (unknown.status_code, business_error(unknown)) == (400, "ValidationFailed")
    assert unknown.json()["message"].startswith("Statuses")


def test_lookups_by_reference(signed: World) -> None:
    assert signed.get("/cases/by-creditor-reference/INV-2026-0412").json()["id"] == FJORDLINE
    assert signed.get("/cases/by-creditor-reference/inv-2026-0412").status_code == 404
    assert signed.get("/cases/case-reference/k7q2m9xd").json()["id"] == FJORDLINE
    missing = signed.get("/cases/case-reference/NOPE1234")
    assert (missing.status_code, business_error(missing)) == (404, "CaseNotFound")
    created = signed.post("/cases", case_body(creditorReference="INV/2026/7")).json()
    assert signed.get("/cases/by-creditor-reference/INV%2F2026%2F7").json()["id"] == created["id"]


# -- chats ------------------------------------------------------------------------


def test_chats_are_oldest_first_and_replies_need_a_team_member(world: World) -> None:
    chats = world.get(f"/cases/{FJORDLINE}/chats").json()
    assert [chat["role"] for chat in chats] == [0, 1, 0]
    assert all("caseId" not in chat for chat in chats)

    missing = world.post(f"/cases/{FJORDLINE}/chats", {"message": "hi"})
    assert (missing.status_code, business_error(missing)) == (400, "MissingUserIdentifier")
    stranger = world.post(f"/cases/{FJORDLINE}/chats", {"message": "hi", "userEmail": "x@example.com"})
    assert (stranger.status_code, business_error(stranger)) == (400, "InvalidUser")
    assert world.post(f"/cases/{FJORDLINE}/chats", {"message": "", "userEmail": ANNA}).status_code == 400

    by_id = world.post(
        f"/cases/{FJORDLINE}/chats", {"message": "By id", "userId": "47D9CB41-8552-5569-979F-51586DE987DB"}
    )
    assert by_id.json()["user"]["id"] == 4102
    assert world.get(f"/cases/{FJORDLINE}/chats").json()[-1] == by_id.json()
    assert world.post(f"/cases/{uuid.uuid4()}/chats", {"message": "hi", "userEmail": ANNA}).status_code == 404


# -- tasks ------------------------------------------------------------------------


def test_the_task_catalogue_of_the_demo_account(world: World) -> None:
    queue = world.get("/tasks").json()
    assert queue["page"]["totalResults"] == 5
    by_type = {task["type"]: task for task in queue["tasks"]}
    assert set(by_type) == {"AssignBankAccount", "SignContract", "ReplyToChat", "MoreInfoNeeded", "ReviewPartner"}
    assert by_type["AssignBankAccount"]["caseId"] is None
    assert by_type["AssignBankAccount"]["solutionUrl"] == "https://app.debitura.com/Invoices/Index?bankAccountId=-1"
    assert by_type["ReplyToChat"]["action"] == {"method": "POST", "path": f"/cases/{FJORDLINE}/chats"}
    assert by_type["ReviewPartner"]["action"] is None
    assert all(task["solutionUrl"].startswith("https://") for task in queue["tasks"])

    chosen = world.open_tasks(type=["SignContract", "ReplyToChat", "SignContract"])
    assert [t["type"] for t in chosen] == ["ReplyToChat", "SignContract"]  # newest first
    solved = world.get("/tasks", status="Solved").json()["tasks"]
    assert {task["type"] for task in solved} == {"ReplyToChat", "ReviewPartner"}
    assert all(task["dateSolved"] for task in solved)

    assert [task["type"] for task in world.case_tasks(FJORDLINE)] == ["ReplyToChat"]
    assert world.case_tasks(FJORDLINE, type="MoreInfoNeeded") == []
    assert len(world.case_tasks(FJORDLINE, status="Solved")) == 1
    assert world.get(f"/cases/{uuid.uuid4()}/tasks").status_code == 404


def test_the_auto_resolution_story(world: World) -> None:
    """Partner writes, task Open, reply, still Open before the delay, Solved after a clock advance."""
    opened = world.partner_message(PENDING, message="Can you send the signed order?", taskType="ReplyToChat")
    assert opened.status_code == 201, opened.text
    task = opened.json()["task"]
    assert (task["status"], task["caseId"], task["action"]["path"]) == ("Open", PENDING, f"/cases/{PENDING}/chats")
    assert opened.json()["chat"]["role"] == 0
    assert [t["id"] for t in world.case_tasks(PENDING)] == [task["id"]]
    account_level = [t for t in world.open_tasks() if t["caseId"] is None]

    world.advance_clock(10)
    reply = world.reply(PENDING, "Attached, signed on 3 September.")
    assert [t["status"] for t in world.case_tasks(PENDING)] == ["Open"]  # not at once
    world.advance_clock(1.5)
    assert task["id"] in {t["id"] for t in world.open_tasks()}  # still within the 2 s delay

    world.advance_clock(0.5)
    assert world.case_tasks(PENDING) == []  # gone from the case's Open list
    assert task["id"] not in {t["id"] for t in world.open_tasks()}
    solved = world.case_tasks(PENDING, status="Solved")
    assert [(t["id"], t["dateSolved"]) for t in solved] == [(task["id"], "2026-12-01T09:00:12Z")]
    assert [t for t in world.open_tasks() if t["caseId"] is None] == account_level  # untouched
    assert len(account_level) == 2

    items = world.get(f"/cases/{PENDING}/timeline").json()["items"]
    assert [(item["type"], item["date"]) for item in items[-4:]] == [
        ("ChatMessage", "2026-12-01T09:00:00Z"),
        ("TaskOpened", "2026-12-01T09:00:00Z"),
        ("ChatMessage", reply["dateCreated"]),
        ("TaskSolved", "2026-12-01T09:00:12Z"),
    ]
    assert items[-2]["actor"] == {"type": "Creditor user", "name": "Anna Holm"}


def test_a_reply_only_resolves_chat_driven_tasks_already_open(world: World) -> None:
    world.reply(FJORDLINE)
    later = world.partner_message(FJORDLINE, message="One more question", taskType="ClientInputRequired").json()
    assert later["taskCreated"] is True
    world.advance_clock(2)
    open_now = world.case_tasks(FJORDLINE)
    assert [t["id"] for t in open_now] == [later["task"]["id"]]


def test_more_info_required_returns_after_the_reply(world: World) -> None:
    assert world.get(f"/cases/{KASTANIE}").json()["lifecycle"] == "More Info Required"
    world.reply(KASTANIE, "Agreement and PO attached.")
    assert world.get(f"/cases/{KASTANIE}").json()["lifecycle"] == "More Info Required"
    world.advance_clock(3)
    case = world.get(f"/cases/{KASTANIE}").json()
    assert (case["lifecycle"], case["dateUpdated"]) == ("Pending Verification", "2026-12-01T09:00:02Z")
    assert world.case_tasks(KASTANIE) == []
    last = world.get(f"/cases/{KASTANIE}/timeline").json()["items"][-1]
    assert (last["type"], last["title"]) == ("LifecycleChanged", "More Info Required \u2192 Pending Verification")


def test_the_delay_is_configurable_per_tenant(world: World, client: TestClient) -> None:
    load = {"debitura": {"settings": [{"id": "sandbox", "taskResolutionDelaySeconds": 30}]}}
    assert client.post(f"{world.admin}/fixtures", json=load).status_code == 200
    world.reply(FJORDLINE)
    world.advance_clock(29)
    assert len(world.case_tasks(FJORDLINE)) == 1
    world.advance_clock(1)
    assert world.case_tasks(FJORDLINE) == []

    other = World(client)
    load["debitura"]["settings"][0]["taskResolutionDelaySeconds"] = 0
    client.post(f"{other.admin}/fixtures", json=load)
    other.reply(FJORDLINE)
    assert other.case_tasks(FJORDLINE) == []  # resolved before the next call


def test_resolution_happens_on_real_time_too(client: TestClient) -> None:
    world = World(client)
    client.post(f"{world.admin}/clock", json={"frozen": False})
    load = {"debitura": {"settings": [{"id": "sandbox", "taskResolutionDelaySeconds": 0.2}]}}
    client.post(f"{world.admin}/fixtures", json=load)
    world.reply(FJORDLINE)
    time.sleep(0.3)
    assert world.case_tasks(FJORDLINE) == []


def test_a_snapshot_keeps_the_schedule_as_plain_json(world: World, client: TestClient) -> None:
    world.reply(FJORDLINE)
    snapshot = client.get(f"{world.admin}/state").json()
    tasks = snapshot["providers"]["debitura"]["collections"]["tasks"]
    scheduled = [t for t in tasks if "_resolveAt" in t]
    assert [(t["id"], t["_resolveAt"]) for t in scheduled] == [(FJORDLINE_REPLY_TASK, "2026-12-01T09:00:02.000000Z")]
    world.advance_clock(5)
    assert world.case_tasks(FJORDLINE) == []
    assert client.put(f"{world.admin}/state", json=snapshot).status_code == 200
    assert len(world.case_tasks(FJORDLINE)) == 1  # back before the due time
    world.advance_clock(2)
    assert world.case_tasks(FJORDLINE) == []


def test_people_resolve_tasks_through_the_admin_api(world: World, client: TestClient) -> None:
    url = f"{world.admin}/debitura/tasks/{BANK_ACCOUNT_TASK}/resolve"
    resolved = client.post(url)
    assert resolved.status_code == 200
    assert (resolved.json()["status"], resolved.json()["dateSolved"]) == ("Solved", START)
    again = client.post(url)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    assert client.post(f"{world.admin}/debitura/tasks/nope/resolve").status_code == 404
    assert BANK_ACCOUNT_TASK not in {t["id"] for t in world.open_tasks()}
    assert BANK_ACCOUNT_TASK in {t["id"] for t in world.get("/tasks", status="Solved").json()["tasks"]}


def test_partner_messages_reuse_an_open_task_of_the_type(world: World) -> None:
    first = world.partner_message(FJORDLINE, message="Any news?").json()
    assert (first["taskCreated"], first["task"]["id"]) == (False, FJORDLINE_REPLY_TASK)
    assert first["task"]["description"] == "Any news?"
    assert first["chat"]["user"]["firstName"] == "Sofie"  # whoever last wrote for the partner
    more = world.partner_message(FJORDLINE, message="Send the PO", taskType="MoreInfoNeeded").json()
    assert more["taskCreated"] is True
    assert more["task"]["title"] == "Lindqvist Inkasso A/S needs more information"
    assert world.partner_message(str(uuid.uuid4()), message="x").status_code == 404
    assert world.partner_message(FJORDLINE, message="x", taskType="Generic").status_code == 400
    assert world.partner_message(FJORDLINE).status_code == 400


def test_task_lists_page_like_a_brute_force_sort(client: TestClient) -> None:
    world = World(client)
    rng = random.Random(7)
    types = ["ReplyToChat", "ReviewPartner", "Generic", "SignContract", "AssignBankAccount"]
    tasks = []
    for n in range(240):
        kind = rng.choice(types)
        solved = rng.random() < 0.3
        tasks.append(
            {
                "id": str(uuid.UUID(int=n + 1)),
                "type": kind,
                "status": "Solved" if solved else "Open",
                "dateSolved": "2026-11-30T00:00:00Z" if solved else None,
                "caseId": None if kind in ("SignContract", "AssignBankAccount") else FJORDLINE,
                "dateCreated": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
            }
        )
    assert client.post(f"{world.admin}/fixtures", json={"debitura": {"tasks": tasks}}).status_code == 200
    everything = world.get("/tasks", PageSize=100, Page=1).json()["page"]["totalResults"]
    assert everything == 5 + sum(t["status"] == "Open" for t in tasks)

    def expected(status: str, wanted: list[str]) -> list[str]:
        listed = client.get(f"{world.admin}/state").json()["providers"]["debitura"]["collections"]["tasks"]
        chosen = [t for t in listed if t["status"] == status and (not wanted or t["type"] in wanted)]
        return [t["id"] for t in sorted(chosen, key=lambda t: (t["dateCreated"], [-ord(c) for c in t["id"]]))][::-1]

    for status, wanted in [("Open", []), ("Solved", ["Generic"]), ("Open", ["ReplyToChat", "SignContract"])]:
        ids: list[str] = []
        page = 1
        while True:
            body = world.get("/tasks", status=status, type=wanted, PageSize=7, Page=page).json()
            ids.extend(t["id"] for t in body["tasks"])
            if page >= body["page"]["totalPages"]:
                break
            page += 1
        assert ids == expected(status, wanted)
        assert body["page"]["totalResults"] == len(ids)


def test_task_fixtures_are_checked_against_their_cases(world: World, client: TestClient) -> None:
    bad = [
        {"id": "t1", "type": "SignContract", "caseId": FJORDLINE, "dateCreated": START},
        {"id": "t2", "type": "ReplyToChat", "dateCreated": START},
        {"id": "t3", "type": "Generic", "caseId": str(uuid.uuid4()), "dateCreated": START},
        {"id": "t4", "type": "Generic", "caseId": FJORDLINE, "caseReference": "WRONG", "dateCreated": START},
        {"id": "t5", "type": "ReplyToChat", "caseId": FJORDLINE, "action": None, "dateCreated": START},
        {"id": "t6", "type": "Generic", "status": "Solved", "dateCreated": START},
    ]
    response = client.post(f"{world.admin}/fixtures", json={"debitura": {"tasks": bad}})
    assert response.status_code == 400
    problems = response.json()["error"]["problems"]
    assert [problem.split("debitura: ")[1].split(" ")[0] for problem in problems] == [f"tasks[{n}]" for n in range(6)]
    assert "SignContract is an account-level task; its caseId must be null" in problems[0]
    assert "'WRONG' is not the creditor reference of case" in problems[3]
    assert world.get("/tasks").json()["page"]["totalResults"] == 5


# -- test-case helpers ------------------------------------------------------------


def advance(world: World, case_id: str, **body: Any) -> Any:
    return world.post(f"/test/cases/{case_id}/advance", body)


def test_advance_moves_forward_and_refuses_steps_back(signed: World) -> None:
    case = signed.post("/cases", case_body(amountToRecover=500)).json()
    assert advance(signed, case["id"], to="Closed:Paid").status_code == 400  # amount missing
    assert advance(signed, case["id"], to="Closed:Paid", amount=0).status_code == 400
    assert advance(signed, case["id"], to="Later").status_code == 400
    assert advance(signed, case["id"], to="Active").json() == {"advanced": True, "state": "Active"}
    active = signed.get(f"/cases/{case['id']}").json()
    assert (active["lifecycle"], active["dateCollectionStarted"]) == ("Active", START)
    assert advance(signed, case["id"], to="Active").json() == {"advanced": False, "state": "Active"}

    signed.advance_clock(60)
    paid = advance(signed, case["id"], to="Closed:Paid", amount=200)
    assert paid.json() == {"advanced": True, "state": "Closed:Paid"}
    closed = signed.get(f"/cases/{case['id']}").json()
    assert (closed["lifecycle"], closed["closeCode"], closed["remainder"]) == ("Closed", "Paid", 300)
    assert closed["dateFinished"] == "2026-12-01T09:01:00Z"
    assert advance(signed, case["id"], to="Closed:Paid", amount=5).json() == {"advanced": False, "state": "Closed:Paid"}

    for target in ("Closed:NoPayment", "Active"):
        refused = advance(signed, case["id"], to=target)
        assert (refused.status_code, business_error(refused)) == (400, "InvalidTestCaseTransition")
        assert "Closed:Paid" in refused.json()["message"] and target in refused.json()["message"]
    assert signed.get(f"/cases/{case['id']}").json() == closed

    timeline = signed.get(f"/cases/{case['id']}/timeline").json()
    assert [item["type"] for item in timeline["items"]] == [
        "CaseCreated",
        "LifecycleChanged",
        "CollectionStarted",
        "PaymentRegistered",
        "LifecycleChanged",
        "CaseClosed",
    ]
    assert timeline["currentEngagementPhase"] is None


def test_no_payment_closes_from_pending_in_one_call(world: World) -> None:
    result = advance(world, PENDING, to="Closed:NoPayment").json()
    assert result == {"advanced": True, "state": "Closed:NoPayment"}
    case = world.get(f"/cases/{PENDING}").json()
    assert (case["closeCode"], case["remainder"]) == ("Pre-Legal Exhausted \u2013 No Payment", 3200)
    refused = advance(world, PENDING, to="Closed:Paid", amount=10)
    assert business_error(refused) == "InvalidTestCaseTransition"


def test_only_test_cases_can_be_advanced_or_deleted(world: World) -> None:
    refused = advance(world, SOLSIKKE, to="Active")
    assert (refused.status_code, business_error(refused)) == (400, "NotATestCase")
    deleted = world.delete(f"/test/cases/{SOLSIKKE}")
    assert (deleted.status_code, business_error(deleted)) == (400, "NotATestCase")
    assert advance(world, str(uuid.uuid4()), to="Active").status_code == 404


def test_delete_removes_a_test_case_with_its_chats_and_tasks(world: World) -> None:
    assert world.delete(f"/test/cases/{FJORDLINE}").status_code == 204
    assert world.get(f"/cases/{FJORDLINE}").status_code == 404
    assert world.get(f"/cases/{FJORDLINE}/chats").status_code == 404
    assert FJORDLINE_REPLY_TASK not in {t["id"] for t in world.open_tasks()}
    assert world.get("/tasks", status="Solved").json()["page"]["totalResults"] == 1
    assert world.delete(f"/test/cases/{FJORDLINE}").status_code == 204  # again: still fine
    assert world.delete(f"/test/cases/{uuid.uuid4()}").status_code == 404


def test_a_world_remembers_as_many_deleted_cases_as_its_history_limit() -> None:
    """`--journal-limit 2`: the two latest deleted cases answer 204 again, an older one 404; by tag too."""
    with TestClient(create_app(Settings(validate_responses=True, journal_limit=2))) as short:
        signed = World(short)
        signed.sign_contract()
        created = [signed.post("/cases", case_body()).json()["id"] for _ in range(3)]
        for case_id in created:
            assert signed.delete(f"/test/cases/{case_id}").status_code == 204
        assert signed.delete(f"/test/cases/{created[0]}").status_code == 404  # forgotten: the oldest of three
        assert [signed.delete(f"/test/cases/{case_id}").status_code for case_id in created[1:]] == [204, 204]
        tagged = [signed.post("/cases", case_body(tag="run-3")).json()["id"] for _ in range(3)]
        assert signed.delete("/test/cases", tag="run-3").status_code == 204
        assert [signed.delete(f"/test/cases/{case_id}").status_code for case_id in tagged] == [404, 204, 204]
        kept = collection(short, signed, "deletedCases")
    assert kept == [{"id": "latest", "ids": tagged[1:]}]  # one record, however many were deleted


def test_a_deleted_case_takes_its_events_and_leaves_its_deliveries(signed: World, client: TestClient) -> None:
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["case.created"]}
    assert signed.post("/webhooks", hook).status_code == 201
    deleted, kept = (signed.post("/cases", case_body()).json()["id"] for _ in range(2))
    assert signed.delete(f"/test/cases/{deleted}").status_code == 204
    subjects = [event["subject"] for event in collection(client, signed, "sandbox.events")]
    assert deleted not in subjects and kept in subjects
    delivered = [json.loads(d["body"])["data"]["caseId"] for d in collection(client, signed, "sandbox.deliveries")]
    assert delivered == [deleted, kept]


def test_a_world_keeps_as_many_events_and_deliveries_as_its_history_limit() -> None:
    with TestClient(create_app(Settings(validate_responses=True, journal_limit=3))) as short:
        signed = World(short)
        signed.sign_contract()
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["case.created"]}
        assert signed.post("/webhooks", hook).status_code == 201
        created = [signed.post("/cases", case_body()).json()["id"] for _ in range(5)]
        signed.get("/me")  # the bound is applied after a call, outside its transaction
        subjects = [event["subject"] for event in collection(short, signed, "sandbox.events")]
        deliveries = collection(short, signed, "sandbox.deliveries")
    assert subjects == created[2:]
    assert [json.loads(d["body"])["data"]["caseId"] for d in deliveries] == created[2:]


def collection(client: TestClient, world: World, name: str) -> list[dict[str, Any]]:
    """A collection of the world's Debitura store, from its snapshot."""
    state = client.get(f"{world.admin}/state").json()
    return state["providers"]["debitura"]["collections"].get(name, [])


def test_delete_by_tag(signed: World) -> None:
    for _ in range(2):
        signed.post("/cases", case_body(tag="run-9"))
    signed.post("/cases", case_body(tag="run-9", isTest=False))
    refused = signed.delete("/test/cases", tag="run-9")
    assert (refused.status_code, business_error(refused)) == (400, "NotATestCase")
    assert signed.get("/cases").json()["page"]["totalResults"] == 10
    assert signed.delete("/test/cases", tag="demo-seed").status_code == 204
    assert signed.get("/cases").json()["page"]["totalResults"] == 6
    assert signed.delete("/test/cases", tag="nothing-has-it").status_code == 204
    assert signed.delete("/test/cases").status_code == 400
    assert signed.delete("/test/cases", tag=" ").status_code == 400


# -- limits, faults, refusals -------------------------------------------------------


def test_rate_limit_and_injected_faults_use_debituras_envelope() -> None:
    from sandbox.ratelimit import RateLimit

    app = create_app(Settings(validate_responses=True, rate_limits={"debitura": RateLimit(2, 60)}))
    with TestClient(app) as limited:
        headers = {"XApiKey": "limited"}
        assert [limited.get(f"{BASE}/me", headers=headers).status_code for _ in range(2)] == [200, 200]
        refused = limited.get(f"{BASE}/me", headers=headers)
        assert refused.status_code == 429
        assert business_error(refused) == "RateLimitExceeded"
        assert refused.json()["retryAfter"] == int(refused.headers["Retry-After"]) > 0


def test_injected_faults_render_as_debitura_errors(world: World, client: TestClient) -> None:
    for status, code in ((500, "InternalServerError"), (503, "ServiceUnavailable"), (429, "RateLimitExceeded")):
        rule = {"path": f"{BASE}/cases/*", "method": "GET", "status": status, "times": 1}
        assert client.post(f"{world.admin}/faults", json=rule).status_code in (200, 201)
        response = world.get(f"/cases/{FJORDLINE}")
        assert (response.status_code, business_error(response)) == (status, code)
    assert world.get(f"/cases/{FJORDLINE}").status_code == 200


def test_refusals_change_nothing(world: World, client: TestClient) -> None:
    world.get("/me")
    before = client.get(f"{world.admin}/state").json()
    refusals = [
        world.post("/cases", case_body(creditorReference="INV-2026-0412")),
        world.post("/cases", case_body(amountToRecoverOver24Months=1)),
        world.post(f"/cases/{FJORDLINE}/chats", {"message": "hi", "userEmail": "nobody@example.com"}),
        world.post(f"/test/cases/{SOLSIKKE}/advance", {"to": "Active"}),
        world.client.post(
            f"{BASE}/test/cases/{FJORDLINE}/advance",
            content=b'{"to": "Closed:Paid", "amount": 1e400}',
            headers={**world.headers, "Content-Type": "application/json"},
        ),
        world.client.post(
            f"{BASE}/cases",
            content=b'{"currencyCode": "EUR", "amountToRecover": 1' + b"0" * 400 + b',"debtor": {"type": "Company", '
            b'"name": "Big", "countryAlpha2": "DE"}}',
            headers={**world.headers, "Content-Type": "application/json"},
        ),
        world.delete(f"/test/cases/{SOLSIKKE}"),
    ]
    assert [response.status_code for response in refusals] == [422, 400, 400, 400, 400, 400, 400]
    assert client.get(f"{world.admin}/state").json() == before

"""The credential reader the engine derives from a spec's securitySchemes (sandbox/credentials.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sandbox.credentials import credential_reader
from sandbox.engine import Engine, Settings
from sandbox.errors import ApiError, ErrorKind

BEARER = {"type": "http", "scheme": "bearer"}
BASIC = {"type": "http", "scheme": "basic"}
API_KEY = {"type": "apiKey", "in": "header", "name": "XApiKey"}


def spec(security: list[dict[str, list[str]]], **schemes: Any) -> dict[str, Any]:
    return {"components": {"securitySchemes": schemes}, "security": security}


def refused(read: Any, headers: dict[str, str]) -> str:
    with pytest.raises(ApiError) as error:
        read(headers)
    assert error.value.kind is ErrorKind.UNAUTHORIZED
    return error.value.message


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_bearer() -> None:
    read = credential_reader(spec([{"bearerAuth": []}], bearerAuth=BEARER))
    assert read is not None
    assert read({"authorization": "Bearer tok_1"}) == "tok_1"
    assert read({"authorization": "bearer  tok_1 "}) == "tok_1"
    assert refused(read, {}) == "No credentials: send an 'Authorization: Bearer <token>' header."
    for value in ("Basic abc", "Bearer", "Bearer a b"):
        assert refused(read, {"authorization": value}) == "Malformed Authorization header: expected 'Bearer <token>'."


def test_basic_takes_the_user_name_with_an_empty_password() -> None:
    read = credential_reader(spec([{"basicAuth": []}], basicAuth=BASIC))
    assert read is not None
    assert read({"authorization": basic("key_1")}) == "key_1"
    assert refused(read, {}).startswith("No credentials")
    assert refused(read, {"authorization": basic("key_1", "secret")}).startswith("Use your API key as the user name")
    assert refused(read, {"authorization": "Bearer key_1"}).startswith("Malformed Authorization header")


def test_api_key_in_a_header() -> None:
    read = credential_reader(spec([{"ApiKey": []}], ApiKey=API_KEY))
    assert read is not None
    assert read({"xapikey": " key_1 "}) == "key_1"
    assert refused(read, {}) == "No credentials: send your API key in the 'XApiKey' header."
    assert refused(read, {"xapikey": ""}) == "The XApiKey header is empty: send your API key in it."
    assert refused(read, {"xapikey": "a b"}) == "Malformed XApiKey header: expected an API key."


def test_alternatives_take_the_first_the_request_carries() -> None:
    read = credential_reader(spec([{"ApiKey": []}, {"Bearer": []}], ApiKey=API_KEY, Bearer=BEARER))
    assert read is not None
    assert read({"xapikey": "key_1"}) == "key_1"
    assert read({"authorization": "Bearer tok_1"}) == "tok_1"
    assert read({"xapikey": "key_1", "authorization": "Bearer tok_1"}) == "key_1"
    assert refused(read, {"xapikey": "", "authorization": "Bearer tok_1"}).startswith("The XApiKey header is empty")
    assert refused(read, {"authorization": "Basic eDp5"}).startswith("Malformed Authorization header")
    assert refused(read, {}) == (
        "No credentials: send your API key in the 'XApiKey' header or an 'Authorization: Bearer <token>' header."
    )


def test_basic_or_bearer_follow_the_authorization_scheme() -> None:
    read = credential_reader(spec([{"b": []}, {"t": []}], b=BASIC, t=BEARER))
    assert read is not None
    assert read({"authorization": basic("key_1")}) == "key_1"
    assert read({"authorization": "Bearer tok_1"}) == "tok_1"
    assert refused(read, {"authorization": "Digest x"}).startswith("Malformed Authorization header")


@pytest.mark.parametrize(
    "document",
    [
        spec([], bearerAuth=BEARER),  # no security requirement
        spec([{}], bearerAuth=BEARER),  # auth optional
        spec([{"a": [], "b": []}], a=BEARER, b=API_KEY),  # two schemes at once
        spec([{"missing": []}]),
        spec([{"o": []}], o={"type": "oauth2", "flows": {}}),
        spec([{"q": []}], q={"type": "apiKey", "in": "query", "name": "key"}),
        spec([{"d": []}], d={"type": "http", "scheme": "digest"}),
    ],
)
def test_schemes_that_do_not_say_enough_give_no_reader(document: dict[str, Any]) -> None:
    assert credential_reader(document) is None


def test_the_providers_read_credentials_from_their_specs_unless_they_need_more() -> None:
    engine = Engine(Settings())
    services = {service.provider.name: service for service in engine.services}
    overridden = {name for name, service in services.items() if service.credential == service.provider.credential}
    assert overridden == {"invoiced"}  # its own 401 messages and WWW-Authenticate header
    assert services["payt"].credential({"authorization": "Bearer t"}) == "t"
    assert services["wethod"].credential({"authorization": "Bearer t"}) == "t"
    assert services["debitura"].credential({"xapikey": "k"}) == "k"
    assert services["sandbox"].credential is None  # the admin API needs no credential


@pytest.mark.parametrize(
    ("declared", "header", "good", "bad"),
    [
        (BEARER, "authorization", ("Bearer tok_1", "tok_1"), "Bearer a b"),
        (BASIC, "authorization", (basic("key_1"), "key_1"), basic("key_1", "secret")),
        (API_KEY, "xapikey", (" key_1 ", "key_1"), "key 1"),
    ],
)
def test_a_header_read_before_answers_the_same_and_a_bad_one_is_refused_every_time(
    declared: dict[str, str], header: str, good: tuple[str, str], bad: str
) -> None:
    from sandbox import credentials

    read = credential_reader(spec([{"auth": []}], auth=declared))
    assert read is not None
    value, credential = good
    assert read({header: value}) == credential and read({header: value}) == credential
    for _ in range(2):  # a refusal is not remembered
        refused(read, {header: bad})
    for number in range(credentials.REMEMBERED_CREDENTIALS + 5):  # past the memory's size: still right
        token = f"tok_{number}"
        sent = basic(token) if declared is BASIC else f"Bearer {token}" if declared is BEARER else token
        assert read({header: sent}) == token
    assert read({header: value}) == credential
    assert refused(read, {}).startswith("No credentials")

"""A provider's credential reader, derived from its spec's security schemes.

The engine reads a request's credential (the tenant key) the way the spec's
`components.securitySchemes` and top-level `security` say, when they say
enough:

- `type: http, scheme: bearer`: the token of `Authorization: Bearer <token>`;
- `type: http, scheme: basic`: the user name, with an empty password (an API
  key sent as the user name, `curl -u KEY:`);
- `type: apiKey, in: header, name: X`: the value of header `X`;
- several alternatives in `security`: the first one the request carries.

Anything else (OAuth2, OpenID Connect, an API key in the query or a cookie,
requirements that combine schemes, optional auth) is not enough:
`credential_reader` returns None and the provider must define `credential()`.
A provider also defines it when it needs more than this (its own messages or
headers on a 401).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.auth import basic_username, bearer_token, unauthorized, valid_token
from sandbox.clock import seconds_of
from sandbox.errors import ApiError, ErrorKind

CredentialReader = Callable[[dict[str, str]], str]
REMEMBERED_CREDENTIALS = 4096  # header values per scheme; the memory is dropped whole when full
REMEMBERED_LENGTH = 1024  # longer header values are read every time


@dataclass(frozen=True)
class Scheme:
    """One way to send a credential. `headers` are the request's, with lower-cased names."""

    kind: str  # "bearer", "basic" or "header"
    header: str = "authorization"  # for "header": the header's name as the spec spells it
    # header value -> the credential it carries (a pure function of that one header, so remembered)
    _known: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return self.header.lower()

    @property
    def hint(self) -> str:
        """How to send it, to complete "No credentials: send ..."."""
        if self.kind == "bearer":
            return "an 'Authorization: Bearer <token>' header"
        if self.kind == "basic":
            return "HTTP Basic auth with your API key as the user name"
        return f"your API key in the '{self.header}' header"

    def carried(self, headers: dict[str, str]) -> bool:
        """Whether the request sends this kind of credential (well formed or not)."""
        value = headers.get(self.key)
        if value is None:
            return False
        if self.kind == "header":
            return True
        return value.strip().partition(" ")[0].lower() == self.kind

    def read(self, headers: dict[str, str]) -> str:
        """The credential; an UNAUTHORIZED ApiError when it is missing or malformed."""
        value = headers.get(self.key)
        credential = self._known.get(value) if value is not None else None
        if credential is None:  # clients send the same header again and again: each is read once
            credential = self._read(headers)
            if value is not None and len(value) <= REMEMBERED_LENGTH:
                if len(self._known) >= REMEMBERED_CREDENTIALS:
                    self._known.clear()
                self._known[value] = credential
        return credential

    def _read(self, headers: dict[str, str]) -> str:
        if self.kind == "bearer":
            token = bearer_token(headers)
            assert token is not None
            return token
        if self.kind == "basic":
            return basic_username(headers)
        value = headers.get(self.key)
        if value is None:
            raise unauthorized(f"No credentials: send {self.hint}.")
        value = value.strip()
        if not value:
            raise unauthorized(f"The {self.header} header is empty: send your API key in it.")
        if not valid_token(value):
            raise unauthorized(f"Malformed {self.header} header: expected an API key.")
        return value


def scheme_of(declared: Any) -> Scheme | None:
    """The `Scheme` a security scheme object describes, or None when it is not one the engine reads."""
    if not isinstance(declared, dict):
        return None
    kind = declared.get("type")
    if kind == "http":
        scheme = str(declared.get("scheme", "")).lower()
        return Scheme(scheme) if scheme in ("bearer", "basic") else None
    if kind == "apiKey" and declared.get("in") == "header" and declared.get("name"):
        return Scheme("header", str(declared["name"]))
    return None


@dataclass(frozen=True)
class Alternatives:
    """A credential reader: the first of `schemes` the request carries."""

    schemes: tuple[Scheme, ...]

    def __call__(self, headers: dict[str, str]) -> str:
        for scheme in self.schemes:
            if scheme.carried(headers):
                return scheme.read(headers)
        if len(self.schemes) == 1:
            return self.schemes[0].read(headers)  # its own "missing" or "malformed" message
        if "authorization" in headers:
            # An Authorization header none of the schemes takes: malformed for the first that reads it.
            for scheme in self.schemes:
                if scheme.key == "authorization":
                    return scheme.read(headers)
        raise unauthorized("No credentials: send " + " or ".join(scheme.hint for scheme in self.schemes) + ".")


def credential_reader(spec: dict[str, Any]) -> CredentialReader | None:
    """How to read a credential from an OpenAPI document (`$ref`s inlined), or None if it does not say enough."""
    declared = (spec.get("components") or {}).get("securitySchemes") or {}
    schemes: list[Scheme] = []
    for requirement in spec.get("security") or []:
        if not isinstance(requirement, dict) or len(requirement) != 1:
            return None  # `{}` (auth optional) or several schemes at once
        (name,) = requirement
        scheme = scheme_of(declared.get(name))
        if scheme is None:
            return None
        if scheme not in schemes:
            schemes.append(scheme)
    if not schemes:
        return None
    # One scheme needs no choosing: its reader says what is missing or malformed.
    return schemes[0].read if len(schemes) == 1 else Alternatives(tuple(schemes))


# What a `tokens` fixture record is for a provider whose spec names no schema for it.
TOKEN_FIXTURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["token"],
    "additionalProperties": False,
    "properties": {
        "token": {"type": "string", "minLength": 1},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}


class DeclaredCredentials:
    """`sandbox serve --credentials declared`: only the tokens the fixtures declare are let in.

    Each provider's fixtures declare its tokens in a `tokens` collection (keyed
    by `token`). Any other credential is refused with a 401 in the provider's
    envelope. A token with `expires_at` (an ISO 8601 date-time) is refused once
    the tenant's clock has reached that time, so a client's refresh path can be
    tested by advancing the clock. Both 401s carry the provider's own code for
    a 401 (the providers' documents give one code for every 401).
    """

    def __init__(self, fixtures: Callable[[str], dict[str, list[dict[str, Any]]]]) -> None:
        self._fixtures = fixtures
        self._tokens: dict[str, dict[str, dict[str, Any]]] = {}

    def tokens(self, provider: str) -> dict[str, dict[str, Any]]:
        found = self._tokens.get(provider)
        if found is None:
            records = self._fixtures(provider).get("tokens", [])
            found = self._tokens[provider] = {str(record["token"]): record for record in records}
        return found

    def check(self, provider: str, credential: str, now: Callable[[], float], headers: dict[str, str]) -> None:
        """Refuse (UNAUTHORIZED) a credential not declared for `provider`, or expired at `now()`.

        `now` reads the tenant's clock; it is called only for a declared token
        (so an undeclared credential creates no tenant).
        """
        token = self.tokens(provider).get(credential)
        if token is None:
            raise ApiError(
                ErrorKind.UNAUTHORIZED,
                "Unknown credential: this sandbox accepts only the tokens declared in its fixtures.",
                headers=headers,
            )
        expires_at = token.get("expires_at")
        if expires_at is not None and now() >= seconds_of(expires_at):
            raise ApiError(
                ErrorKind.UNAUTHORIZED,
                f"The token expired at {expires_at}: get a new one.",
                headers=headers,
            )


def refusal_headers(reader: CredentialReader) -> dict[str, str]:
    """The headers a reader sends with its 401s (Invoiced's `WWW-Authenticate`), to send with ours."""
    try:
        reader({})
    except ApiError as error:
        return dict(error.headers)
    return {}

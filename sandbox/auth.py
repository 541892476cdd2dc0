"""Reading credentials from request headers, shared by the providers."""

from __future__ import annotations

import base64
import binascii
import re

from sandbox.errors import ApiError, ErrorKind

_TOKEN = re.compile(r"[A-Za-z0-9._~+/=:-]{1,512}")


def unauthorized(message: str) -> ApiError:
    return ApiError(ErrorKind.UNAUTHORIZED, message)


def valid_token(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def bearer_token(headers: dict[str, str], *, required: bool = True) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    value = headers.get("authorization")
    if value is None:
        if required:
            raise unauthorized("No credentials: send an 'Authorization: Bearer <token>' header.")
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not valid_token(token):
        raise unauthorized("Malformed Authorization header: expected 'Bearer <token>'.")
    return token


def basic_username(headers: dict[str, str]) -> str:
    """The user name of HTTP Basic auth whose password must be empty (an API key)."""
    value = headers.get("authorization")
    if value is None:
        raise unauthorized("No credentials: use HTTP Basic auth with your API key as the user name.")
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        raise unauthorized("Malformed Authorization header: expected HTTP Basic auth.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("Malformed Authorization header: the Basic credentials are not base64.") from None
    username, separator, password = decoded.partition(":")
    if not separator or password or not valid_token(username):
        raise unauthorized("Use your API key as the user name and leave the password empty.")
    return username

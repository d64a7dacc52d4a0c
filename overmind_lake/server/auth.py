"""API-key authentication, accepting the key in every form the hosted service
accepts (docs/http-export.md, "Authentication"):

* ``X-Api-Key: <key>``
* ``Authorization: Bearer <key>``
* ``Authorization: Api-Key <key>`` (the scheme word case-insensitive)

Answers as Django REST framework's authenticators do, tried in that order:
``X-Api-Key``, when sent (non-blank), decides alone — right key admitted,
wrong key 401 ``Invalid token.`` — and ``Authorization`` is then not looked
at; otherwise ``Authorization`` with a known scheme decides; with neither,
the answer is 401 ``Authentication credentials were not provided.``
Every 401 carries ``WWW-Authenticate: Bearer``.

Keys are compared in constant time, as sha256 digests (so not even the key's
length leaks through timing).

Implemented as a plain ASGI middleware so it runs before routing and before
the method check (docs/http.md: auth, then method, then dataset, …).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .responses import json_response
from .ui import is_ui_path

NOT_PROVIDED = "Authentication credentials were not provided."
INVALID = "Invalid token."
NO_CREDENTIALS = "Invalid token header. No credentials provided."
HAS_SPACES = "Invalid token header. Token string should not contain spaces."
BAD_CHARS = "Invalid token header. Token string should not contain invalid characters."

#: Paths answered without a token.
PUBLIC_PATHS = frozenset({"/healthz"})
#: ``Authorization`` schemes that carry the key (compared lower-cased).
SCHEMES = frozenset({b"bearer", b"api-key"})


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _matches(given: bytes, token: str) -> bool:
    """Constant-time comparison, also in the lengths (digests are compared)."""
    return hmac.compare_digest(_digest(given), _digest(token.encode("utf-8")))


def check_authorization(header: bytes | None, token: str) -> str | None:
    """None when an ``Authorization`` header carries ``token``; otherwise the 401 detail.

    ``Bearer`` and ``Api-Key`` are the key's schemes; another scheme (or no
    header) counts as no credentials, as in DRF's ``TokenAuthentication``.
    """
    parts = (header or b"").split()
    if not parts or parts[0].lower() not in SCHEMES:
        return NOT_PROVIDED
    if len(parts) == 1:
        return NO_CREDENTIALS
    if len(parts) > 2:
        return HAS_SPACES
    try:
        parts[1].decode("utf-8")
    except UnicodeDecodeError:
        return BAD_CHARS
    return None if _matches(parts[1], token) else INVALID


def check_api_key(value: bytes | None, token: str) -> str | None:
    """None when an ``X-Api-Key`` value is ``token``; ``INVALID`` otherwise
    (only called for a non-blank header)."""
    return None if _matches((value or b"").strip(), token) else INVALID


def check_request(headers: list[tuple[bytes, bytes]], token: str) -> str | None:
    """None when the request's headers carry ``token`` in an accepted form; else the 401 detail."""
    api_key = authorization = None
    for key, value in headers:
        if key == b"x-api-key" and api_key is None:
            api_key = value
        elif key == b"authorization" and authorization is None:
            authorization = value
    if api_key is not None and api_key.strip():
        return check_api_key(api_key, token)
    return check_authorization(authorization, token)


class BearerAuth:
    """Reject every HTTP request but ``/healthz`` that does not carry the key
    in one of the accepted forms (401)."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or is_ui_path(scope["path"]):
            # the viewer's pages check its session cookie themselves (docs/viewer.md)
            await self.app(scope, receive, send)
            return
        problem = check_request(scope["headers"], self.token)
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = json_response({"detail": problem}, 401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def token_from(value: Any) -> str | None:
    """A configured token, or None when authentication is off (empty means off)."""
    return value or None

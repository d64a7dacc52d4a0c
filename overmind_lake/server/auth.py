"""Bearer-token authentication, answering as DRF's ``TokenAuthentication``
(keyword ``Bearer``) does.

Implemented as a plain ASGI middleware so it runs before routing and before
the method check (docs/http.md: auth, then method, then dataset, …).
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .responses import json_response

NOT_PROVIDED = "Authentication credentials were not provided."
INVALID = "Invalid token."
NO_CREDENTIALS = "Invalid token header. No credentials provided."
HAS_SPACES = "Invalid token header. Token string should not contain spaces."
BAD_CHARS = "Invalid token header. Token string should not contain invalid characters."

#: Paths answered without a token.
PUBLIC_PATHS = frozenset({"/healthz"})


def check_authorization(header: bytes | None, token: str) -> str | None:
    """None when ``header`` carries ``token``; otherwise the 401 detail message."""
    parts = (header or b"").split()
    if not parts or parts[0].lower() != b"bearer":
        return NOT_PROVIDED
    if len(parts) == 1:
        return NO_CREDENTIALS
    if len(parts) > 2:
        return HAS_SPACES
    try:
        given = parts[1].decode("utf-8")
    except UnicodeDecodeError:
        return BAD_CHARS
    if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        return INVALID
    return None


class BearerAuth:
    """Reject every HTTP request without ``Authorization: Bearer <token>`` (401)."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                header = value
                break
        problem = check_authorization(header, self.token)
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = json_response({"detail": problem}, 401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def token_from(value: Any) -> str | None:
    """A configured token, or None when authentication is off (empty means off)."""
    return value or None

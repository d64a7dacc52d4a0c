"""CORS for the read-only API: off unless origins are configured (docs/security.md).

With origins given (``serve --cors ORIGIN``, repeatable, or
``create_app(cors=[...])``):

* a request whose ``Origin`` is one of them, with method GET, HEAD or
  OPTIONS, gets ``Access-Control-Allow-Origin: <that origin>``;
* a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from one
  of them asking for GET or HEAD is answered here, before authentication
  (browsers never send credentials on a preflight), 200 with the allowed
  methods and headers; one asking for any other method, or for a header
  outside the allowed ones, is refused: 403 JSON, no CORS header;
* any other origin gets no CORS header at all (its preflight goes on to the
  app, and so to authentication, as any OPTIONS does);
* every response carries ``Vary: Origin``.

Without origins the middleware is not installed: no CORS header is ever sent.
"""

from __future__ import annotations

from typing import Iterable

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "OPTIONS")
#: Request headers a browser app may send (the auth forms and revalidation).
ALLOWED_HEADERS = ("authorization", "x-api-key", "if-none-match", "accept")
#: Response headers a browser app may read besides the CORS-safelisted ones.
EXPOSED_HEADERS = ("ETag", "Allow", "Content-Disposition", "X-Overmind-Version", "X-Overmind-Cell",
                   "X-Overmind-Fingerprint")
MAX_AGE = "600"
REFUSED = "CORS preflight refused."


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class CORS:
    """ASGI middleware allowing exactly ``origins`` to read with GET/HEAD/OPTIONS."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]):
        self.app = app
        self.origins = frozenset(o.rstrip("/") for o in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = origin is not None and origin in self.origins
        method = scope["method"]
        if allowed and method == "OPTIONS" and _header(scope, b"access-control-request-method") is not None:
            await self._preflight(scope, send, origin)
            return
        cors = allowed and method in METHODS

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                if cors:
                    headers["Access-Control-Allow-Origin"] = origin
                    headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: str) -> None:
        wanted = (_header(scope, b"access-control-request-method") or "").strip()
        asked = _header(scope, b"access-control-request-headers") or ""
        names = [h.strip().lower() for h in asked.split(",") if h.strip()]
        if wanted not in METHODS or any(name not in ALLOWED_HEADERS for name in names):
            body = orjson.dumps({"detail": REFUSED})
            headers = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
            status = 403
        else:
            body = b""
            headers = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", ", ".join(METHODS).encode()),
                (b"access-control-allow-headers", ", ".join(ALLOWED_HEADERS).encode()),
                (b"access-control-max-age", MAX_AGE.encode()),
                (b"vary", b"Origin"),
            ]
            status = 200
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

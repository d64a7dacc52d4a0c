"""Request size and time limits, each answered with a JSON body (docs/security.md).

Two layers enforce the same byte limits:

* :class:`LimitedHttpToolsProtocol`, the uvicorn protocol ``serve`` runs,
  counts the request target and the header bytes *while they are parsed*,
  so a client cannot make the server buffer an unbounded request head; it
  also answers unparseable requests with JSON instead of uvicorn's plain text.
* :class:`RequestLimits`, an ASGI middleware, checks the same limits on the
  parsed request (for any other ASGI server) and bounds the time until the
  response starts.

| limit | default | status | body |
|---|---|---|---|
| request target (path + query) | 16 KiB | 414 | ``{"detail": "Request-URI too long."}`` |
| request header fields (total) | 32 KiB | 431 | ``{"detail": "Request header fields too large."}`` |
| time until the response starts | 30 s | 503 | ``{"detail": "Request timed out."}`` |
| unparseable request | | 400 | ``{"detail": "Invalid HTTP request received."}`` |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_TARGET_BYTES = 16 * 1024
MAX_HEADER_BYTES = 32 * 1024
REQUEST_TIMEOUT = 30.0

URI_TOO_LONG = "Request-URI too long."
HEADERS_TOO_LARGE = "Request header fields too large."
TIMED_OUT = "Request timed out."
BAD_REQUEST = "Invalid HTTP request received."

_REASONS = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class Limits:
    """The byte and time limits of one server (``None`` turns a limit off)."""

    max_target_bytes: int | None = MAX_TARGET_BYTES
    max_header_bytes: int | None = MAX_HEADER_BYTES
    request_timeout: float | None = REQUEST_TIMEOUT


def header_bytes(headers: Any) -> int:
    """Bytes of header fields as sent: ``name: value\\r\\n`` each."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


def target_bytes(scope: Scope) -> int:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    query = scope.get("query_string", b"")
    return len(raw) + (len(query) + 1 if query else 0)


def _json_head(status: int, body: bytes) -> bytes:
    return b"".join([
        b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n", body,
    ])


def _detail(message: str) -> bytes:
    return orjson.dumps({"detail": message})


async def _send_detail(send: Send, status: int, message: str) -> None:
    body = _detail(message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware: 414 / 431 on oversized requests, 503 when the response
    has not started within ``request_timeout`` seconds.

    The time limit covers the wait for the first response byte only: a
    response already streaming is never cut. A page build still running in
    its thread when the time is up is abandoned (its result is discarded).
    """

    def __init__(self, app: ASGIApp, limits: Limits = Limits()):
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        if limits.max_target_bytes is not None and target_bytes(scope) > limits.max_target_bytes:
            await _send_detail(send, 414, URI_TOO_LONG)
            return
        if limits.max_header_bytes is not None and header_bytes(scope["headers"]) > limits.max_header_bytes:
            await _send_detail(send, 431, HEADERS_TOO_LARGE)
            return
        if limits.request_timeout is None:
            await self.app(scope, receive, send)
            return
        started = False
        with anyio.move_on_after(limits.request_timeout) as cancel:
            async def send_started(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    cancel.deadline = math.inf  # a started response is never cut
                await send(message)

            await self.app(scope, receive, send_started)
        if cancel.cancelled_caught and not started:
            await _send_detail(send, 503, TIMED_OUT)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request-head limits and JSON errors.

    ``limits`` is per process: ``serve`` sets it before uvicorn starts, and a
    worker process's app factory sets it from the worker configuration.
    """

    limits: Limits = Limits()
    _reject: tuple[int, str] | None = None
    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        limit = self.limits.max_target_bytes
        if limit is not None and len(self.url) > limit:
            self._reject = (414, URI_TOO_LONG)
            raise ValueError("request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_bytes += len(name) + len(value) + 4
        limit = self.limits.max_header_bytes
        if limit is not None and self._head_bytes > limit:
            self._reject = (431, HEADERS_TOO_LARGE)
            raise ValueError("request header fields too large")

    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except Exception:  # noqa: BLE001 - whatever a parser callback raised: a bad request
            self.send_400_response(BAD_REQUEST)

    def send_400_response(self, msg: str) -> None:
        status, message = self._reject or (400, BAD_REQUEST)
        if not self.transport.is_closing():
            self.transport.write(_json_head(status, _detail(message)))
            self.transport.close()

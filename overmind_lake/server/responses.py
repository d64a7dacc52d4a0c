"""JSON responses, error bodies, request URLs and HTTP caching helpers."""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response

JSON = "application/json"
ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
ALLOW = ", ".join(ALLOWED_METHODS)
NOT_FOUND = "Not found."
NO_DATASET = "No Dataset matches the given query."
INVALID_PAGE = "Invalid page."
SERVER_ERROR = "A server error occurred."
#: Bump when the bytes of a page change for the same inputs (invalidates ETags).
ETAG_SALT = b"overmind-lake-page-1"


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Compact UTF-8 JSON (``application/json``)."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, headers=dict(headers or {}), media_type=JSON)


def detail(message: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"detail": message}, status, headers)


def method_not_allowed(method: str) -> Response:
    return detail(f'Method "{method}" not allowed.', 405, {"Allow": ALLOW})


def options_response(name: str, description: str) -> Response:
    """200 with ``Allow``, and DRF's ``SimpleMetadata`` body."""
    body = {"name": name, "description": description,
            "renders": [JSON], "parses": [JSON]}
    return json_response(body, 200, {"Allow": ALLOW})


def method_guard(request: Request, name: str, description: str) -> Response | None:
    """The response for OPTIONS or a disallowed method; None for GET/HEAD."""
    method = request.method
    if method in ("GET", "HEAD"):
        return None
    if method == "OPTIONS":
        return options_response(name, description)
    return method_not_allowed(method)


def _first(value: str) -> str:
    return value.split(",", 1)[0].strip()


def request_url(request: Request, proxy_headers: bool) -> str:
    """The absolute request URL as DRF's ``build_absolute_uri()`` gives it.

    Host from ``Host`` (``X-Forwarded-Host`` / ``X-Forwarded-Proto`` only
    with ``proxy_headers``); path and query string as the client sent them.
    """
    scope = request.scope
    headers = request.headers
    scheme = scope.get("scheme", "http")
    host = headers.get("host")
    if proxy_headers:
        scheme = _first(headers.get("x-forwarded-proto", "")) or scheme
        host = _first(headers.get("x-forwarded-host", "")) or host
    if not host:
        server = scope.get("server")
        if server:
            name, port = server
            default = 443 if scheme == "https" else 80
            host = name if port in (None, default) else f"{name}:{port}"
        else:
            host = "localhost"
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    path = path.split("?", 1)[0]
    query = scope.get("query_string", b"").decode("utf-8", "replace")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def query_string(request: Request) -> str:
    return request.scope.get("query_string", b"").decode("utf-8", "replace")


def strong_etag(*parts: Any) -> str:
    """A strong ETag over ``parts`` (their repr; callers pass plain values)."""
    digest = hashlib.blake2b(ETAG_SALT, digest_size=16)
    for part in parts:
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return '"' + digest.hexdigest() + '"'


def body_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def if_none_match(request: Request, etag: str) -> bool:
    """True when ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110) or is ``*``."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(_opaque(tag) == etag for tag in header.split(","))


def not_modified(headers: Mapping[str, str]) -> Response:
    return Response(status_code=304, headers=dict(headers))


def cached_json(request: Request, body: bytes, cache_headers: Iterable[tuple[str, str]] = ()) -> Response:
    """200 with a body ETag (and 304 on a match); for small, cheap responses."""
    headers = {"ETag": body_etag(body), "Cache-Control": "no-cache", **dict(cache_headers)}
    if if_none_match(request, headers["ETag"]):
        return not_modified(headers)
    return json_response(body, 200, headers)

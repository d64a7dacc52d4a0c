"""The viewer's login: a browser cannot send the API's token header, so a
form takes the token once and sets a session cookie (docs/viewer.md).

* The cookie holds ``HMAC-SHA256(key=token, "overmind-lake viewer session v1")``
  in hex -- derived from the token, never the token itself; it changes
  when the server's token changes, which logs every browser out.
* ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
  page makes the browser send it), ``Path=/``, ``Secure`` over https.
* The login POST is checked for CSRF: an ``Origin`` (or, without one, a
  ``Referer``) naming another origin is refused.
* The cookie opens the HTML pages only; the JSON API still needs a header.
  The header forms open the pages too.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "overmind_lake_session"
_LABEL = b"overmind-lake viewer session v1"
#: A login form body larger than this is refused (it only holds a token).
MAX_FORM_BYTES = 16 << 10


def session_value(token: str) -> str:
    """The cookie value that proves a browser logged in with ``token``."""
    return hmac.new(token.encode("utf-8"), _LABEL, hashlib.sha256).hexdigest()


def logged_in(request: Request, token: str | None) -> bool:
    """True when auth is off, or the request carries the session cookie of ``token``,
    or the key in one of the API's header forms (a script may read pages too)."""
    if not token:
        return True
    given = request.cookies.get(COOKIE, "")
    if hmac.compare_digest(given.encode("utf-8", "replace"), session_value(token).encode("ascii")):
        return True
    from ..auth import check_request  # the API's own check (auth imports this package)

    return check_request(request.headers.raw, token) is None


def safe_next(value: str | None) -> str:
    """Where to go after login: a path of the viewer, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    path = urlsplit(value).path
    if path != "/" and not path.startswith("/ui/"):
        return "/"
    return value


def _origin_of(request: Request) -> str:
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


def same_origin(request: Request) -> bool:
    """The POST came from one of our own pages (CSRF check on ``Origin``, else ``Referer``)."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == _origin_of(request)
    referer = request.headers.get("referer")
    if referer is not None:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}" == _origin_of(request)
    return True  # not a browser (browsers send Origin on every POST): nothing to forge


async def read_form(request: Request) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` body as a dict; None when unusable."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


def login_response(request: Request, token: str, next_path: str) -> Response:
    """303 to ``next_path`` setting the session cookie."""
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


def logout_response(request: Request) -> Response:
    """303 to the login form, clearing the cookie."""
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


def token_matches(given: str, token: str) -> bool:
    """Constant-time comparison of a submitted token with the server's."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))

"""The viewer's pages: server-rendered HTML at ``/`` and under ``/ui/``
(docs/viewer.md).

Every page checks, in order: method (405), login when a token is set (the
login form, no data), dataset (404), parameters (400, every bad one shown,
with the JSON API's messages), page (404). Errors are HTML pages with the
API's status and messages, never a 500 for bad input.

Rendered datapoint pages are cached by what they show: the dataset, every
version with its checksum (the versions table shows them all), the
validated parameters and the page; committed versions never change.
"""

from __future__ import annotations

import uuid
from urllib.parse import unquote_plus
from pathlib import Path
from typing import Any, Mapping

import anyio.to_thread
import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ...errors import DatasetNotFound, InvalidPage
from ...lake import Lake
from ...query.facets import FACET_FIELDS
from ...schema import MAX_PAGE_SIZE, ORDERING_FIELDS, SOURCES
from ...storage.catalog import DatasetRecord
from ..params import BadRequest, parse_datapoint_query, parse_uuid, query_dict
from ..responses import NO_DATASET, NOT_FOUND, INVALID_PAGE, query_string
from ..views import PageCache
from . import session
from .cells import cell_html, chips_html, rows_html
from .data import CHANGES, datapoints_view, diff_frame, diff_view, lake_rows, version_rows
from .links import Query

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
ALLOW = "GET, HEAD, OPTIONS"
#: Every 401 names the scheme the API takes (RFC 9110); a browser shows the form, not a prompt.
LOGIN_CHALLENGE = {"WWW-Authenticate": "Bearer"}
#: Facet values listed per field (the rest are counted as "more").
FACET_LIMIT = 12
PAGE_SIZES = (10, 25, 50, 100, 200, 500, 1000)

#: No inline script, no other origin: a datapoint's text can never run.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


def _environment() -> jinja2.Environment:
    # auto_reload off: the templates ship in the package; a check costs a stat per template per page
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["short"] = lambda text, n=8: (text or "")[:n]
    env.filters["when"] = lambda text: (text or "").replace("T", " ").split(".")[0].removesuffix("Z") + (" UTC" if text else "")
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["cell"] = cell_html
    env.filters["chips"] = chips_html
    env.filters["rows"] = rows_html
    return env


def _ordering_choices(current: str) -> list[tuple[str, str]]:
    choices = [("", "default (version, order, id)")]
    for name in ORDERING_FIELDS:
        choices += [(name, f"{name} ↑"), ("-" + name, f"{name} ↓")]
    if current and current not in {value for value, _ in choices}:
        choices.append((current, current))
    return choices


class Viewer:
    """The pages, bound to one lake and the server's settings."""

    def __init__(self, lake: Lake, *, token: str | None, page_size: int, cache_bytes: int = 32 << 20):
        self.lake = lake
        self.token = token
        self.page_size = page_size
        self.templates = Jinja2Templates(env=_environment())
        self.cache = PageCache(cache_bytes)
        self.chrome = PageCache(cache_bytes // 4)

    # -- plumbing ------------------------------------------------------------
    def _html(self, request: Request, template: str, context: dict[str, Any], status: int = 200,
              headers: Mapping[str, str] | None = None) -> HTMLResponse:
        return HTMLResponse(self._render(request, template, context), status, headers=self._headers(headers))

    def _render(self, request: Request, template: str, context: dict[str, Any]) -> str:
        # "auth": show the logout link (a token is set and this browser is logged in)
        base = {"auth": bool(self.token) and session.logged_in(request, self.token), "request_path": request.url.path}
        return self.templates.get_template(template).render({**base, **context})

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        cache = "private, no-cache" if self.token else "no-cache"
        return {**SECURITY_HEADERS, "Cache-Control": cache, **dict(extra or {})}

    def error(self, request: Request, status: int, title: str, *, detail: str | None = None,
              errors: Mapping[str, list[str]] | None = None, headers: Mapping[str, str] | None = None,
              dataset: DatasetRecord | None = None) -> HTMLResponse:
        """An HTML error page carrying the JSON API's status and messages."""
        return self._html(request, "error.html", {"status": status, "title": title, "detail": detail,
                                                  "errors": dict(errors or {}), "dataset": dataset},
                          status, headers)

    def guard(self, request: Request) -> Response | None:
        """Login form / OPTIONS / 405, or None when the page may be shown.

        Authentication first, then the method, as the API checks them."""
        if not session.logged_in(request, self.token):
            qs = query_string(request)
            if qs and self.token and (self.token in qs or self.token in unquote_plus(qs)):
                qs = ""  # a token put in the URL is never echoed back (the login form's next)
            target = request.url.path + (f"?{qs}" if qs else "")
            return self._html(request, "login.html", {"next": target, "problem": None}, 401, LOGIN_CHALLENGE)
        if request.method == "OPTIONS":
            return Response(status_code=200, headers={"Allow": ALLOW, **SECURITY_HEADERS})
        if request.method not in ("GET", "HEAD"):
            return self.error(request, 405, "Method not allowed",
                              detail=f'Method "{request.method}" not allowed.', headers={"Allow": ALLOW})
        return None

    def _guarded_dataset(self, request: Request) -> DatasetRecord | Response:
        """The session/method checks, then the path's dataset: its record or the page to answer."""
        guard = self.guard(request)
        return guard if guard is not None else self._dataset(request, request.path_params["id"])

    def _dataset(self, request: Request, raw_id: str) -> DatasetRecord | Response:
        canonical = parse_uuid(raw_id)
        if canonical is None:
            return self.error(request, 404, "Not found", detail=NOT_FOUND)
        try:
            return self.lake.dataset(uuid.UUID(canonical))
        except DatasetNotFound:
            return self.error(request, 404, "Not found", detail=NO_DATASET)

    # -- pages ---------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        """``/`` (and ``/ui/``): every dataset of the lake; ``?q=`` filters by name."""
        guard = self.guard(request)
        if guard is not None:
            return guard
        search = request.query_params.get("q", "").strip()
        rows = await anyio.to_thread.run_sync(lake_rows, self.lake, search)
        return self._html(request, "lake.html", {"rows": rows, "q": search, "root": self.lake.root})

    async def dataset(self, request: Request) -> Response:
        """``/ui/datasets/{id}/``: versions, facets and a page of datapoints."""
        record = self._guarded_dataset(request)
        if isinstance(record, Response):
            return record
        raw = query_dict(query_string(request))
        try:
            params, page = parse_datapoint_query(raw, self.page_size)
        except BadRequest as exc:
            return self.error(request, 400, "Bad request", errors=exc.errors, dataset=record)
        commits = self.lake.catalog.commits(record.id)
        q = Query(raw)
        # what the page shows: the dataset's versions (all of them: the versions table), the
        # query as its links repeat it, the page; committed versions never change
        key = (record.id, tuple((c.version, c.checksum) for c in commits), q.string(page=None), params,
               page.page, page.page_size)
        cached = self.cache.get(key)  # type: ignore[arg-type]
        if cached is not None:
            return HTMLResponse(cached, headers=self._headers())
        query = self.lake.query(record, params)
        try:
            view = await anyio.to_thread.run_sync(datapoints_view, query, page.page, page.page_size)
        except InvalidPage:
            return self.error(request, 404, "Not found", detail=INVALID_PAGE, dataset=record)
        models = sorted({m for c in commits for m in c.generator_models})
        context = {
            "dataset": record, "versions": version_rows(commits), "view": view, "q": q,
            "selected": set(query.versions), "latest": commits[-1].version if commits else 0,
            "source_choices": SOURCES, "models": models, "orderings": _ordering_choices(q.get("ordering")),
            "page_sizes": sorted(set(PAGE_SIZES) | {page.page_size}), "page_size": page.page_size,
            "max_page_size": MAX_PAGE_SIZE, "facet_fields": FACET_FIELDS, "facet_limit": FACET_LIMIT,
            "filterable": {"source", "generator_model", "agent"},
            "api": f"/api/datasets/{record.id}/datapoints/" + q.string(),
            "sort_fields": ("order", "id", "persona"),
        }
        # versions, form and facets do not depend on the page number: rendered once per query
        chrome_key = key[:4] + (page.page_size,)
        chrome = self.chrome.get(chrome_key)  # type: ignore[arg-type]
        if chrome is None:
            chrome = self._render(request, "_chrome.html", context).encode("utf-8")
            self.chrome.put(chrome_key, chrome)  # type: ignore[arg-type]
        context["chrome"] = Markup(chrome.decode("utf-8"))
        body = self._render(request, "dataset.html", context).encode("utf-8")
        self.cache.put(key, body)  # type: ignore[arg-type]
        return HTMLResponse(body, headers=self._headers())

    async def diff(self, request: Request) -> Response:
        """``/ui/datasets/{id}/diff/?a=&b=``: rows added, removed, changed from a to b."""
        record = self._guarded_dataset(request)
        if isinstance(record, Response):
            return record
        raw = query_dict(query_string(request))
        commits = self.lake.catalog.commits(record.id)
        by_version = {c.version: c for c in commits}
        latest = commits[-1].version if commits else 0
        errors: dict[str, list[str]] = {}
        numbers: dict[str, int] = {}
        for name in ("a", "b"):
            value = raw.get(name, "").strip()
            if value:
                try:
                    numbers[name] = int(value)
                except ValueError:
                    errors[name] = ["Enter a whole number."]
        change = raw.get("change", "")
        if change and change not in CHANGES:
            errors["change"] = [f"Select a valid choice. {change} is not one of the available choices."]
        if errors:
            return self.error(request, 400, "Bad request", errors=errors, dataset=record)
        b = numbers.get("b", latest)
        parent = by_version[b].parent_version if b in by_version else None
        a = numbers.get("a", parent if parent is not None else max(1, b - 1))
        missing = [n for n in (a, b) if n not in by_version]
        if missing:
            return self.error(request, 404, "Not found", dataset=record,
                              detail=f"Version {missing[0]} of this dataset does not exist "
                                     f"(versions 1 to {latest}).")
        frame = await anyio.to_thread.run_sync(diff_frame, self.lake, record, by_version[a], by_version[b])
        try:
            view = diff_view(frame, change or None, raw.get("page") or "1")
        except InvalidPage:
            return self.error(request, 404, "Not found", detail=INVALID_PAGE, dataset=record)
        q = Query({**raw, "a": str(a), "b": str(b)}, keys=("a", "b", "change", "page"))
        return self._html(request, "diff.html", {
            "dataset": record, "a": a, "b": b, "view": view, "q": q, "change": change, "changes": CHANGES,
            "versions": [c.version for c in commits],
            "api_a": f"/api/datasets/{record.id}/datapoints/?version={a}",
            "api_b": f"/api/datasets/{record.id}/datapoints/?version={b}",
        })

    async def login(self, request: Request) -> Response:
        """``/ui/login``: GET shows the form; POST (the server's one non-GET) checks the token."""
        if request.method == "OPTIONS":
            return Response(status_code=200, headers={"Allow": "GET, HEAD, OPTIONS, POST"})
        if request.method in ("GET", "HEAD"):
            next_path = session.safe_next(request.query_params.get("next"))
            if not self.token:
                return RedirectResponse(next_path, status_code=303)
            return self._html(request, "login.html", {"next": next_path, "problem": None})
        if request.method != "POST":
            return self.error(request, 405, "Method not allowed", detail=f'Method "{request.method}" not allowed.',
                              headers={"Allow": "GET, HEAD, OPTIONS, POST"})
        if not session.same_origin(request):
            return self.error(request, 403, "Forbidden",
                              detail="The login form was posted from another site (Origin check failed).")
        form = await session.read_form(request)
        if form is None:
            return self.error(request, 400, "Bad request",
                              detail="Send the login form as application/x-www-form-urlencoded.")
        next_path = session.safe_next(form.get("next"))
        if not self.token:
            return RedirectResponse(next_path, status_code=303)
        given = form.get("token", "")
        if not session.token_matches(given, self.token):
            return self._html(request, "login.html", {"next": next_path, "problem": "Invalid token."}, 401,
                              LOGIN_CHALLENGE)
        return session.login_response(request, self.token, next_path)

    async def logout(self, request: Request) -> Response:
        """``/ui/logout``: clear the session cookie."""
        if request.method not in ("GET", "HEAD"):
            return self.error(request, 405, "Method not allowed", detail=f'Method "{request.method}" not allowed.',
                              headers={"Allow": ALLOW})
        return session.logout_response(request)

    async def not_found(self, request: Request) -> Response:
        """Any other path under ``/ui/``: an HTML 404."""
        guard = self.guard(request)
        if guard is not None:
            return guard
        return self.error(request, 404, "Not found", detail=NOT_FOUND)

    async def ui_root(self, request: Request) -> Response:
        return RedirectResponse("/", status_code=308)

"""The Starlette application: routes, authentication and JSON-only errors."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from ..lake import Lake
from ..schema import DEFAULT_PAGE_SIZE
from . import responses as r
from .auth import BearerAuth
from .cors import CORS
from .export import ExportView
from .limits import LimitedHttpToolsProtocol, Limits, RequestLimits
from .openapi import build_spec
from .redact import install_access_log_redaction
from .ui import ui_routes
from .views import Views

log = logging.getLogger("overmind_lake.server")

#: Environment variable carrying the configuration to worker processes.
CONFIG_ENV = "OVERMIND_LAKE_SERVER_CONFIG"


class Endpoint:
    """An ASGI endpoint that receives every method (the handler answers 405 itself,
    after authentication, as the check order requires)."""

    def __init__(self, func: Callable[[Request], Response | Awaitable[Response]]):
        self.app = request_response(func)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _static(name: str, body: Response) -> Endpoint:
    async def handler(request: Request) -> Response:
        guard = r.method_guard(request, name, "")
        return guard if guard is not None else body
    return Endpoint(handler)


async def _not_found(request: Request, exc: Exception) -> Response:
    return r.detail(r.NOT_FOUND, 404)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return r.detail(str(exc.detail), exc.status_code, exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %r", request.method, request.url.path, exc)
    return r.detail(r.SERVER_ERROR, 500)


def create_app(lake_or_root: Lake | str | os.PathLike[str] | None = None, *, page_size: int = DEFAULT_PAGE_SIZE,
               token: str | None = None, proxy_headers: bool = False,
               storage_options: dict[str, Any] | None = None, warm_up: bool = True,
               cors: Iterable[str] = (), limits: Limits = Limits()) -> Starlette:
    """The read-only ASGI app over a Lake (or a lake root). ``token`` turns on bearer auth.

    ``cors``: the origins allowed to read from a browser (none by default);
    ``limits``: request size and time limits (docs/security.md).

    With ``warm_up``, startup reads one small page (``Lake.warm_up``) before
    the first request is accepted, so that request does not pay the process's
    one-time costs; a failure there is logged, never fatal.
    """
    lake = lake_or_root if isinstance(lake_or_root, Lake) else Lake(lake_or_root, storage_options)
    views = Views(lake, page_size=page_size, token=token, proxy_headers=proxy_headers)
    cors = tuple(cors)
    spec = build_spec(page_size=page_size, token=bool(token), cors=bool(cors))
    openapi = r.json_response(orjson.dumps(spec))
    viewer, viewer_routes = ui_routes(lake, token=token, page_size=page_size, spec=spec)

    async def healthz(request: Request) -> Response:
        guard = r.method_guard(request, "Health", "")
        return guard if guard is not None else r.json_response({"status": "ok"})

    routes = [
        Route("/api/datasets/", Endpoint(views.dataset_list)),
        Route("/api/datasets/{id}/", Endpoint(views.dataset_detail)),
        Route("/api/datasets/{id}/datapoints/", Endpoint(views.datapoints)),
        Route("/api/datasets/{id}/export/", Endpoint(ExportView(views))),
        Route("/healthz", Endpoint(healthz)),
        Route("/openapi.json", _static("OpenAPI", openapi)),
        *viewer_routes,  # the HTML viewer at / and under /ui/, and /docs (docs/viewer.md)
    ]
    middleware = [Middleware(RequestLimits, limits=limits)]
    if cors:
        middleware.append(Middleware(CORS, origins=cors))
    if token:
        middleware.append(Middleware(BearerAuth, token=token))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        install_access_log_redaction()
        if warm_up:
            try:
                await anyio.to_thread.run_sync(lake.warm_up)
            except Exception as exc:  # noqa: BLE001 - a cold first request beats no server
                log.warning("warm-up failed: %r", exc)
        yield

    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={404: _not_found, HTTPException: _http_error, Exception: _server_error},
    )
    app.router.redirect_slashes = False
    app.state.views = views
    app.state.viewer = viewer
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn worker processes: configuration from $OVERMIND_LAKE_SERVER_CONFIG."""
    config = json.loads(os.environ.get(CONFIG_ENV, "{}"))
    limits = Limits(**config.get("limits", {}))
    LimitedHttpToolsProtocol.limits = limits
    return create_app(config.get("root"), page_size=config.get("page_size", DEFAULT_PAGE_SIZE),
                      token=config.get("token"), proxy_headers=bool(config.get("proxy_headers")),
                      storage_options=config.get("storage_options"), cors=config.get("cors") or (),
                      limits=limits)

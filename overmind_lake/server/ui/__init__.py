"""The dataset viewer: HTML pages for people at ``/`` and under ``/ui/``
(docs/viewer.md). The JSON API is untouched; these routes are added beside it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from ...lake import Lake
from .docs import ASSETS_URL, docs_endpoint, swagger_ui_path
from .pages import STATIC, Viewer

__all__ = ["Viewer", "ui_routes", "is_ui_path"]


def is_ui_path(path: str) -> bool:
    """Paths the viewer answers (it checks its own session cookie)."""
    return path == "/" or path == "/ui" or path.startswith("/ui/")


class _AnyMethod:
    """An endpoint that receives every method (the page answers 405 itself, as HTML)."""

    def __init__(self, func: Callable[[Request], Awaitable[Response]]):
        self.app = request_response(func)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def ui_routes(lake: Lake, *, token: str | None, page_size: int, spec: dict[str, Any]) -> tuple[Viewer, list[BaseRoute]]:
    """The viewer and its routes: pages, login, static files, ``/docs`` and ``/ui/docs``."""
    viewer = Viewer(lake, token=token, page_size=page_size)
    routes: list[BaseRoute] = [
        Route("/", _AnyMethod(viewer.home)),
        Route("/ui", _AnyMethod(viewer.ui_root)),
        Route("/ui/", _AnyMethod(viewer.home)),
        Route("/ui/datasets/{id}/", _AnyMethod(viewer.dataset)),
        Route("/ui/datasets/{id}/diff/", _AnyMethod(viewer.diff)),
        Route("/ui/login", _AnyMethod(viewer.login)),
        Route("/ui/logout", _AnyMethod(viewer.logout)),
        Route("/ui/docs", _AnyMethod(docs_endpoint(viewer, spec, cookie=True))),
        Route("/docs", _AnyMethod(docs_endpoint(viewer, spec, cookie=False))),
        Mount("/ui/static/viewer", StaticFiles(directory=STATIC)),
    ]
    assets = swagger_ui_path()
    if assets is not None:
        routes.append(Mount(ASSETS_URL, StaticFiles(directory=assets)))
    routes.append(Route("/ui/{rest:path}", _AnyMethod(viewer.not_found)))
    return viewer, routes

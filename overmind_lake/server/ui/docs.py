"""``/docs``: the OpenAPI document rendered by Swagger UI (docs/viewer.md).

Swagger UI's files ship in the ``openapi-ui-bundles`` package (a base
dependency: 3.5 MB installed, under 1 % of the base install) and are served
from its package directory under ``/ui/static/swagger-ui/`` -- no CDN, the
page works offline. The document is embedded in the page, so it renders
even when the API needs a token the browser cannot send; "Authorize" takes
the token for "Try it out".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..responses import method_guard
from .pages import Viewer

#: The extra (here: the package) that provides the renderer.
PACKAGE = "openapi-ui-bundles"
ASSETS_URL = "/ui/static/swagger-ui"
#: Swagger UI evaluates no inline script of ours, but injects inline styles.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def swagger_ui_path() -> Path | None:
    """The directory of Swagger UI's files, or None when the package is missing."""
    try:
        import openapi_ui_bundles.swagger_ui as bundle
    except ImportError:
        return None
    return Path(bundle.static_path)


def docs_endpoint(viewer: Viewer, spec: dict[str, Any], *, cookie: bool):
    """The handler of the docs page; ``cookie``: gated by the viewer's login (``/ui/docs``)."""

    async def docs(request: Request) -> Response:
        if cookie:
            guard = viewer.guard(request)
        else:
            guard = method_guard(request, "Docs", "")
        if guard is not None:
            return guard
        headers = {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff"}
        if swagger_ui_path() is None:
            body = viewer._render(request, "docs_missing.html", {"package": PACKAGE})
            return HTMLResponse(body, 503, headers=headers)
        body = viewer._render(request, "docs.html", {"spec": spec, "assets": ASSETS_URL})
        return HTMLResponse(body, headers=headers)

    return docs

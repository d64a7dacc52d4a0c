"""The read-only HTTP server of docs/http.md (Starlette on uvicorn).

``create_app`` builds the ASGI app over a lake; ``serve`` runs it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..schema import DEFAULT_PAGE_SIZE
from .app import CONFIG_ENV, create_app

__all__ = ["create_app", "serve"]

TOKEN_ENV = "OVERMIND_LAKE_TOKEN"


def serve(root: str | os.PathLike[str] | None = None, host: str = "127.0.0.1", port: int = 8000,
          page_size: int = DEFAULT_PAGE_SIZE, token: str | None = None, proxy_headers: bool = False,
          workers: int = 1, storage_options: dict[str, Any] | None = None, access_log: bool = True) -> None:
    """Serve the lake at ``root`` until interrupted.

    ``token`` (default ``$OVERMIND_LAKE_TOKEN``; empty means none) requires
    ``Authorization: Bearer <token>`` on every request but ``/healthz``.
    ``proxy_headers`` honours X-Forwarded-Proto / X-Forwarded-Host in links.
    ``workers`` > 1 runs that many processes, each building its app from
    the environment.
    """
    import uvicorn

    if token is None:
        token = os.environ.get(TOKEN_ENV)
    token = token or None
    # uvicorn's own proxy-header handling is off: X-Forwarded-* are the app's
    # business, and only with proxy_headers.
    options: dict[str, Any] = dict(host=host, port=port, proxy_headers=False, server_header=False,
                                   access_log=access_log, log_level="info")
    if workers > 1:
        os.environ[CONFIG_ENV] = json.dumps({
            "root": os.fspath(root) if root is not None else None, "page_size": page_size, "token": token,
            "proxy_headers": proxy_headers, "storage_options": storage_options,
        })
        uvicorn.run("overmind_lake.server.app:app_from_env", factory=True, workers=workers, **options)
        return
    app = create_app(root, page_size=page_size, token=token, proxy_headers=proxy_headers,
                     storage_options=storage_options)
    uvicorn.run(app, **options)
